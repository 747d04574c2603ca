import type { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decode, encode, fieldsFromArray, type TradeIntent } from '../src/contract/messages.js';
import type { Names } from '../src/contract/names.js';
import { DEFAULT_POLICY, policyToHash, type Policy, type PositionState } from '../src/contract/state.js';
import { loadMarkets } from '../src/engine/exchange/markets.js';
import type { MarketRules } from '../src/engine/exchange/types.js';
import { StageRunner } from '../src/engine/runtime/stage-runner.js';
import { normaliseAction } from '../src/engine/stages/actions.js';
import { decideBridge, type BridgeInput } from '../src/engine/stages/bridge-decide.js';
import { createIntentBridge } from '../src/engine/stages/intent-bridge.js';
import { PolicyCache } from '../src/engine/state/policy.js';
import { createLogger } from '../src/log.js';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

// Binance USD-M snapshot 2025-10-30: BTCUSDT tick 0.10, MARKET_LOT_SIZE step 0.001 min 0.001 max 120, MIN_NOTIONAL 100.
const BTC: MarketRules = {
  symbol: 'BTCUSDT', tickSize: 0.1, minPrice: 556.8, maxPrice: 4529764, stepSize: 0.001, minQty: 0.001, maxQty: 1000,
  marketStepSize: 0.001, marketMinQty: 0.001, marketMaxQty: 120, minNotional: 100, maxLeverage: 125, pricePrecision: 2, quantityPrecision: 3,
};
const NOW = 1_760_000_000_000;
const POLICY: Policy = { ...DEFAULT_POLICY, allowlist: ['BTCUSDT', 'ETHUSDT'], max_position_usd: 500, max_leverage: 10, allow_upsize: false };

function intent(over: Partial<TradeIntent> = {}): TradeIntent {
  return { intent_id: 'in-1', ts: NOW - 50, intent_type: 'AUTONOMOUS_ENTRY', symbol: 'BTCUSDT', action: 'BUY', source: 'test', ...over };
}
function position(over: Partial<PositionState> = {}): PositionState {
  return { symbol: 'BTCUSDT', side: 'LONG', qty: 0.1, entry_price: 70000, leverage: 5, sl_price: 0, tp_price: 0, initial_risk_usd: 0, opened_at: 0, updated_at: 0, plan_id: 'p0', ...over };
}
function input(i: Partial<TradeIntent>, over: Partial<BridgeInput> = {}): BridgeInput {
  return { intent: intent(i), policy: POLICY, rules: BTC, price: { price: 71000, mark: 71000, ts: NOW - 100, source: 't' }, position: undefined, now: NOW, planId: 'pl-1', ...over };
}
function rejected(x: ReturnType<typeof decideBridge>) {
  if (x.ok) throw new Error(`expected a rejection, got a plan ${JSON.stringify(x.plan)}`);
  return x;
}
function planned(x: ReturnType<typeof decideBridge>) {
  if (!x.ok) throw new Error(`expected a plan, got ${x.reason}: ${x.detail}`);
  return x.plan;
}

