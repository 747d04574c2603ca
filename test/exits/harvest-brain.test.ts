import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isMultipleOf } from '../../src/engine/exchange/precision.js';
import type { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import { harvestBrain } from '../../src/engine/stages/harvest-brain.js';
import { closeAll, testNames, testRedis, waitFor } from '../helpers/redis.js';
import { entries, openEntry, runnerFor, setPrice, startPipeline, stopAll, writePolicy } from './harness.js';

const r = testRedis();
let running: StageRunner[] = [];
afterEach(async () => {
  await stopAll(running);
  running = [];
});
afterAll(closeAll);

const BTC = { step: 0.001, minQty: 0.001 };
const rules = () => BTC as never;
const qtyOf = async (names: ReturnType<typeof testNames>, sym: string) => Number((await r.hget(names.position(sym), 'qty')) ?? 0);
const harvestIntents = async (names: ReturnType<typeof testNames>) => (await entries(r, names, 'trade.intent')).filter((e) => e.intent_type === 'HARVEST');

async function setup(qty: number, price = 50000) {
  const names = testNames();
  await writePolicy(r, names);
  await setPrice(r, names, 'BTCUSDT', price);
  const p = await startPipeline(r, names);
  running.push(...p.runners);
  await openEntry(r, names, 'BTCUSDT', 'BUY', qty, 1, price);
  await waitFor(async () => (await qtyOf(names, 'BTCUSDT')) === qty, 10000, 'entry filled');
  const hb = runnerFor(harvestBrain({ rules: (s) => (s === 'BTCUSDT' ? ({ marketStepSize: 0.001, marketMinQty: 0.001 } as never) : undefined), everyMs: 50 }), names, r);
  await hb.start();
  running.push(hb);
  return { names, hb };
}

describe('harvest_brain on the paper pipeline', () => {
  it('closes 25% at +1R, 25% at +2R and the rest on the trailing stop, each part a valid quantity', async () => {
    const { names } = await setup(0.01);
    // entry 50000, stop 49500: 1R = 500 per unit.
    await setPrice(r, names, 'BTCUSDT', 50600);
    await waitFor(async () => (await qtyOf(names, 'BTCUSDT')) === 0.008, 10000, 'first partial');
    await setPrice(r, names, 'BTCUSDT', 51100);
    await waitFor(async () => (await qtyOf(names, 'BTCUSDT')) === 0.006, 10000, 'second partial');
    await setPrice(r, names, 'BTCUSDT', 51600);
    await waitFor(async () => Number(await r.hget(names.exitState('BTCUSDT'), 'best_price')) === 51600, 10000, 'best price');
    expect(await qtyOf(names, 'BTCUSDT')).toBe(0.006);
    await setPrice(r, names, 'BTCUSDT', 51050); // 1R behind the best 51600 is 51100
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0, 10000, 'trail close');

    const intents = await harvestIntents(names);
    expect(intents.map((i) => i.action)).toEqual(['PARTIAL_25', 'PARTIAL_25', 'CLOSE']);
    expect(intents.map((i) => i.reason.split(':')[0])).toEqual(['ladder_1r', 'ladder_2r', 'trail']);
    expect(intents.every((i) => i.reduceOnly === 'true' && i.source === 'harvest_brain')).toBe(true);
    const fills = (await entries(r, names, 'apply.result')).filter((x) => x.executed === 'true').map((x) => Number(x.filled_qty));
    expect(fills).toEqual([0.01, 0.002, 0.002, 0.006]);
    for (const q of fills) expect(isMultipleOf(q, 0.001)).toBe(true);
  });

  it('closes the whole position at once when R falls to the emergency limit', async () => {
    const { names } = await setup(0.01);
    await setPrice(r, names, 'BTCUSDT', 48920); // R = -1080 / 500 = -2.16
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0, 10000, 'emergency close');
    const intents = await harvestIntents(names);
    expect(intents).toHaveLength(1);
    expect(intents[0].action).toBe('CLOSE');
    expect(intents[0].reason).toMatch(/^emergency R=-2\.16/);
  });

  it('closes a position whole when the ladder part would leave a remainder below the min quantity', async () => {
    const { names } = await setup(0.001, 150000); // 150 USD: above the 100 USD min notional
    await setPrice(r, names, 'BTCUSDT', 151800); // +1.2R
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0, 10000, 'whole close');
    const intents = await harvestIntents(names);
    expect(intents).toHaveLength(1);
    expect(intents[0].action).toBe('CLOSE');
    expect(intents[0].qty).toBeUndefined();
    expect(intents[0].reason).toContain('remainder below min qty');
  });
});

