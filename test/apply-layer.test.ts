import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decode, encode, fieldsFromArray, type ApplyPlan } from '../src/contract/messages.js';
import type { Names } from '../src/contract/names.js';
import { DEFAULT_POLICY, policyToHash, type Policy, type PositionState } from '../src/contract/state.js';
import { StageRunner } from '../src/engine/runtime/stage-runner.js';
import { createApplyLayer } from '../src/engine/stages/apply-layer.js';
import { approvalOf, capExit, runGates, type ApplyView } from '../src/engine/stages/gates.js';
import { PolicyCache } from '../src/engine/state/policy.js';
import { OpenPositionCache, scanOpenPositions } from '../src/engine/state/positions.js';
import { createLogger } from '../src/log.js';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

const NOW = 1_760_000_000_000;
const POLICY: Policy = { ...DEFAULT_POLICY, allowlist: ['BTCUSDT'], max_open_positions: 10, max_symbol_exposure_usd: 5000, max_total_exposure_usd: 20000 };

function plan(over: Partial<ApplyPlan> = {}): ApplyPlan {
  return {
    plan_id: 'pl-1', intent_id: 'in-1', ts: NOW, symbol: 'BTCUSDT', action: 'OPEN', side: 'BUY', qty: 0.008, price: 71000, notional: 568,
    leverage: 2, sl_price: 70290, tp_price: 72420, reduceOnly: false, source: 'test', margin_usd: 284, ...over,
  };
}
function pos(symbol: string, over: Partial<PositionState> = {}): PositionState {
  return { symbol, side: 'LONG', qty: 1, entry_price: 100, leverage: 2, sl_price: 0, tp_price: 0, initial_risk_usd: 0, opened_at: 0, updated_at: 0, plan_id: 'p', ...over };
}
function view(over: Partial<ApplyView> = {}): ApplyView {
  return { now: NOW, policy: POLICY, killSwitch: null, permits: new Map(), positions: new Map(), pending: [], ...over };
}
const nPositions = (n: number) => new Map(Array.from({ length: n }, (_, i) => [`S${i}USDT`, pos(`S${i}USDT`)]));

