/**
 * Regression tests for the failures of the seed deployment (../shared/seeds/): each test
 * names the seed failure it guards against. intent_bridge and apply_layer run on the
 * real runner against real Redis, with market rules from the shipped exchangeInfo
 * snapshot (Binance USD-M, 2025-10-30).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encode, fieldsFromArray } from '../src/contract/messages.js';
import type { Names } from '../src/contract/names.js';
import { DEFAULT_POLICY, policyToHash, type Policy } from '../src/contract/state.js';
import type { MarketRules } from '../src/engine/exchange/types.js';
import { StageRunner } from '../src/engine/runtime/stage-runner.js';
import type { ConsumerStage } from '../src/engine/runtime/types.js';
import { normaliseAction } from '../src/engine/stages/actions.js';
import { createApplyLayer } from '../src/engine/stages/apply-layer.js';
import { decideBridge } from '../src/engine/stages/bridge-decide.js';
import { createIntentBridge } from '../src/engine/stages/intent-bridge.js';
import { PolicyCache } from '../src/engine/state/policy.js';
import { createLogger } from '../src/log.js';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

type Filter = Record<string, string>;
const info = JSON.parse(readFileSync(new URL('../data/binance-usdm-exchangeInfo.2025-10-30.json', import.meta.url), 'utf8')) as {
  symbols: { symbol: string; pricePrecision: number; quantityPrecision: number; filters: Filter[] }[];
};
function rulesOf(symbol: string): MarketRules | undefined {
  const s = info.symbols.find((x) => x.symbol === symbol);
  if (!s) return undefined;
  const f = (t: string) => s.filters.find((x) => x.filterType === t) ?? {};
  const n = (v: string | undefined) => Number(v ?? 0);
  return {
    symbol, tickSize: n(f('PRICE_FILTER').tickSize), minPrice: n(f('PRICE_FILTER').minPrice), maxPrice: n(f('PRICE_FILTER').maxPrice),
    stepSize: n(f('LOT_SIZE').stepSize), minQty: n(f('LOT_SIZE').minQty), maxQty: n(f('LOT_SIZE').maxQty),
    marketStepSize: n(f('MARKET_LOT_SIZE').stepSize), marketMinQty: n(f('MARKET_LOT_SIZE').minQty), marketMaxQty: n(f('MARKET_LOT_SIZE').maxQty),
    minNotional: n(f('MIN_NOTIONAL').notional), maxLeverage: 125, pricePrecision: s.pricePrecision, quantityPrecision: s.quantityPrecision,
  };
}

const POLICY: Policy = { ...DEFAULT_POLICY, allowlist: ['BTCUSDT', 'ETHUSDT', 'ALGOUSDT'], max_open_positions: 10, max_position_usd: 500, max_leverage: 10, allow_upsize: true };

let redis: Redis;
let names: Names;
const runners: StageRunner[] = [];
beforeEach(() => {
  redis = testRedis();
  names = testNames(uniquePrefix('seed'));
});
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});
afterAll(closeAll);

async function run(stage: ConsumerStage<any, any>): Promise<StageRunner> {
  const r = new StageRunner(stage, {
    redisUrl: testRedisUrl(), names, writer: redis, caps: { streamMaxLen: 10000, toolStreamMaxLen: 10000 },
    batchSize: 50, blockMs: 50, reclaimIdleMs: 60000, reclaimEveryMs: 60000, maxDeliveries: 3, heartbeatMs: 60000,
    mode: 'PAPER', log: createLogger({ level: 'silent' }),
  });
  runners.push(r);
  await r.start();
  return r;
}
/** intent_bridge and apply_layer on one prefix, the policy and prices in Redis. */
async function pipeline(policy: Policy = POLICY) {
  await redis.hset(names.policy(), policyToHash(policy));
  for (const [s, p] of [['BTCUSDT', 71000], ['ETHUSDT', 3900], ['ALGOUSDT', 0.1863]] as const) {
    await redis.hset(names.price(s), { price: String(p), mark: String(p), ts: String(Date.now()), source: 'test' });
  }
  const bridge = await run(createIntentBridge({ names, rules: rulesOf, policy: new PolicyCache(names, policy) }));
  const apply = await run(createApplyLayer({ names, policy: new PolicyCache(names, policy) }));
  return { bridge, apply };
}
let seq = 0;
function intent(fields: Record<string, string>) {
  const base = { intent_id: `in-${++seq}`, ts: String(Date.now()), intent_type: 'AUTONOMOUS_ENTRY', symbol: 'BTCUSDT', action: 'BUY', source: 'autonomous_trader' };
  return redis.xadd(names.stream('trade.intent'), '*', ...Object.entries({ ...base, ...fields }).flat());
}
async function read(stream: 'apply.plan' | 'apply.approved' | 'stage.rejected' | 'dead.letter') {
  const raw = (await redis.xrange(names.stream(stream), '-', '+')) as [string, string[]][];
  return raw.map(([, f]) => fieldsFromArray(f));
}
const handled = (r: StageRunner, n: number) => waitFor(() => r.totals.in >= n, 10000, `${n} handled by ${r.stage.name}`);

