import { describe, expect, it } from 'vitest';
import type { PositionState } from '../../src/contract/state.js';
import { DEFAULT_EXIT_CONFIG, decideExit, freshState, observe, parseLadder, partialQty, rMultiple } from '../../src/engine/exits/ladder.js';

const pos = (over: Partial<PositionState> = {}): PositionState => ({
  symbol: 'BTCUSDT', side: 'LONG', qty: 0.01, entry_price: 50000, leverage: 5, sl_price: 49500, tp_price: 0,
  initial_risk_usd: 5, opened_at: 1, updated_at: 1, plan_id: 'p', ...over,
});
const BTC = { step: 0.001, minQty: 0.001 };

describe('exit ladder (pure)', () => {
  it('measures R from initial_risk_usd over the quantity first seen, for longs and shorts', () => {
    const p = pos();
    expect(rMultiple(p, freshState(p, 50000), 51000)).toBe(2);
    const s = pos({ side: 'SHORT', sl_price: 50500 });
    expect(rMultiple(s, freshState(s, 50000), 49750)).toBe(0.5);
  });

  it('falls back to the stop distance when no initial risk is recorded', () => {
    const p = pos({ initial_risk_usd: 0 });
    expect(rMultiple(p, freshState(p, 50000), 50250)).toBe(0.5);
  });

  it('rounds a partial down to the step and closes whole when the remainder would be below the min qty', () => {
    expect(partialQty(0.01, 0.0025, BTC)).toBe(0.002);
    expect(partialQty(0.003, 0.00075, BTC)).toBe(0.001);
    expect(partialQty(0.0015, 0.0005, BTC)).toBeUndefined(); // 0.001 would leave 0.0005
    expect(partialQty(0.001, 0.00025, BTC)).toBeUndefined();
  });

  it('prefers the emergency close over the stop loss when R is past the emergency limit', () => {
    const p = pos();
    const d = decideExit(p, freshState(p, 50000), 48920, DEFAULT_EXIT_CONFIG, BTC)!;
    expect(d.action).toBe('CLOSE');
    expect(d.reason).toMatch(/^emergency R=-2\.16/);
    const sl = decideExit(p, freshState(p, 50000), 49450, DEFAULT_EXIT_CONFIG, BTC)!;
    expect(sl.reason).toMatch(/^sl:/);
  });

  it('takes profit at tp_price, and does nothing between the stop and the first step', () => {
    const p = pos({ tp_price: 51000 });
    expect(decideExit(p, freshState(p, 50000), 51000, DEFAULT_EXIT_CONFIG, BTC)!.reason).toMatch(/^tp:/);
    expect(decideExit(p, freshState(p, 50000), 50400, DEFAULT_EXIT_CONFIG, BTC)).toBeNull();
  });

  it('activates the trailing stop only once the ladder is done', () => {
    const p = pos({ qty: 0.006 });
    const base = { ...freshState(pos(), 50000), best_price: 51600 };
    expect(decideExit(p, { ...base, steps_done: 1 }, 50900, DEFAULT_EXIT_CONFIG, BTC)).toBeNull();
    expect(decideExit(p, { ...base, steps_done: 2 }, 50900, DEFAULT_EXIT_CONFIG, BTC)!.reason).toMatch(/^trail:/);
  });

  it('completes a ladder step when the position quantity changes after the exit', () => {
    const p = pos();
    const s = { ...freshState(p, 50000), inflight_id: 'x', inflight_ts: 0, inflight_qty: 0.01, inflight_step: 0 };
    expect(observe(s, p, 50600, 1, DEFAULT_EXIT_CONFIG)).toMatchObject({ inFlight: true });
    const after = observe(s, pos({ qty: 0.008 }), 50600, 1, DEFAULT_EXIT_CONFIG);
    expect(after.inFlight).toBe(false);
    expect(after.state.steps_done).toBe(1);
  });

  it('parses a configured ladder and refuses a malformed one', () => {
    expect(parseLadder('1:0.25, 2:0.5')).toEqual([{ r: 1, fraction: 0.25 }, { r: 2, fraction: 0.5 }]);
    expect(() => parseLadder('1:25')).toThrow(/expected R:fraction/);
    expect(() => parseLadder('2:0.25,1:0.25')).toThrow(/increasing R/);
  });
});