describe('harvest_brain in-flight guard', () => {
  async function alone(timeoutMs: number) {
    const names = testNames();
    await writePolicy(r, names);
    await r.hset(names.position('ETHUSDT'), { symbol: 'ETHUSDT', side: 'SHORT', qty: '1', entry_price: '3000', leverage: '5', sl_price: '3030', tp_price: '0', initial_risk_usd: '30', opened_at: '1', plan_id: 'p1' });
    await setPrice(r, names, 'ETHUSDT', 2960); // short: R = 40 / 30 = 1.33
    const hb = runnerFor(harvestBrain({ rules: () => ({ marketStepSize: 0.01, marketMinQty: 0.01 }) as never, everyMs: 30, exits: { inFlightTimeoutMs: timeoutMs } }), names, r);
    await hb.start();
    running.push(hb);
    return { names, hb };
  }
  const ticks = async (hb: StageRunner, n: number) => {
    const from = hb.hb.processed;
    await waitFor(() => hb.hb.processed >= from + n, 10000, `${n} ticks`);
  };

  it('sends no second exit for a position while the first is in flight', async () => {
    const { names, hb } = await alone(60000);
    await waitFor(async () => (await harvestIntents(names)).length === 1, 5000, 'first exit');
    await ticks(hb, 15);
    const intents = await harvestIntents(names);
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({ action: 'PARTIAL_25', qty: '0.25', symbol: 'ETHUSDT' });
    expect(await r.hget(names.exitState('ETHUSDT'), 'inflight_id')).toBe(intents[0].intent_id);
    // The exit executes (qty changes): the step is done, and at the same R nothing more is sent.
    await r.hset(names.position('ETHUSDT'), 'qty', '0.75');
    await waitFor(async () => (await r.hget(names.exitState('ETHUSDT'), 'steps_done')) === '1', 5000, 'step done');
    await ticks(hb, 10);
    expect(await harvestIntents(names)).toHaveLength(1);
  });

  it('sends the exit again once the in-flight timeout passes without execution', async () => {
    const { names } = await alone(300);
    await waitFor(async () => (await harvestIntents(names)).length === 1, 5000, 'first exit');
    const two = await waitFor(async () => {
      const l = await harvestIntents(names);
      return l.length === 2 ? l : null;
    }, 5000, 'retry after timeout');
    expect(Number(two[1].ts) - Number(two[0].ts)).toBeGreaterThanOrEqual(300);
  });
});

describe('harvest_brain on bad input', () => {
  it('skips ghost, ledger and unpriced keys without failing, says which it cannot manage, and still manages the rest', async () => {
    const names = testNames();
    await writePolicy(r, names);
    await r.hset(names.position('XRPUSDT'), { symbol: 'XRPUSDT', qty: 'abc', side: 'LONG' });
    await r.hset(names.position('ledger:BTCUSDT'), { realized_pnl: '-3' });
    await r.hset(names.position('ADAUSDT'), { symbol: 'ADAUSDT', side: 'LONG', qty: '100', entry_price: '0.5', sl_price: '0.49', initial_risk_usd: '1', opened_at: '1' });
    await r.hset(names.position('SOLUSDT'), { symbol: 'SOLUSDT', side: 'LONG', qty: '1', entry_price: '150', sl_price: '148', initial_risk_usd: '2', opened_at: '1' });
    await r.hset(names.exitState('SOLUSDT'), { position_ref: 'garbage', steps_done: 'x' });
    await r.hset(names.price('SOLUSDT'), { price: 'NaN', ts: String(Date.now()) });
    await setPrice(r, names, 'ADAUSDT', 0.4);
    const hb = runnerFor(harvestBrain({ rules: () => ({ marketStepSize: 1, marketMinQty: 1 }) as never, everyMs: 30 }), names, r);
    await hb.start();
    running.push(hb);
    const intent = await waitFor(async () => (await harvestIntents(names))[0], 5000, 'ADA emergency close');
    expect(intent).toMatchObject({ symbol: 'ADAUSDT', action: 'CLOSE' });
    await waitFor(() => hb.hb.status === 'degraded' && hb.hb.detail.includes('SOLUSDT: no price'), 5000, 'degraded naming SOLUSDT');
    expect(hb.hb.errors).toBe(0);
    expect((await harvestIntents(names)).map((i) => i.symbol)).toEqual(['ADAUSDT']);
  });
});
