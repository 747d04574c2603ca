/**
 * An online-learned model: logistic regression on normalised features of the last
 * candles, trained by stochastic gradient descent on the next candle's direction each
 * time a candle closes. It votes only after enough training samples, and only when its
 * predicted probability leaves the band around one half.
 */
import { ema, logReturns, mean, stdev, type Candle } from '../candles.js';
import { closes, hold, voteOf, type Model, type ModelVote } from './types.js';

const FEATURES = 6;
const clip = (x: number) => (Number.isFinite(x) ? Math.max(-3, Math.min(3, x)) : 0);

/** Features of a candle series (the last candle is "now"). */
export function features(candles: Candle[]): number[] | null {
  if (candles.length < 21) return null;
  const cl = closes(candles.slice(-41));
  const r = logReturns(cl);
  const sigma = stdev(r.slice(-20)) || 1e-9;
  const n = r.length;
  const last20 = cl.slice(-20);
  const sd20 = stdev(last20) || 1e-9;
  return [
    1, // bias
    clip(r[n - 1] / sigma),
    clip((r[n - 1] + r[n - 2] + r[n - 3]) / (sigma * Math.sqrt(3))),
    clip(Math.log(ema(cl, 5) / ema(cl, 15)) / sigma),
    clip((cl[cl.length - 1] - mean(last20)) / sd20),
    clip(r.slice(-10).reduce((a, b) => a + b, 0) / (sigma * Math.sqrt(10))),
  ];
}

export class OnlineLogisticModel implements Model {
  readonly name = 'online_logistic';
  readonly minCandles = 21;
  readonly w = new Array<number>(FEATURES).fill(0);
  samples = 0;

  constructor(
    readonly lr = 0.05,
    readonly l2 = 1e-4,
    readonly minSamples = 40,
    readonly band = 0.04,
  ) {}

  predict(candles: Candle[]): number | null {
    const x = features(candles);
    if (!x) return null;
    const z = x.reduce((a, xi, i) => a + xi * this.w[i], 0);
    return 1 / (1 + Math.exp(-z));
  }

  /** One SGD step: features before the newest candle, label = the newest candle closed up. */
  learn(candles: Candle[]): void {
    if (candles.length < this.minCandles + 1) return;
    const before = candles.slice(0, -1);
    const x = features(before);
    if (!x) return;
    const y = candles[candles.length - 1].c > before[before.length - 1].c ? 1 : 0;
    const z = x.reduce((a, xi, i) => a + xi * this.w[i], 0);
    const p = 1 / (1 + Math.exp(-z));
    for (let i = 0; i < FEATURES; i++) this.w[i] -= this.lr * ((p - y) * x[i] + this.l2 * this.w[i]);
    this.samples++;
  }

  vote(candles: Candle[]): ModelVote {
    if (this.samples < this.minSamples) return hold(0, `training (${this.samples}/${this.minSamples} samples)`);
    const p = this.predict(candles);
    if (p === null) return hold(0, 'not enough candles');
    const why = `p(up) ${p.toFixed(3)} after ${this.samples} samples`;
    const edge = Math.abs(p - 0.5);
    if (edge < this.band) return hold(edge / this.band / 2, why);
    return voteOf(p - 0.5, 0.5 + Math.min(0.5, edge * 2.5), why);
  }
}
