/**
 * Mean reversion: z-score of the last close against its moving average. Far above the
 * mean → SELL (expects a return), far below → BUY. The opposite view of trend and
 * momentum, so the ensemble sees disagreement when a move is stretched.
 */
import { mean, stdev, type Candle } from '../candles.js';
import { closes, hold, voteOf, type Model, type ModelVote } from './types.js';

export class MeanReversionModel implements Model {
  readonly name = 'mean_reversion';
  readonly minCandles: number;
  constructor(
    readonly period = 20,
    readonly threshold = 1.5,
  ) {
    this.minCandles = period;
  }

  vote(candles: Candle[]): ModelVote {
    if (candles.length < this.minCandles) return hold(0, 'not enough candles');
    const cl = closes(candles.slice(-this.period));
    const m = mean(cl);
    const sd = stdev(cl);
    if (!(sd > 0)) return hold(0, 'flat prices');
    const z = (cl[cl.length - 1] - m) / sd;
    const why = `z ${z.toFixed(2)} vs sma${this.period}`;
    if (Math.abs(z) < this.threshold) return hold(Math.abs(z) / this.threshold / 2, why);
    return voteOf(-z, Math.tanh((Math.abs(z) - this.threshold + 0.5) / 1.5), why);
  }
}
