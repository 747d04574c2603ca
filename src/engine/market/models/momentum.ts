/**
 * Momentum: rate of change over `period` candles, as a z-score against the volatility
 * a random walk would show over that span. BUY on a strong rise, SELL on a strong fall.
 */
import { logReturns, stdev, type Candle } from '../candles.js';
import { closes, hold, voteOf, type Model, type ModelVote } from './types.js';

export class MomentumModel implements Model {
  readonly name = 'momentum';
  readonly minCandles: number;
  constructor(
    readonly period = 10,
    readonly threshold = 0.75,
  ) {
    this.minCandles = period + 2;
  }

  vote(candles: Candle[]): ModelVote {
    if (candles.length < this.minCandles) return hold(0, 'not enough candles');
    const cl = closes(candles);
    const last = cl[cl.length - 1];
    const past = cl[cl.length - 1 - this.period];
    const roc = Math.log(last / past);
    const sigma = stdev(logReturns(cl.slice(-Math.max(this.period * 2, 20) - 1))) || 1e-9;
    const z = roc / (sigma * Math.sqrt(this.period));
    const why = `roc${this.period} ${(roc * 100).toFixed(3)}% z ${z.toFixed(2)}`;
    if (Math.abs(z) < this.threshold) return hold(Math.abs(z) / this.threshold / 2, why);
    return voteOf(z, Math.tanh(Math.abs(z) / 2), why);
  }
}
