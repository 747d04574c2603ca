import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Names } from '../../src/contract/names.js';
import { PaperExchange } from '../../src/engine/exchange/paper.js';
import { ExchangeError } from '../../src/engine/exchange/types.js';
import { findDrift, planReconcile } from '../../src/engine/exits/drift.js';
import type { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import type { TickerStage } from '../../src/engine/runtime/types.js';
import { AUTH_FIX, reconciler } from '../../src/engine/stages/reconciler.js';
import { closeAll, testNames, testRedis, waitFor } from '../helpers/redis.js';
import { entries, runnerFor, setPrice, startPipeline, stopAll, writePolicy } from './harness.js';

const r = testRedis();
let running: StageRunner[] = [];
afterEach(async () => {
  await stopAll(running);
  running = [];
});
afterAll(closeAll);

/** Changes the paper exchange's position behind the engine's back. */
async function paperHolds(names: Names, sym: string, side: 'LONG' | 'SHORT', qty: number, entry: number) {
  await r.hset(names.paperPosition(sym), { side, qty: String(qty), entry_price: String(entry), leverage: '5', margin: String((qty * entry) / 5) });
}

function counted(stage: TickerStage): TickerStage & { ticks: number } {
  const s = stage as TickerStage & { ticks: number };
  const tick = stage.tick.bind(stage);
  s.ticks = 0;
  s.tick = async (ctx) => {
    s.ticks++;
    return tick(ctx);
  };
  return s;
}

async function start(names: Names, policy: 'report' | 'adopt' | 'close') {
  const exchange = new PaperExchange({ redis: r, names, balance: 100000, slippageBps: 0, takerFee: 0 });
  await exchange.start();
  const stage = counted(reconciler({ exchange, policy, everyMs: 50 }));
  const run = runnerFor(stage, names, r);
  await run.start();
  running.push(run);
  return { stage, run };
}

const svc = (names: Names) => r.hgetall(names.service('reconciler'));

describe('drift (pure)', () => {
  it('finds missing, side and quantity drift, within the step tolerance', () => {
    const pos = (symbol: string, side: 'LONG' | 'SHORT', qty: number) => ({ symbol, side, qty, entry_price: 1, leverage: 1, sl_price: 0, tp_price: 0, initial_risk_usd: 0, opened_at: 0, updated_at: 0, plan_id: '' });
    const ex = (symbol: string, side: 'LONG' | 'SHORT', qty: number) => ({ symbol, side, qty, entryPrice: 1, markPrice: 1, unrealizedPnl: 0, leverage: 1 });
    const d = findDrift([pos('A', 'LONG', 1), pos('B', 'LONG', 1), pos('C', 'LONG', 1), pos('E', 'LONG', 1)], [ex('B', 'SHORT', 1), ex('C', 'LONG', 2), ex('D', 'LONG', 1), ex('E', 'LONG', 1.0004)], () => 0.0005);
    expect(d.map((x) => `${x.symbol}:${x.kind}`)).toEqual(['A:missing_on_exchange', 'B:side_mismatch', 'C:qty_mismatch', 'D:missing_in_engine']);
    expect(planReconcile(d, 'report')).toEqual([]);
    expect(planReconcile(d, 'close').filter((a) => a.kind === 'close').map((a) => a.kind === 'close' && `${a.symbol}:${a.qty}:${a.whole}`)).toEqual(['B:1:true', 'C:1:false', 'D:1:true']);
  });
});

describe('reconciler against the paper exchange', () => {
  it('report: writes the snapshot and reports drift in its heartbeat, changing nothing', async () => {
    const names = testNames();
    await setPrice(r, names, 'BTCUSDT', 50000);
    await paperHolds(names, 'BTCUSDT', 'LONG', 0.01, 49000);
    await start(names, 'report');
    const hb = await waitFor(async () => {
      const h = await svc(names);
      return h.status === 'degraded' ? h : null;
    }, 5000, 'degraded heartbeat');
    expect(hb.detail).toContain('drift (report): BTCUSDT engine none vs exchange LONG 0.01');
    expect(await r.hgetall(names.snapshot('BTCUSDT'))).toMatchObject({ qty: '0.01', side: 'LONG', entry_price: '49000', mark_price: '50000', unrealized_pnl: '10' });
    expect(await r.exists(names.position('BTCUSDT'))).toBe(0);
    expect(await entries(r, names, 'trade.intent')).toEqual([]);

    // The exchange closes it: the snapshot is deleted (never a zero-qty ghost), drift gone.
    await r.del(names.paperPosition('BTCUSDT'));
    await waitFor(async () => (await svc(names)).status === 'running', 5000, 'in sync again');
    expect(await r.exists(names.snapshot('BTCUSDT'))).toBe(0);
  });

  it('adopt: rewrites the engine position from the exchange', async () => {
    const names = testNames();
    await setPrice(r, names, 'ETHUSDT', 3000);
    await paperHolds(names, 'ETHUSDT', 'SHORT', 0.5, 3100);
    await r.hset(names.position('ETHUSDT'), { symbol: 'ETHUSDT', side: 'SHORT', qty: '0.3', entry_price: '3100', leverage: '5', sl_price: '3200', tp_price: '0', initial_risk_usd: '30', opened_at: '7', plan_id: 'p' });
    await start(names, 'adopt');
    await waitFor(async () => (await r.hget(names.position('ETHUSDT'), 'qty')) === '0.5', 5000, 'adopted');
    expect(await r.hgetall(names.position('ETHUSDT'))).toMatchObject({ side: 'SHORT', sl_price: '3200', opened_at: '7' });
    await waitFor(async () => (await svc(names)).status === 'running', 5000, 'in sync');
  });

  it('adopt: a fill committed between the exchange read and the engine read is not reconciled away (drift must be seen twice)', async () => {
    const names = testNames();
    await setPrice(r, names, 'ETHUSDT', 3000);
    const exchange = new PaperExchange({ redis: r, names, balance: 100000, slippageBps: 0, takerFee: 0 });
    await exchange.start();
    // The first read of the exchange happens just before an order fills: it sees no position; by the
    // time the engine's positions are read, the executor has committed the fill (paper and engine).
    let reads = 0;
    const racing = Object.create(exchange) as PaperExchange;
    racing.fetchPositions = async () => {
      const before = await exchange.fetchPositions();
      if (reads++ === 0) {
        await paperHolds(names, 'ETHUSDT', 'LONG', 0.5, 3000);
        await r.hset(names.position('ETHUSDT'), { symbol: 'ETHUSDT', side: 'LONG', qty: '0.5', entry_price: '3000', leverage: '5', sl_price: '2900', tp_price: '0', initial_risk_usd: '50', opened_at: '7', plan_id: 'pl-real' });
      }
      return before;
    };
    const stage = counted(reconciler({ exchange: racing, policy: 'adopt', everyMs: 50 }));
    const run = runnerFor(stage, names, r);
    await run.start();
    running.push(run);
    await waitFor(() => stage.ticks >= 5, 5000, 'five polls');
    expect(await r.hgetall(names.position('ETHUSDT'))).toMatchObject({ qty: '0.5', plan_id: 'pl-real', sl_price: '2900', opened_at: '7' });
    await waitFor(async () => (await svc(names)).status === 'running', 5000, 'in sync');
  });

  it('close: closes a position the engine does not know through the pipeline with a RECONCILE intent', async () => {
    const names = testNames();
    await writePolicy(r, names);
    await setPrice(r, names, 'BTCUSDT', 50000);
    const p = await startPipeline(r, names);
    running.push(...p.runners);
    await paperHolds(names, 'BTCUSDT', 'LONG', 0.01, 49000);
    await start(names, 'close');
    await waitFor(async () => (await r.exists(names.paperPosition('BTCUSDT'))) === 0, 10000, 'exchange position closed');
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0, 5000, 'engine position gone');
    const intents = (await entries(r, names, 'trade.intent')).filter((i) => i.intent_type === 'RECONCILE');
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({ action: 'CLOSE', reduceOnly: 'true', source: 'reconciler', symbol: 'BTCUSDT' });
  });

  it('an auth failure (-2015) leaves it degraded with the fix, not crashed and not retrying every tick', async () => {
    const names = testNames();
    let calls = 0;
    const exchange = {
      rules: () => undefined,
      fetchPositions: async () => {
        calls++;
        throw new ExchangeError('Invalid API-key, IP, or permissions for action.', 'auth_failed', -2015, { httpStatus: 401 });
      },
    };
    const stage = counted(reconciler({ exchange, policy: 'report', everyMs: 20 }));
    const run = runnerFor(stage, names, r);
    await run.start();
    running.push(run);
    await waitFor(() => stage.ticks >= 25, 5000, '25 ticks');
    expect(calls).toBe(1);
    const hb = await waitFor(async () => {
      const h = await svc(names);
      return h.status === 'degraded' ? h : null;
    }, 5000, 'degraded heartbeat');
    expect(hb.detail).toContain('auth_failed (-2015)');
    expect(hb.detail).toContain(AUTH_FIX);
    expect(run.hb.errors).toBe(0);
  });
});