describe('apply_layer gates', () => {
  it('apply layer never approves an exit of 0: nothing left to close is no_position', () => {
    const exit = plan({ action: 'CLOSE', side: 'SELL', reduceOnly: true, qty: 0.5 });
    const v = view({ positions: new Map([['BTCUSDT', pos('BTCUSDT', { qty: 0.5 })]]) });
    v.pending.push(approvalOf(exit, v)); // an exit of the whole position already approved
    expect(capExit(plan({ plan_id: 'pl-2', action: 'CLOSE', side: 'SELL', reduceOnly: true, qty: 0.5 }), v)).toMatchObject({ ok: false, reason: 'no_position' });
    expect(capExit(exit, view())).toMatchObject({ ok: false, reason: 'no_position' });
    expect(capExit(exit, view({ positions: new Map([['BTCUSDT', pos('BTCUSDT', { qty: 0.2 })]]) }))).toMatchObject({ ok: true, plan: { qty: 0.2, action: 'CLOSE' } });
  });

  it('apply layer approves an entry that passes every gate', () => {
    expect(runGates(plan(), view())).toEqual({ ok: true, plan: plan() });
  });

  it('apply layer rejects entries at the position limit with the numbers', () => {
    expect(runGates(plan(), view({ positions: nPositions(10) }))).toMatchObject({ ok: false, reason: 'position_limit_reached', detail: 'open 10 >= limit 10', gate: 'position_limit' });
    expect(runGates(plan(), view({ positions: nPositions(9) })).ok).toBe(true);
  });

  it('apply layer counts approvals already made for new symbols toward the limit', () => {
    const v = view({ positions: nPositions(8) });
    for (const sym of ['AUSDT', 'BUSDT']) {
      const p = plan({ plan_id: sym, symbol: sym });
      const d = runGates(p, v);
      expect(d.ok).toBe(true);
      v.pending.push(approvalOf(p, v));
    }
    expect(runGates(plan({ plan_id: 'c', symbol: 'CUSDT' }), v)).toMatchObject({ reason: 'position_limit_reached', detail: 'open 10 >= limit 10 (8 positions + 2 approved, not yet filled)' });
    expect(runGates(plan({ plan_id: 'a2', symbol: 'AUSDT' }), v).ok).toBe(true); // same symbol again: the count does not grow
  });

  it('apply layer lets an entry add to an open position at the limit', () => {
    const positions = nPositions(10);
    positions.set('BTCUSDT', pos('BTCUSDT', { qty: 0.01, entry_price: 70000 }));
    positions.delete('S0USDT');
    expect(runGates(plan(), view({ positions })).ok).toBe(true);
  });

  it('apply layer rejects entries while the kill switch is on and still passes exits', () => {
    const positions = new Map([['BTCUSDT', pos('BTCUSDT', { qty: 0.01, entry_price: 70000 })]]);
    const v = view({ killSwitch: 'daily loss 512.30 > limit 500.00', positions });
    expect(runGates(plan(), v)).toMatchObject({ ok: false, reason: 'kill_switch', detail: 'kill switch on: daily loss 512.30 > limit 500.00; entries blocked, exits allowed' });
    expect(runGates(plan({ action: 'CLOSE', side: 'SELL', qty: 0.01, reduceOnly: true }), v).ok).toBe(true);
  });

  it('apply layer rejects a plan that already holds a permit as duplicate', () => {
    expect(runGates(plan(), view({ permits: new Map([['pl-1', 'pm-9']]) }))).toMatchObject({ reason: 'duplicate', detail: 'plan pl-1 already approved (permit pm-9)' });
  });

  it('apply layer rejects an exit for a symbol with no position as no_position', () => {
    expect(runGates(plan({ action: 'CLOSE', side: 'SELL', reduceOnly: true }), view())).toMatchObject({ reason: 'no_position', detail: 'no open position for BTCUSDT' });
    const positions = new Map([['BTCUSDT', pos('BTCUSDT', { side: 'SHORT', qty: 0.01 })]]);
    expect(runGates(plan({ action: 'CLOSE', side: 'SELL', reduceOnly: true }), view({ positions }))).toMatchObject({ reason: 'no_position' });
  });

  it('apply layer caps an exit quantity at the open quantity', () => {
    const positions = new Map([['BTCUSDT', pos('BTCUSDT', { qty: 0.005, entry_price: 70000 })]]);
    const d = runGates(plan({ action: 'PARTIAL', side: 'SELL', qty: 0.008, reduceOnly: true }), view({ positions }));
    expect(d).toMatchObject({ ok: true, plan: { qty: 0.005, action: 'CLOSE', notional: 355 }, capped: 'qty 0.008 capped at open 0.005' });
  });

  it('apply layer does not approve two exits for more than the open quantity', () => {
    const positions = new Map([['BTCUSDT', pos('BTCUSDT', { qty: 0.01, entry_price: 70000 })]]);
    const v = view({ positions });
    const first = runGates(plan({ plan_id: 'x1', action: 'CLOSE', side: 'SELL', qty: 0.01, reduceOnly: true }), v);
    if (!first.ok) throw new Error('first exit rejected');
    v.pending.push(approvalOf(first.plan, v));
    expect(runGates(plan({ plan_id: 'x2', action: 'CLOSE', side: 'SELL', qty: 0.01, reduceOnly: true }), v)).toMatchObject({ reason: 'exit_in_flight' });
  });

  it('apply layer rejects an action inconsistent with reduceOnly', () => {
    expect(runGates(plan({ reduceOnly: true }), view())).toMatchObject({ reason: 'action_unknown_variant', detail: 'action OPEN with reduceOnly=true: an entry is never reduce-only' });
    expect(runGates(plan({ action: 'PARTIAL', reduceOnly: false }), view())).toMatchObject({ reason: 'action_unknown_variant' });
  });

  it('apply layer rejects per-symbol and total exposure over policy with the numbers', () => {
    const positions = new Map([['BTCUSDT', pos('BTCUSDT', { qty: 0.07, entry_price: 70000 })]]); // 4900
    expect(runGates(plan(), view({ positions }))).toMatchObject({
      reason: 'exposure_limit', detail: 'BTCUSDT notional 5468.00 > max_symbol_exposure_usd 5000.00 (open 4900.00 + plan 568.00)',
    });
    const many = new Map(Array.from({ length: 4 }, (_, i) => [`S${i}USDT`, pos(`S${i}USDT`, { qty: 50, entry_price: 100 })])); // 4 × 5000
    expect(runGates(plan(), view({ positions: many }))).toMatchObject({
      reason: 'exposure_limit', detail: 'total notional 20568.00 > max_total_exposure_usd 20000.00 (open 20000.00 + plan 568.00)',
    });
  });

  it('apply layer rejects an entry against an open position of the other side', () => {
    const positions = new Map([['BTCUSDT', pos('BTCUSDT', { side: 'LONG', qty: 0.01 })]]);
    expect(runGates(plan({ side: 'SELL' }), view({ positions }))).toMatchObject({ reason: 'opposite_position' });
  });

  it('apply layer re-checks leverage and margin against the current policy', () => {
    expect(runGates(plan({ leverage: 20 }), view())).toMatchObject({ reason: 'leverage_exceeds_max', detail: 'leverage 20 > max 10 (policy)' });
    expect(runGates(plan({ margin_usd: 600 }), view())).toMatchObject({ reason: 'exposure_limit', detail: 'margin 600.00 > max_position_usd 500.00' });
  });
});

