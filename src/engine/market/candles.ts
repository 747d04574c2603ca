/**
 * Candles built in memory from price samples: fixed-length buckets by the sample's
 * timestamp, the last `keep` closed candles per symbol, plus a short buffer of raw
 * ticks for the fallback model.
 */
export interface Candle {
  /** Bucket start (epoch ms). */
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  /** Samples in the candle. */
  n: number;
}

export interface Tick {
  ts: number;
  price: number;
}

export interface CandleOptions {
  candleMs: number;
  keep?: number;
  keepTicks?: number;
}

interface Series {
  closed: Candle[];
  open?: Candle;
  ticks: Tick[];
  lastTs: number;
}

export class CandleBook {
  readonly candleMs: number;
  readonly keep: number;
  readonly keepTicks: number;
  private readonly series = new Map<string, Series>();

  constructor(o: CandleOptions) {
    this.candleMs = Math.max(1, Math.floor(o.candleMs));
    this.keep = o.keep ?? 200;
    this.keepTicks = o.keepTicks ?? 60;
  }

  private get(symbol: string): Series {
    let s = this.series.get(symbol);
    if (!s) {
      s = { closed: [], ticks: [], lastTs: 0 };
      this.series.set(symbol, s);
    }
    return s;
  }

  /** Seeds closed candles (e.g. read back after a restart). Older or misaligned ones are ignored. */
  restore(symbol: string, candles: Candle[]): void {
    const s = this.get(symbol);
    const ok = candles
      .filter((c) => [c.t, c.o, c.h, c.l, c.c].every((v) => Number.isFinite(v)) && c.c > 0 && c.t % this.candleMs === 0)
      .sort((a, b) => a.t - b.t);
    s.closed = ok.slice(-this.keep);
    if (ok.length) s.lastTs = Math.max(s.lastTs, ok[ok.length - 1].t + this.candleMs - 1);
  }

  /**
   * Adds one sample. Returns the candle it closed, if the sample starts a new bucket.
   * Samples not newer than the last one are ignored (an unchanged price key).
   */
  add(symbol: string, price: number, ts: number): Candle | undefined {
    if (!(price > 0) || !Number.isFinite(price) || !Number.isFinite(ts)) return undefined;
    const s = this.get(symbol);
    if (ts <= s.lastTs) return undefined;
    s.lastTs = ts;
    s.ticks.push({ ts, price });
    if (s.ticks.length > this.keepTicks) s.ticks.splice(0, s.ticks.length - this.keepTicks);
    const t = Math.floor(ts / this.candleMs) * this.candleMs;
    let closed: Candle | undefined;
    if (s.open && s.open.t !== t) {
      closed = s.open;
      s.closed.push(closed);
      if (s.closed.length > this.keep) s.closed.splice(0, s.closed.length - this.keep);
      s.open = undefined;
    }
    if (!s.open) s.open = { t, o: price, h: price, l: price, c: price, n: 1 };
    else {
      s.open.h = Math.max(s.open.h, price);
      s.open.l = Math.min(s.open.l, price);
      s.open.c = price;
      s.open.n++;
    }
    return closed;
  }

  closed(symbol: string): Candle[] {
    return this.series.get(symbol)?.closed ?? [];
  }

  ticks(symbol: string): Tick[] {
    return this.series.get(symbol)?.ticks ?? [];
  }

  symbols(): string[] {
    return [...this.series.keys()];
  }
}

/** Log returns of consecutive closes. */
export function logReturns(closes: number[]): number[] {
  const r: number[] = [];
  for (let i = 1; i < closes.length; i++) if (closes[i - 1] > 0 && closes[i] > 0) r.push(Math.log(closes[i] / closes[i - 1]));
  return r;
}

export function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/** Sample standard deviation (0 for fewer than two values). */
export function stdev(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) * (b - m), 0) / (xs.length - 1));
}

/** Exponential moving average of the whole series (seeded with the first value). */
export function ema(xs: number[], period: number): number {
  if (!xs.length) return NaN;
  const k = 2 / (period + 1);
  let e = xs[0];
  for (let i = 1; i < xs.length; i++) e = xs[i] * k + e * (1 - k);
  return e;
}

/**
 * Volatility as the standard deviation of log returns over one minute, in percent,
 * from samples spaced `spacingMs` apart (so feeds with different periods compare).
 */
export function volPerMinutePct(returns: number[], spacingMs: number): number {
  if (returns.length < 2 || !(spacingMs > 0)) return NaN;
  return stdev(returns) * Math.sqrt(60_000 / spacingMs) * 100;
}
