/**
 * Issue 14 §1 and §2, as decisions and in-process stages on the real test Redis: every
 * stage that could open risk refuses work older than the policy's entry_max_age_ms with
 * `intent_expired` (detail: age and limit in ms); exits never expire but an old one is
 * re-checked against the position as it is now; groups are created at 0 and by producers,
 * so nothing written before a consumer's first start is skipped.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decode, encode, fieldsFromArray, type ApplyApproved, type ApplyPlan, type Signal, type TradeIntent } from '../src/contract/messages.js';
import type { Names } from '../src/contract/names.js';
import { DEFAULT_POLICY, policyToHash, type Policy, type PositionState } from '../src/contract/state.js';
import { PaperExchange } from '../src/engine/exchange/paper.js';
import type { MarketRules } from '../src/engine/exchange/types.js';
import { StageRunner } from '../src/engine/runtime/stage-runner.js';
import { ensureGroups, groupsFor } from '../src/engine/runtime/topology.js';
import type { AnyStage } from '../src/engine/runtime/types.js';
import { entryExpiry, originOf, staleExitCheck } from '../src/engine/stages/age-gate.js';
import { decideBridge, type BridgeInput } from '../src/engine/stages/bridge-decide.js';
import { runGates, type ApplyView } from '../src/engine/stages/gates.js';
import { createIntentBridge } from '../src/engine/stages/intent-bridge.js';
import { createIntentExecutor } from '../src/engine/stages/intent-executor.js';
import { clientOrderIdFor } from '../src/engine/stages/executor-position.js';
import { decideEntry } from '../src/engine/stages/trader-decide.js';
import { PolicyCache, validatePolicyPatch } from '../src/engine/state/policy.js';
import { silentLogger } from '../src/log.js';
import { closeAll, metricSums, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

const HOUR = 3_600_000;
const NOW = 1_760_000_000_000;
const LIMIT = DEFAULT_POLICY.entry_max_age_ms;
const POLICY: Policy = { ...DEFAULT_POLICY, allowlist: ['BTCUSDT'], max_position_usd: 500, max_leverage: 10, allow_upsize: false };
// Binance USD-M snapshot 2025-10-30: BTCUSDT MARKET_LOT_SIZE step 0.001 min 0.001, MIN_NOTIONAL 100.
const BTC: MarketRules = {
  symbol: 'BTCUSDT', tickSize: 0.1, minPrice: 556.8, maxPrice: 4529764, stepSize: 0.001, minQty: 0.001, maxQty: 1000,
  marketStepSize: 0.001, marketMinQty: 0.001, marketMaxQty: 120, minNotional: 100, maxLeverage: 125, pricePrecision: 2, quantityPrecision: 3,
};
const AGE_RE = /age (\d+) ms > limit (\d+) ms/;

function position(over: Partial<PositionState> = {}): PositionState {
  return { symbol: 'BTCUSDT', side: 'LONG', qty: 0.1, entry_price: 70000, leverage: 5, sl_price: 0, tp_price: 0, initial_risk_usd: 0, opened_at: NOW - 10 * HOUR, updated_at: 0, plan_id: 'p0', ...over };
}
function intent(over: Partial<TradeIntent> = {}): TradeIntent {
  return { intent_id: 'old-1', ts: NOW - HOUR, intent_type: 'AUTONOMOUS_ENTRY', symbol: 'BTCUSDT', action: 'BUY', source: 't', position_usd: 300, leverage: 2, ...over };
}
function bridgeInput(i: Partial<TradeIntent>, over: Partial<BridgeInput> = {}): BridgeInput {
  return { intent: intent(i), policy: POLICY, rules: BTC, price: { price: 71000, mark: 71000, ts: NOW - 100, source: 't' }, position: undefined, now: NOW, planId: 'pl-1', ...over };
}
function plan(over: Partial<ApplyPlan> = {}): ApplyPlan {
  return {
    plan_id: 'pl-1', intent_id: 'in-1', ts: NOW, intent_ts: NOW - HOUR, symbol: 'BTCUSDT', action: 'OPEN', side: 'BUY', qty: 0.008, price: 71000, notional: 568,
    leverage: 2, sl_price: 0, tp_price: 0, reduceOnly: false, source: 'test', margin_usd: 284, ...over,
  };
}
const view = (over: Partial<ApplyView> = {}): ApplyView => ({ now: NOW, policy: POLICY, killSwitch: null, permits: new Map(), positions: new Map(), pending: [], ...over });

describe('entry expiry, as decisions', () => {
  it('an entry older than entry_max_age_ms is intent_expired, and the detail names the age and the limit in ms', () => {
    expect(entryExpiry('entry intent a', NOW - LIMIT, NOW, LIMIT)).toBeNull();
    const r = entryExpiry('entry intent old-1', NOW - HOUR, NOW, LIMIT)!;
    expect(r.reason).toBe('intent_expired');
    expect(AGE_RE.exec(r.detail)?.slice(1)).toEqual([String(HOUR), String(LIMIT)]);
    expect(r.detail).toContain('old-1');
  });

  it('a limit of 0 turns the gate off, and a ts in the future is age 0', () => {
    expect(entryExpiry('x', NOW - 3 * 24 * HOUR, NOW, 0)).toBeNull();
    expect(entryExpiry('x', NOW + HOUR, NOW, LIMIT)).toBeNull();
  });

  it('the age runs from origin_ts, else the intent ts, else the message ts', () => {
    expect(originOf({ ts: 3, intent_ts: 2, origin_ts: 1 })).toBe(1);
    expect(originOf({ ts: 3, intent_ts: 2 })).toBe(2);
    expect(originOf({ ts: 3 })).toBe(3);
  });

  it('the default limit is 60 s, settable by qt policy set within 1 s .. 7 days', () => {
    expect(DEFAULT_POLICY.entry_max_age_ms).toBe(60_000);
    expect(validatePolicyPatch({ entry_max_age_ms: '30000' })).toEqual({ ok: true, patch: { entry_max_age_ms: '30000' } });
    const bad = validatePolicyPatch({ entry_max_age_ms: '10' });
    expect(bad.ok).toBe(false);
  });

  it('the trader refuses a signal older than the limit and stamps a fresh one as the intent origin', () => {
    const sig: Signal = { signal_id: 's-1', ts: NOW - HOUR, symbol: 'BTCUSDT', side: 'BUY', confidence: 0.9, price: 70000, models: '{}', model_version: 't' };
    const input = { policy: POLICY, position: null, sentInBatch: false, rlState: {}, settings: { minPositionUsd: 50, tpPct: 2, slPct: 1, cooldownMs: 60000 }, now: NOW };
    const old = decideEntry({ ...input, signal: sig });
    expect(old).toMatchObject({ kind: 'reject', reason: 'intent_expired' });
    const fresh = decideEntry({ ...input, signal: { ...sig, ts: NOW - 2000 } });
    expect(fresh.kind).toBe('intent');
    if (fresh.kind === 'intent') {
      expect(fresh.intent.ts).toBe(NOW);
      expect(fresh.intent.origin_ts).toBe(NOW - 2000);
    }
  });

  it('the bridge refuses an hour-old and a three-day-old entry intent, and carries the origin of a fresh one into the plan', () => {
    for (const age of [HOUR, 3 * 24 * HOUR]) {
      const r = decideBridge(bridgeInput({ ts: NOW - age }));
      expect(r).toMatchObject({ ok: false, reason: 'intent_expired' });
      if (!r.ok) expect(Number(AGE_RE.exec(r.detail)?.[1])).toBe(age);
    }
    const ok = decideBridge(bridgeInput({ ts: NOW - 1000 }));
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.plan).toMatchObject({ intent_ts: NOW - 1000, origin_ts: NOW - 1000 });
    // an intent that carries the signal's time is as old as the signal
    expect(decideBridge(bridgeInput({ ts: NOW - 1000, origin_ts: NOW - 2 * LIMIT }))).toMatchObject({ ok: false, reason: 'intent_expired' });
  });

  it('exits never expire: an old exit of the open position is planned against the position as it is now', () => {
    const r = decideBridge(bridgeInput({ action: 'PARTIAL_50', reduceOnly: true, ts: NOW - 3 * 24 * HOUR, position_usd: undefined, leverage: undefined }, { position: position({ opened_at: NOW - 4 * 24 * HOUR, qty: 0.01 }) }));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.plan).toMatchObject({ action: 'PARTIAL', side: 'SELL', qty: 0.005, reduceOnly: true });
  });

  it('an old exit written before the open position was opened was meant for an earlier one: no_position', () => {
    const r = decideBridge(bridgeInput({ action: 'CLOSE', reduceOnly: true, ts: NOW - HOUR, position_usd: undefined, leverage: undefined }, { position: position({ opened_at: NOW - 60_000 }) }));
    expect(r).toMatchObject({ ok: false, reason: 'no_position' });
    if (!r.ok) expect(r.detail).toContain('predates the open BTCUSDT position');
    // a fresh exit is not judged by when the position opened
    expect(staleExitCheck('x', 'BTCUSDT', 'SELL', NOW - 1000, NOW, LIMIT, position({ opened_at: NOW }))).toBeNull();
    expect(staleExitCheck('x', 'BTCUSDT', 'SELL', NOW - HOUR, NOW, LIMIT, undefined)).toMatchObject({ reason: 'no_position' });
    expect(staleExitCheck('x', 'BTCUSDT', 'BUY', NOW - HOUR, NOW, LIMIT, position())).toMatchObject({ reason: 'no_position' });
  });

  it('the apply layer refuses an entry plan whose intent is older than the limit (gate not_expired), and lets an old exit through capped', () => {
    const r = runGates(plan(), view());
    expect(r).toMatchObject({ ok: false, reason: 'intent_expired', gate: 'not_expired' });
    expect(runGates(plan({ intent_ts: NOW - 1000 }), view()).ok).toBe(true);
    const exit = runGates(plan({ action: 'CLOSE', side: 'SELL', reduceOnly: true, qty: 1 }), view({ positions: new Map([['BTCUSDT', position()]]) }));
    expect(exit).toMatchObject({ ok: true, capped: 'qty 1 capped at open 0.1' });
    const before = runGates(plan({ action: 'CLOSE', side: 'SELL', reduceOnly: true }), view({ positions: new Map([['BTCUSDT', position({ opened_at: NOW - 1000 })]]) }));
    expect(before).toMatchObject({ ok: false, reason: 'no_position', gate: 'stale_exit_fits_position' });
  });
});

describe('consumer groups of the topology', () => {
  it('a producer creates the pipeline group of the stream it writes; optional readers are left to themselves', () => {
    expect(groupsFor('ai_engine')).toEqual([{ group: 'autonomous_trader', stream: 'ai.signal_generated' }]);
    expect(groupsFor('autonomous_trader', 'ai.signal_generated')).toEqual([
      { group: 'autonomous_trader', stream: 'ai.signal_generated' }, { group: 'intent_bridge', stream: 'trade.intent' },
    ]);
    expect(groupsFor('harvest_brain')).toEqual([{ group: 'intent_bridge', stream: 'trade.intent' }]);
    // apply.result's reader (rl_agent) is optional in the contract: only rl_agent creates it
    expect(groupsFor('intent_executor', 'apply.approved')).toEqual([{ group: 'intent_executor', stream: 'apply.approved' }]);
  });

  it('creates a new group at 0 and never moves an existing one', async () => {
    const r = testRedis();
    const names = testNames(uniquePrefix('topo'));
    await r.xadd(names.stream('trade.intent'), '*', 'a', '1');
    expect(await ensureGroups(r, names, [{ group: 'intent_bridge', stream: 'trade.intent' }])).toEqual(['trade.intent/intent_bridge']);
    expect(await ensureGroups(r, names, [{ group: 'intent_bridge', stream: 'trade.intent' }])).toEqual([]);
    const info = (await r.xinfo('GROUPS', names.stream('trade.intent'))) as unknown[][];
    const g = fieldsFromArray(info[0]!.map(String));
    expect(g['last-delivered-id']).toBe('0-0');
    expect(g.lag).toBe('1');
  });
});

// ---- in-process stages on the real test Redis ----
const redis = testRedis();
const runners: StageRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});
afterAll(closeAll);

async function run(stage: AnyStage, names: Names): Promise<StageRunner> {
  const r = new StageRunner(stage, {
    redisUrl: testRedisUrl(), names, writer: redis, caps: { streamMaxLen: 10000, toolStreamMaxLen: 10000 },
    batchSize: 20, blockMs: 100, reclaimIdleMs: 60000, reclaimEveryMs: 60000, maxDeliveries: 5, heartbeatMs: 60000,
    mode: 'PAPER', log: silentLogger, consumerName: 'test:1',
  });
  runners.push(r);
  await r.start();
  return r;
}
async function rows(names: Names, stream: 'stage.rejected' | 'apply.result' | 'apply.plan'): Promise<Record<string, string>[]> {
  return ((await redis.xrange(names.stream(stream), '-', '+')) as [string, string[]][]).map(([, f]) => fieldsFromArray(f));
}
function approved(over: Partial<ApplyApproved> = {}): ApplyApproved {
  const now = Date.now();
  return {
    plan_id: `pl-${Math.random().toString(36).slice(2)}`, intent_id: 'in-x', ts: now, intent_ts: now - 50, symbol: 'BTCUSDT', action: 'OPEN', side: 'BUY',
    qty: 0.002, price: 60000, notional: 120, leverage: 10, sl_price: 0, tp_price: 0, reduceOnly: false, source: 'test', permit_id: 'pm-1', ...over,
  };
}
const approve = (names: Names, p: ApplyApproved) => redis.xadd(names.stream('apply.approved'), '*', ...Object.entries(encode('apply.approved', p)).flat());

describe('intent_executor: the last gate before the exchange', () => {
  it('refuses an approval whose intent is older than the limit: intent_expired, announced not executed, no order sent', async () => {
    const names = testNames(uniquePrefix('stale-ex'));
    const paper = new PaperExchange({ redis, names, balance: 10000, slippageBps: 0, takerFee: 0.0004 });
    await redis.hset(names.price('BTCUSDT'), { price: '60000', mark: '60000', ts: String(Date.now()), source: 'test' });
    const r = await run(createIntentExecutor({ exchange: paper, names, mode: 'PAPER', settlePollMs: 10 }), names);
    const old = approved({ intent_ts: Date.now() - HOUR });
    const fresh = approved();
    await approve(names, old);
    await approve(names, fresh);
    await waitFor(() => r.totals.in >= 2, 15000, 'two approvals handled');
    const results = await rows(names, 'apply.result');
    const byPlan = new Map(results.map((x) => [x.plan_id, x]));
    expect(byPlan.get(old.plan_id)).toMatchObject({ executed: 'false', reason: 'intent_expired' });
    expect(Number(AGE_RE.exec(byPlan.get(old.plan_id)!.detail ?? '')?.[2])).toBe(LIMIT);
    expect(byPlan.get(fresh.plan_id)).toMatchObject({ executed: 'true' });
    const log = await redis.lrange(names.paperOrderLog(), 0, -1);
    expect(log).toEqual([clientOrderIdFor(fresh.plan_id)]);
    expect(await redis.hget(names.order(clientOrderIdFor(old.plan_id)), 'status')).toBe('REJECTED');
    expect((await metricSums(redis, names, 'intent_executor'))['rej:intent_expired']).toBe(1);
  });

  it('re-checks an old exit against the position now: one meant for an earlier position is no_position, one for this position closes it', async () => {
    const names = testNames(uniquePrefix('stale-exit'));
    const paper = new PaperExchange({ redis, names, balance: 10000, slippageBps: 0, takerFee: 0.0004 });
    await redis.hset(names.price('BTCUSDT'), { price: '60000', mark: '60000', ts: String(Date.now()), source: 'test' });
    const r = await run(createIntentExecutor({ exchange: paper, names, mode: 'PAPER', settlePollMs: 10 }), names);
    await approve(names, approved());
    await waitFor(async () => Number(await redis.hget(names.position('BTCUSDT'), 'qty')) > 0, 15000, 'the position opened');
    // an exit written two hours ago, before this position was opened (a minute ago)
    const before = approved({ action: 'CLOSE', side: 'SELL', reduceOnly: true, intent_ts: Date.now() - 2 * HOUR });
    await approve(names, before);
    await waitFor(() => r.totals.in >= 2, 15000, 'the old exit handled');
    expect((await rows(names, 'apply.result')).find((x) => x.plan_id === before.plan_id)).toMatchObject({ executed: 'false', reason: 'no_position' });
    expect(Number(await redis.hget(names.position('BTCUSDT'), 'qty'))).toBeCloseTo(0.002, 9);
    // the same old exit for a position that was open when it was written: it runs, capped at the open qty
    await redis.hset(names.position('BTCUSDT'), 'opened_at', String(Date.now() - 3 * HOUR));
    const mine = approved({ action: 'CLOSE', side: 'SELL', reduceOnly: true, qty: 0.005, intent_ts: Date.now() - 2 * HOUR });
    await approve(names, mine);
    await waitFor(() => r.totals.in >= 3, 15000, 'the second old exit handled');
    expect((await rows(names, 'apply.result')).find((x) => x.plan_id === mine.plan_id)).toMatchObject({ executed: 'true', filled_qty: '0.002' });
    expect(await redis.exists(names.position('BTCUSDT'))).toBe(0);
    expect(await redis.lrange(names.paperOrderLog(), 0, -1)).toHaveLength(2);
  });
});

describe('first start: work written before a consumer started is delivered', () => {
  it('five intents written before any group exists are all planned or rejected when the bridge starts for the first time', async () => {
    const names = testNames(uniquePrefix('first'));
    await redis.hset(names.policy(), policyToHash({ ...POLICY, version: '7' }));
    await redis.hset(names.price('BTCUSDT'), { price: '71000', mark: '71000', ts: String(Date.now() + 60_000), source: 'test' });
    const now = Date.now();
    const five: TradeIntent[] = [
      intent({ intent_id: 'i-1', ts: now }),
      intent({ intent_id: 'i-2', ts: now, position_usd: 100 }),
      intent({ intent_id: 'i-3', ts: now - HOUR }),
      intent({ intent_id: 'i-4', ts: now - 3 * 24 * HOUR }),
      intent({ intent_id: 'i-5', ts: now, action: 'CLOSE', reduceOnly: true, position_usd: undefined, leverage: undefined }),
    ];
    for (const i of five) await redis.xadd(names.stream('trade.intent'), '*', ...Object.entries(encode('trade.intent', i as never)).flat());
    expect(await redis.exists(names.stream('apply.plan'))).toBe(0);
    const r = await run(createIntentBridge({ names, rules: (s) => (s === 'BTCUSDT' ? BTC : undefined), policy: new PolicyCache(names, POLICY) }), names);
    await waitFor(() => r.totals.in >= 5, 15000, 'five intents handled');
    const plans = (await rows(names, 'apply.plan')).map((p) => p.intent_id).sort();
    const rej = new Map((await rows(names, 'stage.rejected')).map((x) => [x.ref_id, x.reason]));
    expect(plans).toEqual(['i-1', 'i-2']);
    expect(Object.fromEntries(rej)).toEqual({ 'i-3': 'intent_expired', 'i-4': 'intent_expired', 'i-5': 'no_position' });
    // the bridge, a producer of apply.plan, created apply_layer's group at 0 before its first plan
    const info = (await redis.xinfo('GROUPS', names.stream('apply.plan'))) as unknown[][];
    const g = fieldsFromArray(info[0]!.map(String));
    expect(g).toMatchObject({ name: 'apply_layer', lag: '2' });
    const d = decode('apply.plan', fieldsFromArray(((await redis.xrange(names.stream('apply.plan'), '-', '+')) as [string, string[]][])[0]![1]));
    expect(d.ok && d.value.origin_ts).toBe(now);
  });
});

describe('a group that vanished while its stage runs', () => {
  it('is recreated after the newest entry the stage committed: entries written meanwhile are delivered, none handled twice', async () => {
    const names = testNames(uniquePrefix('nogroup'));
    const seen: string[] = [];
    const stage: AnyStage = { name: 'intent_bridge', input: 'trade.intent', handle: (d) => (seen.push(d.message.intent_id), { kind: 'ok' }) };
    const fields = (id: string) => Object.entries(encode('trade.intent', intent({ intent_id: id, ts: Date.now() }) as never)).flat();
    const add = (id: string) => redis.xadd(names.stream('trade.intent'), '*', ...fields(id));
    const r = await run(stage, names);
    await add('a');
    await add('b');
    await waitFor(() => r.totals.in >= 2, 15000, 'a and b handled');
    // the group is lost (as after a Redis restart without persistence), then c and d arrive
    // (one transaction: c and d exist before the stage can notice; a group recreated at `$` would skip them)
    await redis.multi().xgroup('DESTROY', names.stream('trade.intent'), 'intent_bridge')
      .xadd(names.stream('trade.intent'), '*', ...fields('c')).xadd(names.stream('trade.intent'), '*', ...fields('d')).exec();
    await waitFor(() => r.totals.in >= 4, 15000, 'c and d handled after the group was recreated');
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
  });
});
