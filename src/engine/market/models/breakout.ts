/**
 * Breakout: Donchian channel of the previous `period` candles. A close above the
 * channel's high → BUY, below its low → SELL; the score grows with how far beyond the
 * channel the close is, relative to the channel's width.
 */
import type { Candle } from '../candles.js';
import { hold, voteOf, type Model, type ModelVote } from './types.js';

export class BreakoutModel implements Model {
  readonly name = 'breakout';
  readonly minCandles: number;
  constructor(readonly period = 20) {
    this.minCandles = period + 1;
  }

  vote(candles: Candle[]): ModelVote {
    if (candles.length < this.minCandles) return hold(0, 'not enough candles');
    const prev = candles.slice(-this.period - 1, -1);
    const last = candles[candles.length - 1].c;
    const hi = Math.max(...prev.map((c) => c.h));
    const lo = Math.min(...prev.map((c) => c.l));
    const width = hi - lo || last * 1e-6;
    const why = `close ${last} channel ${lo}..${hi}`;
    if (last > hi) return voteOf(1, 0.55 + Math.tanh(((last - hi) / width) * 4) * 0.45, why);
    if (last < lo) return voteOf(-1, 0.55 + Math.tanh(((lo - last) / width) * 4) * 0.45, why);
    // inside: HOLD, scored by how near an edge the close sits
    const pos = (last - lo) / width;
    return hold(Math.abs(pos - 0.5), why);
  }
}
