/**
 * Trend: EMA crossover. BUY when the fast EMA is above the slow one by more than a
 * fraction of the recent volatility, SELL when below; the score grows with the gap
 * measured in volatility units.
 */
import { ema, logReturns, stdev, type Candle } from '../candles.js';
import { closes, hold, voteOf, type Model, type ModelVote } from './types.js';

export class TrendModel implements Model {
  readonly name = 'trend';
  readonly minCandles: number;
  constructor(
    readonly fast = 5,
    readonly slow = 15,
    readonly threshold = 0.5,
  ) {
    this.minCandles = slow + 1;
  }

  vote(candles: Candle[]): ModelVote {
    if (candles.length < this.minCandles) return hold(0, 'not enough candles');
    const cl = closes(candles.slice(-this.slow * 3));
    const f = ema(cl, this.fast);
    const s = ema(cl, this.slow);
    const sigma = stdev(logReturns(cl.slice(-this.slow - 1))) || 1e-9;
    // gap in units of per-candle volatility
    const gap = Math.log(f / s) / sigma;
    const why = `ema${this.fast}/ema${this.slow} gap ${gap.toFixed(2)}σ`;
    if (Math.abs(gap) < this.threshold) return hold(Math.abs(gap) / this.threshold / 2, why);
    return voteOf(gap, Math.tanh(Math.abs(gap) / 2), why);
  }
}
