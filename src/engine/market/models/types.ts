/** What every model is: a vote on closed candles, with a score in 0..1 for its strength. */
import type { Candle } from '../candles.js';

export type Vote = 'BUY' | 'SELL' | 'HOLD';

export interface ModelVote {
  vote: Vote;
  /** Strength of the vote in 0..1 (for HOLD: how close it came to voting). */
  score: number;
  /** Optional short note (the numbers behind the vote). */
  why?: string;
}

export interface Model {
  readonly name: string;
  /** Fewest closed candles the model needs to vote at all. */
  readonly minCandles: number;
  vote(candles: Candle[]): ModelVote;
  /** Online models learn when a candle closes (candles includes the new one). */
  learn?(candles: Candle[]): void;
}

export const clamp01 = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);
export const round4 = (x: number): number => Math.round(x * 10000) / 10000;
export const hold = (score = 0, why?: string): ModelVote => ({ vote: 'HOLD', score: round4(clamp01(score)), why });
export const voteOf = (dir: number, score: number, why?: string): ModelVote => ({
  vote: dir > 0 ? 'BUY' : 'SELL',
  score: round4(clamp01(score)),
  why,
});
export const closes = (c: Candle[]): number[] => c.map((x) => x.c);
