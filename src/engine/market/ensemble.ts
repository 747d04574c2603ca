/**
 * The ensemble: every model votes on the closed candles; the weighted votes are combined
 * into one side and a confidence in 0..1. When there are too few candles for the
 * models, or they disagree, the fallback model (short momentum on raw ticks) decides,
 * and `fallback` says why. A pure decision: no Redis, no clock.
 */
import { logReturns, volPerMinutePct, type Candle, type Tick } from './candles.js';
import { BreakoutModel } from './models/breakout.js';
import { MeanReversionModel } from './models/mean-reversion.js';
import { MomentumModel } from './models/momentum.js';
import { OnlineLogisticModel } from './models/online-logistic.js';
import { tickMomentum } from './models/tick-momentum.js';
import { TrendModel } from './models/trend.js';
import { clamp01, round4, type Model, type ModelVote, type Vote } from './models/types.js';

export const ENSEMBLE_VERSION = 'qt-ensemble-1';
export const FALLBACK_VERSION = 'qt-fallback-tick-momentum-1';
/** The fallback's model: it votes only on the signals the fallback decides. */
export const FALLBACK_MODEL = 'tick_momentum';

export interface Decision {
  side: Vote;
  confidence: number;
  /** Each model's vote (and the fallback's when used). */
  votes: Record<string, ModelVote>;
  fallback: boolean;
  fallbackReason?: string;
  modelVersion: string;
  /** Standard deviation of 1-minute log returns, in %, when known. */
  volPerMinutePct?: number;
}

export interface EnsembleOptions {
  models?: Model[];
  weights?: Record<string, number>;
  /** Closed candles below which the fallback decides. */
  minCandles?: number;
  /** Opposing weight ÷ supporting weight at or over which models "disagree". */
  disagreeRatio?: number;
  /** Discount on the fallback's confidence (it sees less). */
  fallbackDiscount?: number;
}

export function defaultModels(): Model[] {
  return [new TrendModel(), new MomentumModel(), new MeanReversionModel(), new BreakoutModel(), new OnlineLogisticModel()];
}

export class Ensemble {
  readonly models: Model[];
  private readonly weights: Record<string, number>;
  readonly minCandles: number;
  private readonly disagreeRatio: number;
  private readonly fallbackDiscount: number;

  constructor(o: EnsembleOptions = {}) {
    this.models = o.models ?? defaultModels();
    this.weights = o.weights ?? {};
    this.minCandles = o.minCandles ?? 21;
    this.disagreeRatio = o.disagreeRatio ?? 0.6;
    this.fallbackDiscount = o.fallbackDiscount ?? 0.9;
  }

  weight(name: string): number {
    return this.weights[name] ?? 1;
  }

  /** Lets online models learn from a newly closed candle. */
  learn(candles: Candle[]): void {
    for (const m of this.models) m.learn?.(candles);
  }

  decide(candles: Candle[], ticks: Tick[], candleMs: number): Decision {
    const votes: Record<string, ModelVote> = {};
    for (const m of this.models) votes[m.name] = m.vote(candles);
    const vol = volatility(candles, ticks, candleMs);

    if (candles.length < this.minCandles) {
      return this.fallback(votes, ticks, `warming up: ${candles.length} candles < ${this.minCandles}`, vol);
    }
    let buy = 0;
    let sell = 0;
    let total = 0;
    for (const m of this.models) {
      const w = this.weight(m.name);
      total += w;
      const v = votes[m.name];
      if (v.vote === 'BUY') buy += w * v.score;
      else if (v.vote === 'SELL') sell += w * v.score;
    }
    if (buy === 0 && sell === 0) return { side: 'HOLD', confidence: 0, votes, fallback: false, modelVersion: ENSEMBLE_VERSION, volPerMinutePct: vol };
    const [hi, lo] = buy >= sell ? [buy, sell] : [sell, buy];
    if (lo > 0 && lo / hi >= this.disagreeRatio) {
      return this.fallback(votes, ticks, `models disagree: buy ${buy.toFixed(2)} vs sell ${sell.toFixed(2)}`, vol);
    }
    const confidence = round4(clamp01(0.5 + (0.5 * (hi - lo)) / (total || 1)));
    return { side: buy > sell ? 'BUY' : 'SELL', confidence, votes, fallback: false, modelVersion: ENSEMBLE_VERSION, volPerMinutePct: vol };
  }

  private fallback(votes: Record<string, ModelVote>, ticks: Tick[], reason: string, vol: number | undefined): Decision {
    const fb = tickMomentum(ticks);
    votes[FALLBACK_MODEL] = fb;
    const confidence = fb.vote === 'HOLD' ? 0 : round4(clamp01(0.5 + 0.5 * fb.score * this.fallbackDiscount));
    return { side: fb.vote, confidence, votes, fallback: true, fallbackReason: reason, modelVersion: FALLBACK_VERSION, volPerMinutePct: vol };
  }
}

/** 1-minute volatility in % from candles when there are enough, else from raw ticks. */
export function volatility(candles: Candle[], ticks: Tick[], candleMs: number): number | undefined {
  if (candles.length >= 6) {
    const v = volPerMinutePct(logReturns(candles.slice(-30).map((c) => c.c)), candleMs);
    if (Number.isFinite(v) && v > 0) return round4(v);
  }
  if (ticks.length >= 4) {
    const t = ticks.slice(-30);
    const spacing = (t[t.length - 1].ts - t[0].ts) / (t.length - 1);
    const v = volPerMinutePct(logReturns(t.map((x) => x.price)), spacing);
    if (Number.isFinite(v) && v > 0) return round4(v);
  }
  return undefined;
}

/** The `models` field of a signal: each model's vote and score, and the fallback's use. */
export function modelsJson(d: Decision): string {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d.votes)) o[k] = { vote: v.vote, score: v.score, ...(v.why ? { why: v.why } : {}) };
  o.fallback = d.fallback;
  if (d.fallbackReason) o.fallback_reason = d.fallbackReason;
  if (d.volPerMinutePct !== undefined) o.vol_1m_pct = d.volPerMinutePct;
  return JSON.stringify(o);
}
