/**
 * The fallback model: short momentum on raw ticks, usable seconds after a start. The
 * move over the window is scored against the tick-to-tick noise (a z-score).
 */
import { logReturns, stdev, type Tick } from '../candles.js';
import { hold, voteOf, type ModelVote } from './types.js';

export interface TickMomentumOptions {
  window?: number;
  minTicks?: number;
  threshold?: number;
}

export function tickMomentum(ticks: Tick[], o: TickMomentumOptions = {}): ModelVote {
  const window = o.window ?? 12;
  const minTicks = o.minTicks ?? 5;
  const threshold = o.threshold ?? 0.5;
  const t = ticks.slice(-window);
  if (t.length < minTicks) return hold(0, `${t.length} ticks < ${minTicks}`);
  const prices = t.map((x) => x.price);
  const r = logReturns(prices);
  const sigma = stdev(r) || Math.abs(r[0] ?? 0) || 1e-9;
  const move = Math.log(prices[prices.length - 1] / prices[0]);
  const z = move / (sigma * Math.sqrt(Math.max(1, r.length)));
  const why = `${t.length} ticks move ${(move * 100).toFixed(3)}% z ${z.toFixed(2)}`;
  if (!Number.isFinite(z) || Math.abs(z) < threshold) return hold(Math.abs(z) / threshold / 2, why);
  return voteOf(z, Math.tanh(Math.abs(z) / 2), why);
}