// --- against real Redis, with the real runner ---------------------------------------------

const runners: StageRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});
afterAll(closeAll);

async function startApply(redis: Redis, names: Names, policy: Policy): Promise<StageRunner> {
  await redis.hset(names.policy(), policyToHash(policy));
  const stage = createApplyLayer({ names, policy: new PolicyCache(names, policy) });
  const r = new StageRunner(stage, {
    redisUrl: testRedisUrl(), names, writer: redis, caps: { streamMaxLen: 10000, toolStreamMaxLen: 10000 },
    batchSize: 50, blockMs: 50, reclaimIdleMs: 60000, reclaimEveryMs: 60000, maxDeliveries: 3, heartbeatMs: 60000,
    mode: 'PAPER', log: createLogger({ level: 'silent' }),
  });
  runners.push(r);
  await r.start();
  return r;
}
/** Writes a plan made now (a plan with the fixed NOW of the pure tests would be expired). */
const addPlan = (redis: Redis, names: Names, p: ApplyPlan) =>
  redis.xadd(names.stream('apply.plan'), '*', ...Object.entries(encode('apply.plan', { ...p, ts: p.ts === NOW ? Date.now() : p.ts })).flat());
async function read(redis: Redis, names: Names, stream: 'apply.approved' | 'stage.rejected') {
  const raw = (await redis.xrange(names.stream(stream), '-', '+')) as [string, string[]][];
  return raw.map(([, f]) => fieldsFromArray(f));
}
const settled = (r: StageRunner, n: number) => waitFor(() => r.totals.in >= n, 10000, `${n} plans handled`);

describe('open-position cache', () => {
  it('hands a batch the last scan at once and refreshes it in the background; waits only for one far too old', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('scan'));
    await redis.hset(names.position('AUSDT'), { symbol: 'AUSDT', side: 'LONG', qty: '1', entry_price: '10' });
    const cache = new OpenPositionCache(names, 1000);
    const t0 = 1_000_000;
    expect([...(await cache.get(redis, t0)).positions.keys()]).toEqual(['AUSDT']);
    await redis.hset(names.position('BUSDT'), { symbol: 'BUSDT', side: 'LONG', qty: '1', entry_price: '10' });
    // within the period: the same scan
    expect((await cache.get(redis, t0 + 500)).positions.size).toBe(1);
    // past it: still the last scan, right away, while a new one runs
    expect((await cache.get(redis, t0 + 1500)).positions.size).toBe(1);
    await waitFor(async () => (await cache.get(redis, t0 + 1600)).positions.size === 2, 3000, 'the background refresh');
    // ten periods without a refresh: the batch waits for a fresh scan
    await redis.hset(names.position('CUSDT'), { symbol: 'CUSDT', side: 'LONG', qty: '1', entry_price: '10' });
    expect((await cache.get(redis, t0 + 1500 + 10_000)).positions.size).toBe(3);
  });
});