describe('intent_bridge decision', () => {
  it('bridge sizes by margin times leverage over price', () => {
    const p = planned(decideBridge(input({ position_usd: 300, leverage: 2 })));
    expect(p.qty).toBe(0.008); // 600 / 71000 = 0.00845 → 0.008 (never 300 / (71000 × 2) = 0.0021)
    expect(p).toMatchObject({ action: 'OPEN', side: 'BUY', leverage: 2, reduceOnly: false, price: 71000, notional: 568, margin_usd: 284 });
  });

  it('bridge rounds the quantity down to the market lot step', () => {
    expect(planned(decideBridge(input({ qty: 0.0129, leverage: 5 }))).qty).toBe(0.012);
  });

  it('bridge accepts a legacy qty intent with leverage 1 when none is given', () => {
    const p = planned(decideBridge(input({ qty: 0.005, price: 70500 }, { policy: { ...POLICY, max_position_usd: 1000 } })));
    expect(p).toMatchObject({ qty: 0.005, leverage: 1, price: 71000, notional: 355 });
  });

  it('bridge rejects an intent without sizing as invalid_quantity', () => {
    const r = rejected(decideBridge(input({})));
    expect(r).toEqual({ ok: false, reason: 'invalid_quantity', detail: 'no sizing: expected position_usd+leverage or qty' });
    expect(rejected(decideBridge(input({ qty: 0 }))).reason).toBe('invalid_quantity');
    expect(rejected(decideBridge(input({ position_usd: 100 }))).detail).toMatch(/without leverage/);
  });

  it('bridge rejects symbols outside the allowlist', () => {
    const r = rejected(decideBridge(input({ symbol: 'DOGEUSDT', position_usd: 100, leverage: 2 })));
    expect(r.reason).toBe('symbol_not_allowed');
    expect(r.detail).toBe('DOGEUSDT not in allowlist (BTCUSDT,ETHUSDT)');
  });

  it('bridge rejects a missing price and a price older than the policy allows', () => {
    expect(rejected(decideBridge(input({ position_usd: 100, leverage: 2 }, { price: undefined }))).reason).toBe('price_unavailable');
    const r = rejected(decideBridge(input({ position_usd: 100, leverage: 2 }, { price: { price: 71000, mark: 71000, ts: NOW - 20_000, source: 't' } })));
    expect(r).toMatchObject({ reason: 'price_stale', detail: 'price 71000 is 20000 ms old > max 10000 ms' });
  });

  it('bridge rejects leverage over the policy or the market maximum', () => {
    expect(rejected(decideBridge(input({ position_usd: 10, leverage: 20 }))).detail).toBe('leverage 20 > max 10 (policy)');
    const r = rejected(decideBridge(input({ position_usd: 10, leverage: 8 }, { rules: { ...BTC, maxLeverage: 5 } })));
    expect(r).toMatchObject({ reason: 'leverage_exceeds_max', detail: 'leverage 8 > max 5 (market)' });
  });

  it('bridge rejects a margin over max_position_usd with the numbers', () => {
    const r = rejected(decideBridge(input({ position_usd: 600, leverage: 2 })));
    expect(r).toMatchObject({ reason: 'exposure_limit', detail: 'margin 600.00 > max_position_usd 500.00' });
  });

  it('bridge rejects below min notional with the numbers when upsizing is off', () => {
    const r = rejected(decideBridge(input({ qty: 0.001 }, { price: { price: 70610, mark: 70610, ts: NOW, source: 't' } })));
    expect(r).toEqual({ ok: false, reason: 'below_min_notional', detail: 'notional 70.61 < min 100.00' });
  });

  it('bridge rejects a quantity that rounds below min qty when upsizing is off', () => {
    const r = rejected(decideBridge(input({ position_usd: 10, leverage: 5 })));
    expect(r).toMatchObject({ reason: 'below_min_qty', detail: 'qty 0.000 < min 0.001' });
  });

  it('bridge upsizes to the smallest valid quantity when allowed and the margin stays within policy', () => {
    const d = decideBridge(input({ qty: 0.001, leverage: 2 }, { policy: { ...POLICY, allow_upsize: true }, price: { price: 70610, mark: 70610, ts: NOW, source: 't' } }));
    const p = planned(d);
    expect(p.qty).toBe(0.003); // ceil(100 / 70610 = 0.00142) to the step, plus one step to spare
    expect((p.qty - 0.001) * 70610).toBeGreaterThanOrEqual(100);
  });

  it('bridge sizes min notional at the mark with one step to spare (issue 17: ETHUSDT 4000.01 / mark 3999.9)', () => {
    const ETH = loadMarkets().get('ETHUSDT')!;
    const px = { price: 4000.01, mark: 3999.9, ts: NOW, source: 't' };
    const d = decideBridge(input({ symbol: 'ETHUSDT', position_usd: 5, leverage: 1 }, { rules: ETH, price: px, policy: { ...POLICY, allow_upsize: true } }));
    const p = planned(d);
    // 0.005 (20.00005 at the last price) is 19.9995 at the mark: refused -4164 by the exchange.
    expect(p.qty).toBe(0.007);
    expect((p.qty - ETH.marketStepSize) * px.mark).toBeGreaterThanOrEqual(ETH.minNotional);
    // Without upsizing the refusal names the mark it was checked at.
    const r = rejected(decideBridge(input({ symbol: 'ETHUSDT', qty: 0.005 }, { rules: ETH, price: px })));
    expect(r).toEqual({ ok: false, reason: 'below_min_notional', detail: 'notional 20.00 at mark 3999.9 < min 20.00' });
  });

  it('bridge refuses an entry past the leverage bracket cap, naming the cap (Binance -2027)', () => {
    const BTCB = loadMarkets().get('BTCUSDT')!; // recorded brackets: 125x up to 50,000; 20x up to 20,000,000
    const px = { price: 100000, mark: 100000, ts: NOW, source: 't' };
    const pol = { ...POLICY, max_leverage: 125, max_position_usd: 1e9 };
    const r = rejected(decideBridge(input({ qty: 1, leverage: 125 }, { rules: BTCB, price: px, policy: pol })));
    expect(r.reason).toBe('leverage_bracket');
    expect(r.detail).toBe('position notional 100000.00 at mark 100000 > cap 50000.00 of the leverage bracket for 125x on BTCUSDT');
    // The open position counts: 0.4 held + 0.2 more = 60,000 > 50,000.
    const held = rejected(decideBridge(input({ qty: 0.2, leverage: 125 }, { rules: BTCB, price: px, policy: pol, position: position({ qty: 0.4, leverage: 125 }) })));
    expect(held.detail).toBe('position notional position 40000.00 + order 20000.00 = 60000.00 at mark 100000 > cap 50000.00 of the leverage bracket for 125x on BTCUSDT');
    // Within the cap, and the same order at a lower leverage, pass.
    expect(planned(decideBridge(input({ qty: 0.1, leverage: 125 }, { rules: BTCB, price: px, policy: pol, position: position({ qty: 0.4 }) }))).qty).toBe(0.1);
    expect(planned(decideBridge(input({ qty: 1, leverage: 20 }, { rules: BTCB, price: px, policy: pol }))).qty).toBe(1);
  });

  it('bridge refuses to upsize past max_position_usd and names the numbers', () => {
    const r = rejected(decideBridge(input({ qty: 0.001 }, { policy: { ...POLICY, allow_upsize: true, max_position_usd: 100 }, price: { price: 70610, mark: 70610, ts: NOW, source: 't' } })));
    expect(r.reason).toBe('below_min_notional');
    expect(r.detail).toBe('notional 70.61 < min 100.00; upsizing to 0.003 needs margin 211.83 > max_position_usd 100.00');
  });

  it('bridge computes SL below and TP above for a long, the reverse for a short, on the tick', () => {
    const px = { price: 71234.5, mark: 71234.5, ts: NOW, source: 't' };
    const long = planned(decideBridge(input({ position_usd: 100, leverage: 5, sl_pct: 1, tp_pct: 2 }, { price: px })));
    expect([long.sl_price, long.tp_price]).toEqual([70522.2, 72659.2]);
    const short = planned(decideBridge(input({ action: 'SELL', position_usd: 100, leverage: 5, sl_pct: 1, tp_pct: 2 }, { price: px })));
    expect([short.side, short.sl_price, short.tp_price]).toEqual(['SELL', 71946.8, 69809.8]);
    const none = planned(decideBridge(input({ position_usd: 100, leverage: 5 }, { price: px })));
    expect([none.sl_price, none.tp_price]).toEqual([0, 0]);
  });

  it('bridge sizes PARTIAL_25 as a quarter of the open position, reducing side, reduce-only', () => {
    const p = planned(decideBridge(input({ action: 'partial-25', reduceOnly: true, intent_type: 'HARVEST' }, { position: position({ qty: 0.1 }) })));
    expect(p).toMatchObject({ action: 'PARTIAL', side: 'SELL', qty: 0.025, reduceOnly: true, leverage: 5, sl_price: 0, tp_price: 0 });
  });

  it('bridge closes a short whole with BUY', () => {
    const p = planned(decideBridge(input({ action: 'FULL_CLOSE', reduceOnly: true }, { position: position({ side: 'SHORT', qty: 0.037 }) })));
    expect(p).toMatchObject({ action: 'CLOSE', side: 'BUY', qty: 0.037 });
  });

  it('bridge closes an exit remainder below the min qty whole', () => {
    const rules = { ...BTC, marketMinQty: 0.005 };
    const p = planned(decideBridge(input({ action: 'PARTIAL_75', reduceOnly: true }, { rules, position: position({ qty: 0.016 }) })));
    expect(p).toMatchObject({ action: 'CLOSE', qty: 0.016 }); // 0.012 would leave 0.004 < 0.005
  });

  it('bridge exempts reduce-only exits from min notional and caps an exit qty at the open qty', () => {
    const small = planned(decideBridge(input({ action: 'CLOSE', reduceOnly: true }, { position: position({ qty: 0.001 }) })));
    expect(small).toMatchObject({ action: 'CLOSE', qty: 0.001, notional: 71 });
    const capped = planned(decideBridge(input({ action: 'CLOSE', qty: 0.5, reduceOnly: true }, { position: position({ qty: 0.1 }) })));
    expect(capped.qty).toBe(0.1);
  });

  it('bridge rejects an exit without an open position as no_position, and a reduce-only side that would grow it', () => {
    expect(rejected(decideBridge(input({ action: 'CLOSE', reduceOnly: true }))).reason).toBe('no_position');
    const r = rejected(decideBridge(input({ action: 'BUY', qty: 0.01, reduceOnly: true }, { position: position() })));
    expect(r).toMatchObject({ reason: 'no_position', detail: 'reduce-only BUY cannot reduce the open LONG BTCUSDT position (needs SELL)' });
  });

  it('bridge lets exits through a stale feed and outside the allowlist', () => {
    const p = planned(decideBridge(input({ symbol: 'BTCUSDT', action: 'CLOSE', reduceOnly: true }, {
      policy: { ...POLICY, allowlist: ['ETHUSDT'] }, price: { price: 70000, mark: 70000, ts: 0, source: 't' }, position: position(),
    })));
    expect(p.action).toBe('CLOSE');
  });

  it('normalises LONG and SHORT to BUY and SELL', () => {
    expect(normaliseAction('long')).toMatchObject({ ok: true, action: 'BUY', kind: 'entry' });
    expect(normaliseAction('SHORT')).toMatchObject({ ok: true, action: 'SELL', kind: 'entry' });
  });
});