describe('seed regressions', () => {
  it('Bug #11: a position_usd intent and a legacy qty intent both become correct approved plans', async () => {
    const { bridge, apply } = await pipeline();
    await intent({ position_usd: '300.0', leverage: '2.0', tp_pct: '2.0', sl_pct: '1.0' }); // the seeds' autonomous_trader fields
    await intent({ symbol: 'ETHUSDT', qty: '0.05', price: '3900', leverage: '5' }); // the legacy form
    await handled(bridge, 2);
    await handled(apply, 2);
    expect(bridge.totals.rejected).toBe(0);
    const approved = await read('apply.approved');
    expect(approved.map((a) => [a.symbol, a.qty, a.leverage, a.action, a.side])).toEqual([
      ['BTCUSDT', '0.008', '2', 'OPEN', 'BUY'],
      ['ETHUSDT', '0.05', '5', 'OPEN', 'BUY'],
    ]);
    expect(approved[0]).toMatchObject({ sl_price: '70290', tp_price: '72420' });
    expect(approved.every((a) => a.permit_id)).toBe(true);
  });

  it('Bug #12: quantity is margin × leverage ÷ price (300 USD × 2 at 71000 → 0.008 BTC, not 0.0007)', () => {
    const d = decideBridge({
      intent: { intent_id: 'i', ts: 1, intent_type: 'AUTONOMOUS_ENTRY', symbol: 'BTCUSDT', action: 'BUY', source: 's', position_usd: 300, leverage: 2 },
      policy: POLICY, rules: rulesOf('BTCUSDT'), price: { price: 71000, mark: 71000, ts: 1, source: 't' }, position: undefined, now: 1, planId: 'p',
    });
    expect(d.ok && d.plan.qty).toBe(0.008);
    expect(d.ok && d.plan.notional).toBeGreaterThanOrEqual(100);
  });

  async function bookkeeping(real: number): Promise<void> {
    for (let i = 0; i < 10; i++) await redis.hset(names.ledger(`L${i}USDT`), { realized_pnl: '0', trades: '1' });
    for (let i = 0; i < 46; i++) await redis.hset(names.snapshot(`N${i}USDT`), { qty: i % 2 ? '0' : '2', side: 'LONG' });
    for (let i = 0; i < real; i++) await redis.hset(names.position(`R${i}USDT`), { side: 'LONG', qty: '1', entry_price: '10', leverage: '1' });
  }

  it('47/10: 10 ledger + 46 snapshot keys + 3 real positions with limit 10 → entries pass', async () => {
    await bookkeeping(3);
    const { apply } = await pipeline();
    await intent({ position_usd: '100', leverage: '2' });
    await handled(apply, 1);
    expect(apply.totals.out).toBe(1);
    expect(await read('stage.rejected')).toEqual([]);
  });

  it('47/10: 10 real positions with limit 10 → entries rejected position_limit_reached with the numbers', async () => {
    await bookkeeping(10);
    const { apply } = await pipeline();
    await intent({ position_usd: '100', leverage: '2' });
    await handled(apply, 1);
    const [rej] = await read('stage.rejected');
    expect(rej).toMatchObject({ stage: 'apply_layer', reason: 'position_limit_reached', symbol: 'BTCUSDT', detail: 'open 10 >= limit 10' });
  });

  it('PARTIAL_25 variants: legacy spellings normalise, unknown variants are action_unknown_variant', async () => {
    for (const s of ['PARTIAL_25', 'partial_25', 'PARTIAL25', 'partial-25', 'P25', 'PARTIAL_CLOSE_25', 'Partial 25']) {
      expect(normaliseAction(s), s).toMatchObject({ ok: true, action: 'PARTIAL_25', kind: 'exit', fraction: 0.25 });
    }
    for (const s of ['FULL_CLOSE', 'CLOSE_ALL', 'close']) expect(normaliseAction(s), s).toMatchObject({ ok: true, action: 'CLOSE', fraction: 1 });
    expect(normaliseAction('PARTIAL_33')).toMatchObject({ ok: false, reason: 'action_unknown_variant' });

    await redis.hset(names.position('BTCUSDT'), { side: 'LONG', qty: '0.1', entry_price: '70000', leverage: '2' });
    const { bridge, apply } = await pipeline();
    await intent({ intent_type: 'HARVEST', action: 'partial_25', reduceOnly: 'true', source: 'harvest_brain' });
    await intent({ intent_type: 'HARVEST', action: 'PARTIAL_33', reduceOnly: 'true', source: 'harvest_brain' });
    await handled(bridge, 2);
    await handled(apply, 1);
    const [approved] = await read('apply.approved');
    expect(approved).toMatchObject({ action: 'PARTIAL', side: 'SELL', qty: '0.025', reduceOnly: 'true' });
    const [rej] = await read('stage.rejected');
    expect(rej).toMatchObject({ stage: 'intent_bridge', reason: 'action_unknown_variant' });
    expect(rej.detail).toContain('"PARTIAL_33"');
  });

  it('min notional: upsized when allow_upsize is on, rejected with the numbers when off', async () => {
    const on = decideBridge({
      intent: { intent_id: 'i', ts: 1, intent_type: 'MANUAL', symbol: 'BTCUSDT', action: 'BUY', source: 's', qty: 0.001, leverage: 2 },
      policy: POLICY, rules: rulesOf('BTCUSDT'), price: { price: 70610, mark: 70610, ts: 1, source: 't' }, position: undefined, now: 1, planId: 'p',
    });
    // At the mark, with one step to spare (issue 17): (0.003 − 0.001) × 70610 = 141.22 ≥ 100.
    expect(on.ok && [on.plan.qty, on.plan.notional]).toEqual([0.003, 211.83]);

    const { bridge } = await pipeline({ ...POLICY, allow_upsize: false });
    await redis.hset(names.price('BTCUSDT'), { price: '70610', mark: '70610', ts: String(Date.now()) });
    await intent({ intent_type: 'MANUAL', qty: '0.001', leverage: '2' });
    await handled(bridge, 1);
    const [rej] = await read('stage.rejected');
    expect(rej).toMatchObject({ reason: 'below_min_notional', detail: 'notional 70.61 < min 100.00' });
  });

  it('a reduce-only close below min notional still becomes an approved plan', async () => {
    await redis.hset(names.position('BTCUSDT'), { side: 'LONG', qty: '0.001', entry_price: '70000', leverage: '2' });
    const { apply } = await pipeline();
    await intent({ intent_type: 'HARVEST', action: 'CLOSE', reduceOnly: 'true', source: 'harvest_brain' });
    await handled(apply, 1);
    const [approved] = await read('apply.approved');
    expect(approved).toMatchObject({ action: 'CLOSE', side: 'SELL', qty: '0.001', notional: '71', reduceOnly: 'true' });
  });

  it('kill switch rejects entries and passes exits', async () => {
    await redis.set(names.killSwitch(), 'daily loss limit reached');
    await redis.hset(names.position('ETHUSDT'), { side: 'SHORT', qty: '0.5', entry_price: '4000', leverage: '3' });
    const { apply } = await pipeline();
    await intent({ position_usd: '100', leverage: '2' });
    await intent({ symbol: 'ETHUSDT', intent_type: 'HARVEST', action: 'FULL_CLOSE', reduceOnly: 'true' });
    await handled(apply, 2);
    expect((await read('stage.rejected')).map((r) => [r.reason, r.symbol])).toEqual([['kill_switch', 'BTCUSDT']]);
    expect((await read('apply.approved')).map((a) => [a.symbol, a.action, a.side, a.qty])).toEqual([['ETHUSDT', 'CLOSE', 'BUY', '0.5']]);
  });

  it('a plan delivered twice is approved once and then rejected as duplicate', async () => {
    const { apply } = await pipeline();
    await intent({ position_usd: '100', leverage: '2' });
    await handled(apply, 1);
    const [plan] = await read('apply.plan');
    await redis.xadd(names.stream('apply.plan'), '*', ...Object.entries(plan).flat());
    await handled(apply, 2);
    expect(apply.totals.out).toBe(1);
    expect((await read('stage.rejected'))[0]).toMatchObject({ reason: 'duplicate', ref_id: plan.plan_id });
  });

  it('an exit for a symbol without a position is rejected as no_position', async () => {
    const { bridge } = await pipeline();
    await intent({ symbol: 'ALGOUSDT', intent_type: 'HARVEST', action: 'CLOSE', reduceOnly: 'true' });
    await handled(bridge, 1);
    expect((await read('stage.rejected'))[0]).toMatchObject({ reason: 'no_position', detail: 'no open position for ALGOUSDT' });
  });

  it('malformed intents (missing symbol, ts not a number) become dead letters and the next good intent is processed', async () => {
    const { bridge, apply } = await pipeline();
    const good = encode('trade.intent', { intent_id: 'x', ts: Date.now(), intent_type: 'AUTONOMOUS_ENTRY', symbol: 'BTCUSDT', action: 'BUY', source: 's', position_usd: 100, leverage: 2 });
    const { symbol: _drop, ...noSymbol } = good;
    await redis.xadd(names.stream('trade.intent'), '*', ...Object.entries({ ...noSymbol, intent_id: 'bad-1' }).flat());
    await redis.xadd(names.stream('trade.intent'), '*', ...Object.entries({ ...good, intent_id: 'bad-2', ts: 'yesterday' }).flat());
    await redis.xadd(names.stream('trade.intent'), '*', ...Object.entries({ ...good, intent_id: 'good-1' }).flat());
    await handled(bridge, 3);
    await handled(apply, 1);
    const dead = await read('dead.letter');
    expect(dead.map((d) => JSON.parse(d.payload).intent_id)).toEqual(['bad-1', 'bad-2']);
    expect(dead[0].error).toMatch(/symbol/);
    expect(dead[1].error).toMatch(/ts/);
    expect((await read('apply.approved')).map((a) => a.intent_id)).toEqual(['good-1']);
  });
});