describe('apply_layer stage', () => {
  it('apply layer does not count snapshot or ledger keys as positions', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('apply'));
    for (let i = 0; i < 10; i++) await redis.hset(names.ledger(`L${i}USDT`), { realized_pnl: '1', trades: '2' });
    for (let i = 0; i < 46; i++) await redis.hset(names.snapshot(`N${i}USDT`), { qty: i % 2 ? '0' : '1.5', side: 'LONG' });
    for (let i = 0; i < 3; i++) await redis.hset(names.position(`R${i}USDT`), { symbol: `R${i}USDT`, side: 'LONG', qty: '1', entry_price: '10' });
    const scan = await scanOpenPositions(redis, names);
    expect(scan.positions.size).toBe(3);
    expect(scan.keys).toEqual({ position: 3, ledger: 10, snapshot: 46, other: 0 });
    const r = await startApply(redis, names, POLICY);
    await addPlan(redis, names, plan());
    await settled(r, 1);
    expect(r.totals.out).toBe(1);
  });

  it('apply layer approves with a permit id and a permit key that lives a day', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('apply'));
    const r = await startApply(redis, names, POLICY);
    await addPlan(redis, names, plan({ plan_id: 'pl-77' }));
    await settled(r, 1);
    const [approved] = await read(redis, names, 'apply.approved');
    const d = decode('apply.approved', approved);
    expect(d.ok).toBe(true);
    expect(approved).toMatchObject({ plan_id: 'pl-77', qty: '0.008', side: 'BUY', action: 'OPEN' });
    expect(await redis.get(names.permit('pl-77'))).toBe(approved.permit_id);
    const ttl = await redis.ttl(names.permit('pl-77'));
    expect(ttl).toBeGreaterThan(86000);
    expect(ttl).toBeLessThanOrEqual(86400);
  });

  it('apply layer rejects the same plan twice, in one batch and across batches', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('apply'));
    await redis.xgroup('CREATE', names.stream('apply.plan'), 'apply_layer', '$', 'MKSTREAM');
    await addPlan(redis, names, plan({ plan_id: 'pl-d' }));
    await addPlan(redis, names, plan({ plan_id: 'pl-d' })); // same batch
    const r = await startApply(redis, names, POLICY);
    await settled(r, 2);
    await addPlan(redis, names, plan({ plan_id: 'pl-d' })); // later batch: from the permit key
    await settled(r, 3);
    expect(r.totals.out).toBe(1);
    expect(r.totals.reasons).toEqual({ duplicate: 2 });
  });

  it('apply layer counts approvals of its own batch toward the open-position limit', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('apply'));
    for (let i = 0; i < 8; i++) await redis.hset(names.position(`R${i}USDT`), { side: 'LONG', qty: '1', entry_price: '10' });
    await redis.xgroup('CREATE', names.stream('apply.plan'), 'apply_layer', '$', 'MKSTREAM');
    for (const s of ['AUSDT', 'BUSDT', 'CUSDT']) await addPlan(redis, names, plan({ plan_id: `pl-${s}`, symbol: s }));
    const r = await startApply(redis, names, POLICY);
    await settled(r, 3);
    expect(r.totals.out).toBe(2);
    const [rej] = await read(redis, names, 'stage.rejected');
    expect(rej).toMatchObject({ reason: 'position_limit_reached', symbol: 'CUSDT', ref_id: 'pl-CUSDT', detail: 'open 10 >= limit 10 (8 positions + 2 approved, not yet filled)' });
  });

  it('apply layer reads the kill switch from Redis: entries rejected, exits approved', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('apply'));
    await redis.set(names.killSwitch(), 'operator: maintenance');
    await redis.hset(names.position('BTCUSDT'), { side: 'LONG', qty: '0.01', entry_price: '70000', leverage: '2' });
    const r = await startApply(redis, names, POLICY);
    await addPlan(redis, names, plan({ plan_id: 'e1' }));
    await addPlan(redis, names, plan({ plan_id: 'x1', action: 'CLOSE', side: 'SELL', qty: 0.01, reduceOnly: true }));
    await settled(r, 2);
    const [rej] = await read(redis, names, 'stage.rejected');
    expect(rej).toMatchObject({ reason: 'kill_switch', ref_id: 'e1' });
    expect(rej.detail).toContain('operator: maintenance');
    const approved = await read(redis, names, 'apply.approved');
    expect(approved.map((a) => a.plan_id)).toEqual(['x1']);
  });

  it('apply layer dead-letters a malformed plan and keeps approving', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('apply'));
    const r = await startApply(redis, names, POLICY);
    const bad = { ...encode('apply.plan', plan({ plan_id: 'bad' })), qty: 'lots' };
    await redis.xadd(names.stream('apply.plan'), '*', ...Object.entries(bad).flat());
    await addPlan(redis, names, plan({ plan_id: 'good' }));
    await settled(r, 2);
    expect(r.totals.dead).toBe(1);
    expect((await read(redis, names, 'apply.approved')).map((a) => a.plan_id)).toEqual(['good']);
  });
});
