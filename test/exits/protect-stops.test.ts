/**
 * Protective stops on the paper exchange (issue 18): Binance's Algo Order rules as modelled,
 * the executor placing a stop right after a fill, the trigger on the mark, the reconciler
 * booking a stop that fired, harvest_brain moving it (and resuming a move cut in half),
 * and a close cancelling it. Real Redis, real runners.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ExchangeError, type ConditionalOrderRequest } from '../../src/engine/exchange/types.js';
import { PaperExchange } from '../../src/engine/exchange/paper.js';
import type { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import { harvestBrain, STOP_FALLBACK_MS } from '../../src/engine/stages/harvest-brain.js';
import { reconciler } from '../../src/engine/stages/reconciler.js';
import { ensureStop, readProtect, stopClientAlgoId, type StopExchange } from '../../src/engine/protect/stops.js';
import { unprotectedReason, type StopView } from '../../src/diagnose/findings-protect.js';
import { learnTriggered } from '../../src/engine/protect/learn.js';
import { readPosition } from '../../src/contract/state.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { findingsOf } from '../../src/diagnose/findings.js';
import { DEFAULT_THRESHOLDS } from '../../src/diagnose/thresholds.js';
import { closeAll, testNames, testRedis, waitFor } from '../helpers/redis.js';
import { entries, openEntry, runnerFor, setPrice, startPipeline, stopAll, writePolicy } from './harness.js';

const r = testRedis();
let running: StageRunner[] = [];
afterEach(async () => {
  await stopAll(running);
  running = [];
});
afterAll(closeAll);

const quietLog = { info() {}, warn() {}, debug() {} };
const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (e instanceof ExchangeError ? e.code : String(e)));

async function opened(price = 50000, side: 'BUY' | 'SELL' = 'BUY') {
  const names = testNames();
  await writePolicy(r, names);
  await setPrice(r, names, 'BTCUSDT', price);
  const p = await startPipeline(r, names);
  running.push(...p.runners);
  await openEntry(r, names, 'BTCUSDT', side, 0.01, 1, price);
  const rec = await waitFor(async () => {
    const x = readProtect('BTCUSDT', await r.hgetall(names.protect('BTCUSDT')));
    return x?.status === 'ACTIVE' ? x : null;
  }, 10000, 'protective stop resting');
  return { names, exchange: p.exchange, rec };
}

describe('paper exchange: conditional orders (Binance Algo Order rules)', () => {
  it('refuses a duplicate client id (-4116), a second closePosition stop of the side (-4130), a crossed stop (-2021), an off-tick price (-4014)', async () => {
    const names = testNames();
    await setPrice(r, names, 'BTCUSDT', 50000);
    const x = new PaperExchange({ redis: r, names, balance: 1000, slippageBps: 0, takerFee: 0 });
    const a = await x.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 49500, clientAlgoId: 'qtp-a-1' });
    expect(a).toMatchObject({ status: 'NEW', closePosition: true, workingType: 'MARK_PRICE', stopPrice: 49500 });
    expect(await code(x.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 49000, clientAlgoId: 'qtp-a-1' }))).toBe(-4116);
    expect(await code(x.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 49000, clientAlgoId: 'qtp-a-2' }))).toBe(-4130);
    expect(await code(x.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'STOP_MARKET', stopPrice: 49000, clientAlgoId: 'qtp-b-1' }))).toBe(-2021);
    expect(await code(x.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'BUY', type: 'STOP_MARKET', stopPrice: 50500.05, clientAlgoId: 'qtp-b-2' }))).toBe(-4014);
    // A take profit of the same side is another type: allowed.
    expect(await code(x.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'TAKE_PROFIT_MARKET', stopPrice: 51000, clientAlgoId: 'qtp-c-1' }))).toBe('ok');
    expect((await x.fetchOpenConditionalOrders('BTCUSDT')).map((o) => o.clientAlgoId)).toEqual(['qtp-a-1', 'qtp-c-1']);
    expect((await x.cancelConditionalOrder('BTCUSDT', 'qtp-a-1'))?.status).toBe('CANCELED');
    expect((await x.cancelConditionalOrder('BTCUSDT', 'qtp-a-1'))?.status).toBe('CANCELED');
    expect(await x.cancelConditionalOrder('BTCUSDT', 'never')).toBeNull();
    expect((await x.fetchOpenConditionalOrders()).map((o) => o.clientAlgoId)).toEqual(['qtp-c-1']);
  });

  it('a stop with no position of its side expires when it fires, closing nothing', async () => {
    const names = testNames();
    await setPrice(r, names, 'BTCUSDT', 50000);
    const x = new PaperExchange({ redis: r, names, balance: 1000, slippageBps: 0, takerFee: 0 });
    await x.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 49500, clientAlgoId: 'qtp-x-1' });
    await setPrice(r, names, 'BTCUSDT', 49400);
    const fills = await x.triggerConditionalOrders();
    expect(fills.map((f) => [f.order.status, f.ack])).toEqual([['EXPIRED', null]]);
    expect(await r.xlen(names.stream('execution.result'))).toBe(0);
  });
});

describe('protective stop lifecycle on the paper pipeline', () => {
  it('rests a STOP_MARKET at the plan\'s stop right after the entry fill: one per position', async () => {
    const { names, exchange, rec } = await opened();
    const pos = readPosition('BTCUSDT', await r.hgetall(names.position('BTCUSDT')))!;
    const open = await exchange.fetchOpenConditionalOrders('BTCUSDT');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ side: 'SELL', type: 'STOP_MARKET', stopPrice: pos.sl_price, clientAlgoId: rec.client_algo_id });
    expect(rec.client_algo_id).toBe(stopClientAlgoId('BTCUSDT', `${pos.opened_at}|LONG`, 1));
    expect(rec.rest_ms).toBeGreaterThanOrEqual(0);
    expect(rec.rest_ms).toBeLessThan(5000);
  });

  it('fires on the mark: the paper position closes, the fill is on execution.result, and the reconciler books it on the engine position once', async () => {
    const { names, exchange, rec } = await opened();
    const entryPrice = Number(await r.hget(names.position('BTCUSDT'), 'entry_price'));
    await setPrice(r, names, 'BTCUSDT', rec.stop_price - 10);
    const fills = await exchange.triggerConditionalOrders();
    expect(fills).toHaveLength(1);
    expect(fills[0].ack).toMatchObject({ filledQty: 0.01, reduceOnly: true });
    expect(await exchange.triggerConditionalOrders()).toHaveLength(0);
    expect(await exchange.fetchPositions()).toEqual([]);
    const ex = (await entries(r, names, 'execution.result')).filter((e) => e.plan_id === rec.client_algo_id);
    expect(ex).toHaveLength(1);
    expect(Number(ex[0].qty)).toBe(0.01);
    // The engine still holds it until the reconciler learns the trigger.
    expect(Number(await r.hget(names.position('BTCUSDT'), 'qty'))).toBe(0.01);
    const rc = runnerFor(reconciler({ exchange, policy: 'report', everyMs: 60_000, stops: exchange }), names, r);
    await rc.start();
    running.push(rc);
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0, 10000, 'engine position closed by the reconciler');
    expect(await r.exists(names.protect('BTCUSDT'))).toBe(0);
    const pnl = Number(await r.hget(names.ledger('BTCUSDT'), 'realized_pnl'));
    expect(pnl).toBeCloseTo((Number(fills[0].ack!.avgPrice) - entryPrice) * 0.01, 6);
    expect(pnl).toBeLessThan(0);
    // Only the paper exchange's announcement: the reconciler does not announce a paper fill twice.
    expect((await entries(r, names, 'execution.result')).filter((e) => e.plan_id === rec.client_algo_id)).toHaveLength(1);
    // A pass working from a stale read (the position as it was) starts no record again…
    const d = { redis: r, names, exchange, now: Date.now, log: quietLog };
    const stale = { symbol: 'BTCUSDT', side: 'LONG' as const, qty: 0.01, entry_price: entryPrice, leverage: 5, sl_price: rec.stop_price, tp_price: 0, initial_risk_usd: 5, opened_at: rec.opened_at, updated_at: rec.opened_at, plan_id: 'x' };
    expect(await ensureStop(d, 'BTCUSDT', stale, rec.stop_price, { mode: 'all' })).toBe('none');
    expect(await r.exists(names.protect('BTCUSDT'))).toBe(0);
    // …and a record of the booked stop written again is dropped, not booked twice.
    await r.hset(names.protect('BTCUSDT'), { position_ref: rec.position_ref, side: 'LONG', status: 'TRIGGERED', client_algo_id: rec.client_algo_id, stop_price: String(rec.stop_price), seq: '1' });
    const again = await learnTriggered({ ...d, streamMaxLen: 1000, fetchOrder: (s, c) => exchange.fetchOrderByClientId(s, c) }, []);
    expect(again.booked).toEqual([]);
    expect(Number(await r.hget(names.ledger('BTCUSDT'), 'realized_pnl'))).toBeCloseTo(pnl, 9);
    expect(await r.exists(names.protect('BTCUSDT'))).toBe(0);
  });

  it('harvest_brain moves the stop with the trailing stop: one resting stop before and after, the old one cancelled', async () => {
    const { names, exchange, rec } = await opened();
    const rules = (s: string) => exchange.rules(s);
    const hb = runnerFor(harvestBrain({ rules, everyMs: 50, stops: exchange, exits: { ladder: [{ r: 1, fraction: 0.25 }], trailR: 1 } }), names, r);
    await hb.start();
    running.push(hb);
    // entry 50000, stop 49500 (1R = 500): +1R takes the ladder step, then the trail follows the best price.
    await setPrice(r, names, 'BTCUSDT', 50600);
    await waitFor(async () => Number(await r.hget(names.position('BTCUSDT'), 'qty')) === 0.008, 10000, 'ladder step');
    await setPrice(r, names, 'BTCUSDT', 51200);
    const moved = await waitFor(async () => {
      const x = readProtect('BTCUSDT', await r.hgetall(names.protect('BTCUSDT')));
      return x?.status === 'ACTIVE' && x.stop_price >= 50700 ? x : null;
    }, 10000, 'stop moved to the trail');
    expect(moved.stop_price).toBe(50700);
    expect(moved.client_algo_id).not.toBe(rec.client_algo_id);
    const open = await exchange.fetchOpenConditionalOrders('BTCUSDT');
    expect(open.map((o) => o.clientAlgoId)).toEqual([moved.client_algo_id]);
    expect((await exchange.fetchConditionalOrder('BTCUSDT', rec.client_algo_id))?.status).toBe('CANCELED');
    expect(moved.gap_ms).toBeGreaterThanOrEqual(0);
  });

  it('a move cut in half (old cancelled, new never placed) is completed by the next pass: exactly one stop', async () => {
    const { names, exchange, rec } = await opened();
    const pos = readPosition('BTCUSDT', await r.hgetall(names.position('BTCUSDT')))!;
    const next = stopClientAlgoId('BTCUSDT', rec.position_ref, rec.seq + 1);
    // What a SIGKILL between the -4130 cancel and the new placement leaves behind.
    await r.hset(names.protect('BTCUSDT'), { status: 'REPLACING', next_client_algo_id: next, next_stop_price: '49800' });
    await exchange.cancelConditionalOrder('BTCUSDT', rec.client_algo_id);
    expect(await exchange.fetchOpenConditionalOrders('BTCUSDT')).toHaveLength(0);
    const d = { redis: r, names, exchange, now: Date.now, log: quietLog };
    expect(await ensureStop(d, 'BTCUSDT', pos, 49800, { mode: 'all' })).toBe('moved');
    expect((await exchange.fetchOpenConditionalOrders('BTCUSDT')).map((o) => [o.clientAlgoId, o.stopPrice])).toEqual([[next, 49800]]);
    // Passes after it change nothing.
    expect(await ensureStop(d, 'BTCUSDT', pos, 49800, { mode: 'all' })).toBe('active');
    expect(await exchange.fetchOpenConditionalOrders('BTCUSDT')).toHaveLength(1);
  });

  it('a move cut after the new stop rests (old one still resting) ends with only the new one', async () => {
    const { names, exchange, rec } = await opened();
    const pos = readPosition('BTCUSDT', await r.hgetall(names.position('BTCUSDT')))!;
    const next = stopClientAlgoId('BTCUSDT', rec.position_ref, rec.seq + 1);
    await r.hset(names.protect('BTCUSDT'), { status: 'REPLACING', next_client_algo_id: next, next_stop_price: '49800' });
    const d = { redis: r, names, exchange, now: Date.now, log: quietLog };
    expect(await ensureStop(d, 'BTCUSDT', pos, 49800, { mode: 'all' })).toBe('moved');
    expect((await exchange.fetchOpenConditionalOrders('BTCUSDT')).map((o) => o.clientAlgoId)).toEqual([next]);
  });

  it('a close through the pipeline cancels the stop and forgets the record', async () => {
    const { names, exchange, rec } = await opened();
    await r.xadd(names.stream('trade.intent'), '*', 'intent_id', `close-${Date.now()}`, 'ts', String(Date.now()), 'intent_type', 'MANUAL', 'symbol', 'BTCUSDT',
      'action', 'CLOSE', 'source', 'test', 'reduceOnly', 'true');
    await waitFor(async () => (await r.exists(names.protect('BTCUSDT'))) === 0, 10000, 'record forgotten');
    expect(await exchange.fetchOpenConditionalOrders()).toHaveLength(0);
    expect((await exchange.fetchConditionalOrder('BTCUSDT', rec.client_algo_id))?.status).toBe('CANCELED');
  });

  it('a stop the exchange lost is re-placed under a new id', async () => {
    const { names, exchange, rec } = await opened();
    await exchange.cancelConditionalOrder('BTCUSDT', rec.client_algo_id); // e.g. the operator cancelled it on the website
    const rc = runnerFor(reconciler({ exchange, policy: 'report', everyMs: 60_000, stops: exchange }), names, r);
    await rc.start();
    running.push(rc);
    await waitFor(async () => (await r.hget(names.protect('BTCUSDT'), 'status')) === 'LOST', 10000, 'stop marked lost');
    const pos = readPosition('BTCUSDT', await r.hgetall(names.position('BTCUSDT')))!;
    const d = { redis: r, names, exchange, now: Date.now, log: quietLog };
    expect(await ensureStop(d, 'BTCUSDT', pos, pos.sl_price, { mode: 'all' })).toBe('placed');
    const open = await exchange.fetchOpenConditionalOrders('BTCUSDT');
    expect(open).toHaveLength(1);
    expect(open[0].clientAlgoId).toBe(stopClientAlgoId('BTCUSDT', rec.position_ref, 2));
  });

  it('POSITION_UNPROTECTED: none while the stop rests; crit for a stop on the wrong side of the mark, for one the exchange lost, and past the grace period with none', async () => {
    const { names, exchange, rec } = await opened();
    const unprotected = async (graceMs = 10_000, now = Date.now()) => {
      const snap = await collectSnapshot(r, names, { windowMs: 600_000, stopGraceMs: graceMs, now });
      return findingsOf(snap, DEFAULT_THRESHOLDS).filter((f) => f.code === 'POSITION_UNPROTECTED');
    };
    expect(await unprotected()).toEqual([]);
    expect((await collectSnapshot(r, names, { windowMs: 600_000 })).protect?.stops.BTCUSDT).toMatchObject({ status: 'ACTIVE', stop_price: rec.stop_price, exchange_status: 'NEW', matches: true });
    // The mark below a LONG's stop: the stop should have fired.
    await setPrice(r, names, 'BTCUSDT', rec.stop_price - 1);
    const wrong = await unprotected();
    expect(wrong).toHaveLength(1);
    expect(wrong[0].severity).toBe('crit');
    expect(wrong[0].message).toContain('wrong side of the mark');
    await setPrice(r, names, 'BTCUSDT', 50000);
    // Cancelled behind the engine's back.
    await exchange.cancelConditionalOrder('BTCUSDT', rec.client_algo_id);
    expect(await unprotected()).toEqual([]); // within the grace period: the reconciler and harvest_brain repair it
    expect((await unprotected(10_000, Date.now() + 11_000))[0].message).toContain('CANCELED on the exchange');
    // No record at all: within the grace period nothing, after it crit.
    await r.del(names.protect('BTCUSDT'));
    expect(await unprotected(60_000)).toEqual([]);
    const none = await unprotected(10_000, Date.now() + 11_000);
    expect(none[0].message).toContain('no stop resting on the exchange');
  });

  it('harvest_brain leaves a crossed stop to the exchange and closes the position itself when the stop has not fired within STOP_FALLBACK_MS', async () => {
    const { names, exchange, rec } = await opened();
    const hb = runnerFor(harvestBrain({ rules: (s) => exchange.rules(s), everyMs: 50, stops: exchange }), names, r);
    await hb.start();
    running.push(hb);
    // The mark crosses the stop, but nothing fires it (no market stage): harvest_brain waits, then closes.
    const crossed = Date.now();
    await setPrice(r, names, 'BTCUSDT', rec.stop_price - 5);
    const close = await waitFor(async () => (await entries(r, names, 'trade.intent')).find((e) => e.intent_type === 'HARVEST'), 20000, 'harvest close');
    expect(Number(close.ts) - crossed).toBeGreaterThanOrEqual(STOP_FALLBACK_MS);
    expect(close.reason).toContain('the resting stop did not fire');
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0, 10000, 'closed');
    await waitFor(async () => (await exchange.fetchOpenConditionalOrders()).length === 0, 10000, 'its stop cancelled');
  });

  it('without a reconciler, harvest_brain books a stop that fired once its crossing outlives STOP_FALLBACK_MS, and sends no close of its own', async () => {
    const { names, exchange, rec } = await opened();
    const hb = runnerFor(harvestBrain({ rules: (s) => exchange.rules(s), everyMs: 50, stops: exchange }), names, r);
    await hb.start();
    running.push(hb);
    await setPrice(r, names, 'BTCUSDT', rec.stop_price - 5);
    expect(await exchange.triggerConditionalOrders()).toHaveLength(1);
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0, 20000, 'engine position booked closed');
    expect(await r.exists(names.protect('BTCUSDT'))).toBe(0);
    expect((await entries(r, names, 'trade.intent')).filter((e) => e.intent_type === 'HARVEST')).toEqual([]);
    expect(Number(await r.hget(names.ledger('BTCUSDT'), 'realized_pnl'))).toBeLessThan(0);
  });

  it('a stop that fires while being moved is booked from the fired one, and the new one is cancelled', async () => {
    const { names, exchange, rec } = await opened();
    const pos = readPosition('BTCUSDT', await r.hgetall(names.position('BTCUSDT')))!;
    // The mark crosses the old stop and the paper exchange fires it, just before harvest_brain moves it.
    await setPrice(r, names, 'BTCUSDT', rec.stop_price - 5);
    expect(await exchange.triggerConditionalOrders()).toHaveLength(1);
    await setPrice(r, names, 'BTCUSDT', 50000);
    const d = { redis: r, names, exchange, now: Date.now, log: quietLog };
    expect(await ensureStop(d, 'BTCUSDT', pos, 49700, { mode: 'all' })).toBe('triggered');
    expect(await exchange.fetchOpenConditionalOrders()).toEqual([]);
    expect(readProtect('BTCUSDT', await r.hgetall(names.protect('BTCUSDT')))).toMatchObject({ status: 'TRIGGERED', client_algo_id: rec.client_algo_id });
    const booked = await learnTriggered({ ...d, streamMaxLen: 1000, fetchOrder: (s, c) => exchange.fetchOrderByClientId(s, c) }, []);
    expect(booked.booked.map((b) => b.clientAlgoId)).toEqual([rec.client_algo_id]);
    expect(await r.exists(names.position('BTCUSDT'))).toBe(0);
  });

  it('QT_STOP_ON_EXCHANGE=0 turns it off: the config says so and an executor without it fills with no stop', async () => {
    const { loadConfig } = await import('../../src/config/config.js');
    expect(loadConfig({ overrides: { QT_STOP_ON_EXCHANGE: '0' } }).protect.enabled).toBe(false);
    expect(loadConfig({ overrides: {} }).protect).toEqual({ enabled: true, graceMs: 10_000 });
    const { createIntentBridge } = await import('../../src/engine/stages/intent-bridge.js');
    const { createApplyLayer } = await import('../../src/engine/stages/apply-layer.js');
    const { createIntentExecutor } = await import('../../src/engine/stages/intent-executor.js');
    const { PolicyCache } = await import('../../src/engine/state/policy.js');
    const { DEFAULT_POLICY } = await import('../../src/contract/state.js');
    const names = testNames();
    await writePolicy(r, names);
    await setPrice(r, names, 'BTCUSDT', 50000);
    const exchange = new PaperExchange({ redis: r, names, balance: 100000, slippageBps: 0, takerFee: 0 });
    for (const st of [
      createIntentBridge({ names, rules: (s) => exchange.rules(s), policy: new PolicyCache(names, DEFAULT_POLICY, 100) }),
      createApplyLayer({ names, policy: new PolicyCache(names, DEFAULT_POLICY, 100), pendingTtlMs: 1000 }),
      createIntentExecutor({ exchange, names, mode: 'PAPER', protectStops: false }),
    ]) {
      const x = runnerFor(st, names, r);
      await x.start();
      running.push(x);
    }
    await openEntry(r, names, 'BTCUSDT', 'BUY', 0.01, 1, 50000);
    await waitFor(async () => Number(await r.hget(names.position('BTCUSDT'), 'qty')) === 0.01, 10000, 'filled');
    await waitFor(async () => (await r.xlen(names.stream('apply.result'))) === 1, 10000, 'result');
    // The executor's stop waits for its placements in flight: after it, whatever it would place is placed.
    await stopAll(running);
    running = [];
    expect(await r.exists(names.protect('BTCUSDT'))).toBe(0);
    expect(await exchange.fetchOpenConditionalOrders()).toEqual([]);
  });

  it('a move is gapless: at every exchange call ≥ 1 stop rests for the position, 2 only between the place and the cancel, exactly 1 after; the form alternates closePosition → quantity → closePosition', async () => {
    const { names, exchange, rec } = await opened();
    const w = watched(exchange, 'BTCUSDT');
    const d = { redis: r, names, exchange: w.x, now: Date.now, log: quietLog };
    const pos = () => r.hgetall(names.position('BTCUSDT')).then((h) => readPosition('BTCUSDT', h)!);
    expect(rec.quantity).toBe(0); // the first stop: closePosition
    for (const [i, level] of [49600, 49700, 49800].entries()) {
      w.calls.length = 0;
      expect(await ensureStop(d, 'BTCUSDT', await pos(), level, { mode: 'all' })).toBe('moved');
      // one placement (no -4130 refusal, no cancel-first), then one cancel with two resting right before it
      expect(w.calls.map((c) => c.op)).toEqual(['place', 'before-cancel', 'after-cancel']);
      expect(w.calls.map((c) => c.open.length)).toEqual([2, 2, 1]);
      expect(w.calls.every((c) => c.open.length >= 1)).toBe(true);
      const now = readProtect('BTCUSDT', await r.hgetall(names.protect('BTCUSDT')))!;
      expect(now).toMatchObject({ status: 'ACTIVE', stop_price: level, gap_ms: 0, quantity: i % 2 === 0 ? 0.01 : 0 });
      const open = await exchange.fetchOpenConditionalOrders('BTCUSDT');
      expect(open.map((o) => [o.clientAlgoId, o.stopPrice, o.closePosition, o.quantity])).toEqual([[now.client_algo_id, level, i % 2 === 1, i % 2 === 0 ? 0.01 : undefined]]);
    }
  });

  it('a partial close brings a quantity stop to the new quantity (replaced by a closePosition stop, place first), and the next move rests a quantity stop of the new quantity', async () => {
    const { names, exchange } = await opened();
    const w = watched(exchange, 'BTCUSDT');
    const d = { redis: r, names, exchange: w.x, now: Date.now, log: quietLog };
    const pos = () => r.hgetall(names.position('BTCUSDT')).then((h) => readPosition('BTCUSDT', h)!);
    expect(await ensureStop(d, 'BTCUSDT', await pos(), 49600, { mode: 'all' })).toBe('moved');
    expect((await exchange.fetchOpenConditionalOrders('BTCUSDT'))[0]).toMatchObject({ closePosition: false, quantity: 0.01 });
    // A partial close through the pipeline (0.004 of 0.01).
    await r.xadd(names.stream('trade.intent'), '*', 'intent_id', `part-${Date.now()}`, 'ts', String(Date.now()), 'intent_type', 'MANUAL', 'symbol', 'BTCUSDT',
      'action', 'SELL', 'source', 'test', 'reduceOnly', 'true', 'qty', '0.004');
    await waitFor(async () => Number(await r.hget(names.position('BTCUSDT'), 'qty')) === 0.006, 10000, 'partial close booked');
    w.calls.length = 0;
    expect(await ensureStop(d, 'BTCUSDT', await pos(), 49600, { mode: 'all' })).toBe('moved');
    expect(w.calls.map((c) => c.open.length)).toEqual([2, 2, 1]);
    let open = await exchange.fetchOpenConditionalOrders('BTCUSDT');
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ closePosition: true, stopPrice: 49600 });
    // Nothing more to do at this level…
    expect(await ensureStop(d, 'BTCUSDT', await pos(), 49600, { mode: 'all' })).toBe('active');
    // …and the next move rests a reduce-only stop of exactly the position's new quantity.
    expect(await ensureStop(d, 'BTCUSDT', await pos(), 49700, { mode: 'all' })).toBe('moved');
    open = await exchange.fetchOpenConditionalOrders('BTCUSDT');
    expect(open.map((o) => [o.stopPrice, o.closePosition, o.quantity])).toEqual([[49700, false, 0.006]]);
    // Fired, it closes the position (min(quantity, position)), nothing more.
    await setPrice(r, names, 'BTCUSDT', 49650);
    const fills = await exchange.triggerConditionalOrders();
    expect(fills.map((f) => f.ack?.filledQty)).toEqual([0.006]);
    expect(await exchange.fetchPositions()).toEqual([]);
  });

  it('paper: quantity stops are reduce-only, checked like market orders (MARKET_LOT_SIZE), and rest beside a closePosition stop (-4130 is about closePosition only)', async () => {
    const { exchange, rec } = await opened();
    const q = (over: Partial<ConditionalOrderRequest>) => exchange.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 49000, clientAlgoId: `qtp-q-${Math.random().toString(36).slice(2, 8)}`, ...over });
    expect(await code(q({ quantity: 0.0105 }))).toBe(-1111); // more decimals than quantityPrecision
    expect(await code(q({ quantity: 0 }))).toBe(-4003);
    const a = await q({ quantity: 0.02 }); // more than the position: accepted, closes at most the position
    expect(a).toMatchObject({ closePosition: false, quantity: 0.02, status: 'NEW' });
    expect(await code(q({ quantity: 0.01, stopPrice: 48000 }))).toBe('ok');
    expect(await code(q({ stopPrice: 48500 }))).toBe(-4130); // a closePosition one rests already (rec)
    expect((await exchange.fetchOpenConditionalOrders('BTCUSDT')).map((o) => o.closePosition)).toEqual([true, false, false]);
    expect(rec.client_algo_id).toBeTruthy();
  });

  it('POSITION_UNPROTECTED: a quantity stop below the position is partial protection (after the grace period); one ≥ the position protects', () => {
    const now = 1_000_000;
    const v: StopView = {
      status: 'ACTIVE', stop_price: 49000, client_algo_id: 'qtp-x-2', matches: true, exchange_status: 'NEW', exchange_updated_at: now - 60_000, placed_at: now - 60_000,
      rest_ms: 5, error: '', opened_at: now - 60_000, mark: 50000, quantity: 0.004, position_qty: 0.006, position_updated_at: now - 30_000,
    };
    expect(unprotectedReason('BTCUSDT', 'LONG', v, now, 10_000)).toMatch(/only partly protected.*0\.004 of 0\.006/);
    expect(unprotectedReason('BTCUSDT', 'LONG', { ...v, position_updated_at: now - 1000 }, now, 10_000)).toBeNull(); // within the grace period
    expect(unprotectedReason('BTCUSDT', 'LONG', { ...v, quantity: 0.006 }, now, 10_000)).toBeNull();
    expect(unprotectedReason('BTCUSDT', 'LONG', { ...v, quantity: 0.01 }, now, 10_000)).toBeNull();
    expect(unprotectedReason('BTCUSDT', 'LONG', { ...v, quantity: null }, now, 10_000)).toBeNull(); // closePosition
  });
});

/**
 * The exchange as ensureStop sees it, recording the open stops of `symbol` on the exchange itself
 * after each placement and right before and after each cancel (the instants a move could leave none).
 */
function watched(inner: PaperExchange, symbol: string): { x: StopExchange; calls: { op: string; open: string[] }[] } {
  const calls: { op: string; open: string[] }[] = [];
  const snap = async (op: string) => calls.push({ op, open: (await inner.fetchOpenConditionalOrders(symbol)).map((o) => o.clientAlgoId) });
  const x: StopExchange = {
    name: inner.name,
    rules: (s) => inner.rules(s),
    fetchConditionalOrder: (s, c) => inner.fetchConditionalOrder(s, c),
    fetchOpenConditionalOrders: (s) => inner.fetchOpenConditionalOrders(s),
    placeConditionalOrder: async (req) => {
      try {
        return await inner.placeConditionalOrder(req);
      } finally {
        await snap('place');
      }
    },
    cancelConditionalOrder: async (s, c) => {
      await snap('before-cancel');
      const out = await inner.cancelConditionalOrder(s, c);
      await snap('after-cancel');
      return out;
    },
  };
  return { x, calls };
}
