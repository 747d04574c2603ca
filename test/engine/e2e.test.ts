/**
 * The engine end to end on the paper exchange: signals to fills, and the accounting
 * that nothing is lost: for every consuming stage in = out + rejected + dead.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { decode, fieldsFromArray } from '../../src/contract/messages.js';
import { STAGE_INPUT, type Names } from '../../src/contract/names.js';
import { runDaemon } from '../../src/engine/daemon.js';
import type { Redis } from 'ioredis';
import { closeAll, metricSums, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

afterAll(closeAll);

async function entries(r: Redis, key: string): Promise<Record<string, string>[]> {
  const e = (await r.xrange(key, '-', '+')) as [string, string[]][];
  return e.map(([, f]) => fieldsFromArray(f));
}


describe('engine on the paper exchange', () => {
  it('trades by itself: signals become fills, positions and ledgers, and every stage accounts for its input', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('e2e');
    const config = loadConfig({
      env: {
        REDIS_URL: testRedisUrl(),
        QT_PREFIX: prefix,
        QT_MARKET_TICK_MS: '100',
        QT_SIGNAL_INTERVAL_MS: '300',
        QT_TRADER_COOLDOWN_MS: '500',
        QT_HEARTBEAT_MS: '500',
        QT_BLOCK_MS: '200',
        QT_LOG_LEVEL: 'silent',
      },
    });
    const names = config.names;
    let release!: () => void;
    const until = new Promise<void>((res) => (release = res));
    const daemon = runDaemon(config, { until, quietSummary: true, stages: 'market,ai_engine,autonomous_trader,intent_bridge,apply_layer,intent_executor' });
    try {
      await waitFor(async () => {
        const res = await entries(r, names.stream('apply.result'));
        return res.filter((x) => x.executed === 'true').length >= 5;
      }, 60000, 'five executed orders');
    } finally {
      release();
      expect(await daemon).toBe(0);
    }

    // Nothing unaccounted: for every consuming stage, in = out + rejected + dead.
    for (const stage of ['autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor']) {
      const m = await metricSums(r, names, stage);
      expect(m.in ?? 0, `${stage} in`).toBeGreaterThan(0);
      expect((m.out ?? 0) + (m.rejected ?? 0) + (m.dead ?? 0), `${stage} in = out + rejected + dead`).toBe(m.in);
      // and every entry of its input stream was acknowledged
      const input = STAGE_INPUT[stage as keyof typeof STAGE_INPUT]!;
      const pend = (await r.xpending(names.stream(input), stage)) as [number];
      expect(Number(pend[0]), `${stage} pending`).toBe(0);
    }

    // Every executed result has its fill and position change.
    const results = (await entries(r, names.stream('apply.result'))).filter((x) => x.executed === 'true');
    const fills = await entries(r, names.stream('execution.result'));
    const paperOrders = await r.lrange(names.paperOrderLog(), 0, -1);
    expect(new Set(paperOrders).size).toBe(paperOrders.length);
    for (const res of results) {
      expect(decode('apply.result', res).ok).toBe(true);
      const fill = fills.find((f) => f.client_order_id === res.client_order_id);
      expect(fill, `fill for ${res.client_order_id}`).toBeDefined();
      expect(Number(fill!.qty)).toBeCloseTo(Number(res.filled_qty), 9);
      expect(paperOrders).toContain(res.client_order_id);
    }
    let trades = 0;
    for (const sym of config.symbols) trades += Number((await r.hget(names.ledger(sym), 'trades')) ?? 0);
    expect(trades).toBe(results.length);
    // Open positions are real: qty > 0 with the contract's fields.
    let cursor = '0';
    const posKeys: string[] = [];
    do {
      const [next, batch] = await r.scan(cursor, 'MATCH', names.positionPattern(), 'COUNT', 1000);
      cursor = next;
      posKeys.push(...batch.filter((k) => names.classifyPositionKey(k)?.kind === 'position'));
    } while (cursor !== '0');
    expect(posKeys.length).toBeGreaterThan(0);
    for (const k of posKeys) {
      const h = await r.hgetall(k);
      expect(Number(h.qty)).toBeGreaterThan(0);
      expect(['LONG', 'SHORT']).toContain(h.side);
      expect(Number(h.entry_price)).toBeGreaterThan(0);
    }
    // Heartbeats say stopping after a clean stop, with the mode.
    const hb = await r.hgetall(names.service('intent_executor'));
    expect(hb.status).toBe('stopping');
    expect(hb.mode).toBe('PAPER');
  });
});

describe('an intent that reaches the bridge twice', () => {
  // A producer that writes an intent again after a lost XADD reply (the write happened; the
  // reply did not arrive: REDIS-STREAMS-FACTS.md, "XADD is not idempotent") delivers it twice.
  // The plan id is derived from the intent id, so the second becomes the same plan and is
  // refused `duplicate`; one order reaches the exchange.
  it('is one plan and one exchange order, the second a counted duplicate, even seconds apart', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('dup');
    const config = loadConfig({
      env: { REDIS_URL: testRedisUrl(), QT_PREFIX: prefix, QT_MARKET_TICK_MS: '100', QT_HEARTBEAT_MS: '500', QT_BLOCK_MS: '200', QT_LOG_LEVEL: 'silent' },
    });
    const names = config.names;
    let release!: () => void;
    const until = new Promise<void>((res) => (release = res));
    const daemon = runDaemon(config, { until, quietSummary: true, stages: 'market,intent_bridge,apply_layer,intent_executor' });
    const intent = { intent_id: `dup-${prefix}`, ts: String(Date.now()), intent_type: 'MANUAL', symbol: 'BTCUSDT', action: 'BUY', source: 'op', position_usd: '300', leverage: '2' };
    try {
      await waitFor(async () => (await r.hget(names.price('BTCUSDT'), 'mark')) !== null, 60000, 'a BTCUSDT mark');
      await r.xadd(names.stream('trade.intent'), '*', ...Object.entries(intent).flat());
      await waitFor(async () => (await entries(r, names.stream('apply.result'))).length >= 1, 60000, 'the first result');
      // the same intent again, after the first was executed
      await r.xadd(names.stream('trade.intent'), '*', ...Object.entries(intent).flat());
      await waitFor(async () => {
        const m = await metricSums(r, names, 'intent_executor');
        const a = await metricSums(r, names, 'apply_layer');
        return (m['rej:duplicate'] ?? 0) + (a['rej:duplicate'] ?? 0) >= 1;
      }, 60000, 'the second refused as duplicate');
    } finally {
      release();
      expect(await daemon).toBe(0);
    }
    const plans = await entries(r, names.stream('apply.plan'));
    expect(plans.length).toBe(2);
    expect(plans[0]!.plan_id).toBe(plans[1]!.plan_id);
    const orders = await r.lrange(names.paperOrderLog(), 0, -1);
    expect(orders.length).toBe(1);
    const executed = (await entries(r, names.stream('apply.result'))).filter((x) => x.executed === 'true');
    expect(executed.length).toBe(1);
    for (const stage of ['intent_bridge', 'apply_layer', 'intent_executor']) {
      const m = await metricSums(r, names, stage);
      expect((m.out ?? 0) + (m.rejected ?? 0) + (m.dead ?? 0), `${stage} in = out + rejected + dead`).toBe(m.in);
    }
  });
});