// --- against real Redis, with the real runner ---------------------------------------------

const runners: StageRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});
afterAll(closeAll);

async function startBridge(redis: Redis, names: Names, policy: Policy): Promise<StageRunner> {
  await redis.hset(names.policy(), policyToHash(policy));
  const stage = createIntentBridge({ names, rules: (s) => (s === 'BTCUSDT' ? BTC : undefined), policy: new PolicyCache(names, policy) });
  const r = new StageRunner(stage, {
    redisUrl: testRedisUrl(), names, writer: redis, caps: { streamMaxLen: 10000, toolStreamMaxLen: 10000 },
    batchSize: 20, blockMs: 50, reclaimIdleMs: 60000, reclaimEveryMs: 60000, maxDeliveries: 3, heartbeatMs: 60000,
    mode: 'PAPER', log: createLogger({ level: 'silent' }),
  });
  runners.push(r);
  await r.start();
  return r;
}
const addIntent = (redis: Redis, names: Names, fields: Record<string, string>) => redis.xadd(names.stream('trade.intent'), '*', ...Object.entries(fields).flat());
async function entries(redis: Redis, names: Names, stream: 'apply.plan' | 'stage.rejected' | 'dead.letter') {
  const raw = (await redis.xrange(names.stream(stream), '-', '+')) as [string, string[]][];
  return raw.map(([, f]) => fieldsFromArray(f));
}

describe('intent_bridge stage', () => {
  it('bridge turns a margin intent into an apply.plan that decodes against the contract', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('bridge'));
    await redis.hset(names.price('BTCUSDT'), { price: '71000', mark: '71000', ts: String(Date.now()), source: 'test' });
    await startBridge(redis, names, { ...POLICY });
    await addIntent(redis, names, encode('trade.intent', {
      intent_id: 'in-42', ts: Date.now(), intent_type: 'AUTONOMOUS_ENTRY', symbol: 'BTCUSDT', action: 'BUY', source: 'autonomous_trader',
      position_usd: 300, leverage: 2, tp_pct: 2, sl_pct: 1, confidence: 0.8,
    }));
    const [plan] = await waitFor(async () => { const e = await entries(redis, names, 'apply.plan'); return e.length ? e : undefined; }, 10000, 'a plan');
    const d = decode('apply.plan', plan);
    expect(d.ok).toBe(true);
    expect(plan).toMatchObject({ intent_id: 'in-42', symbol: 'BTCUSDT', action: 'OPEN', side: 'BUY', qty: '0.008', leverage: '2', reduceOnly: 'false', source: 'autonomous_trader', intent_type: 'AUTONOMOUS_ENTRY' });
    expect(plan.plan_id).toMatch(/^pl-/);
    expect(Number(plan.intent_ts)).toBeGreaterThan(0);
  });

  it('bridge counts a rejection with its reason, detail and the input', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('bridge'));
    await redis.hset(names.price('BTCUSDT'), { price: '70610', ts: String(Date.now()) });
    const r = await startBridge(redis, names, { ...POLICY, allow_upsize: false });
    await addIntent(redis, names, { intent_id: 'in-7', ts: String(Date.now()), intent_type: 'MANUAL', symbol: 'BTCUSDT', action: 'BUY', source: 'op', qty: '0.001' });
    const [rej] = await waitFor(async () => { const e = await entries(redis, names, 'stage.rejected'); return e.length ? e : undefined; }, 10000, 'a rejection');
    expect(rej).toMatchObject({ stage: 'intent_bridge', reason: 'below_min_notional', detail: 'notional 70.61 < min 100.00', symbol: 'BTCUSDT', ref_id: 'in-7' });
    expect(JSON.parse(rej.payload)).toMatchObject({ intent_id: 'in-7', qty: 0.001 });
    await waitFor(() => r.totals.reasons.below_min_notional === 1, 10000, 'the runner counted the rejection');
    expect(r.totals.reasons).toEqual({ below_min_notional: 1 });
    // the minute's hash (a neighbouring minute may hold only the group-position record of a beat)
    const keys = await redis.keys(names.metricsPattern('intent_bridge'));
    const counts = await Promise.all(keys.map((k) => redis.hget(k, 'rej:below_min_notional')));
    expect(counts.filter((c) => c !== null)).toEqual(['1']);
  });

  it('bridge reads the allowlist from the policy store, not from its start-up configuration', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('bridge'));
    await redis.hset(names.price('BTCUSDT'), { price: '71000', ts: String(Date.now()) });
    await startBridge(redis, names, { ...POLICY, allowlist: ['ETHUSDT'] });
    await addIntent(redis, names, { intent_id: 'in-8', ts: String(Date.now()), intent_type: 'MANUAL', symbol: 'BTCUSDT', action: 'BUY', source: 'op', position_usd: '100', leverage: '2' });
    const [rej] = await waitFor(async () => { const e = await entries(redis, names, 'stage.rejected'); return e.length ? e : undefined; }, 10000, 'a rejection');
    expect(rej).toMatchObject({ reason: 'symbol_not_allowed', detail: 'BTCUSDT not in allowlist (ETHUSDT)' });
  });

  it('bridge sizes an exit from the open position stored in Redis', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('bridge'));
    await redis.hset(names.price('BTCUSDT'), { price: '71000', ts: String(Date.now()) });
    await redis.hset(names.position('BTCUSDT'), { symbol: 'BTCUSDT', side: 'SHORT', qty: '0.2', entry_price: '70000', leverage: '3' });
    await startBridge(redis, names, { ...POLICY });
    await addIntent(redis, names, { intent_id: 'in-9', ts: String(Date.now()), intent_type: 'HARVEST', symbol: 'BTCUSDT', action: 'PARTIAL50', reduceOnly: 'true', source: 'harvest_brain' });
    const [plan] = await waitFor(async () => { const e = await entries(redis, names, 'apply.plan'); return e.length ? e : undefined; }, 10000, 'a plan');
    expect(plan).toMatchObject({ action: 'PARTIAL', side: 'BUY', qty: '0.1', reduceOnly: 'true', leverage: '3' });
  });
});
