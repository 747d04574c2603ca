/**
 * The replay price source: recorded candles played back into the `price` keys, at N
 * times real time, with the same downstream behaviour as the live feed.
 *
 * Files: one per symbol, in either layout
 * - ccxt OHLCV JSON (what `fetchOHLCV` returns): `[[open_time_ms, open, high, low, close, volume], …]`;
 * - Binance's public klines CSV (data.binance.vision): `open_time, open, high, low, close, volume,
 *   close_time, quote_volume, trades, taker_buy_base, taker_buy_quote, ignore`, with or without a
 *   header row; open_time in ms (or µs, as Binance's dumps use from 2025 on).
 * The symbol comes from the file name (`XRPUSDT-perp-5m-2021-11.ohlcv.json` → XRPUSDT, the
 * leading run of capital letters and digits) unless given explicitly.
 *
 * Time: `qt up --market replay` plays in lock step (replay-lockstep.ts, `lockStep`): each call
 * plays the points up to the replay clock and stamps them with their replayed time, which every
 * stage takes as "now". Without lock step (the default of the class) prices are stamped with the
 * `now` passed in and the replayed time rides along as `market_ts`.
 * Within a candle the price walks open → first extreme → second extreme → close (the low first
 * on a rising candle, the high first on a falling one: the order that reaches the extreme
 * nearest the open first, as backtesters commonly assume), so a stop inside a candle's range
 * triggers. One tick advances the replay clock by `tickMs × speed` but never skips one of these
 * four points: where the speed asks for more than one point per tick, the replay runs at one
 * point per tick and says so (`effectiveSpeed`).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { UsageError } from '../../errors.js';
import type { PriceQuote, PriceSource } from './price-source.js';

/** One recorded candle: open time (epoch ms) and prices in the quote asset (USDT). */
export interface ReplayCandle {
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
}

/** A parsed replay file: its symbol, candle length (ms, from the data) and candles in time order. */
export interface ReplaySeries {
  symbol: string;
  file: string;
  candleMs: number;
  candles: ReplayCandle[];
}

/** A point of the replayed path: the replayed time (epoch ms) and the price there. */
export interface PathPoint {
  t: number;
  price: number;
}

const SYMBOL_RE = /^[A-Z0-9]{2,30}$/;

/** The symbol a file name implies: its leading run of capitals and digits (`XRPUSDT-…` → `XRPUSDT`). */
export function symbolFromFileName(file: string): string | undefined {
  const m = /^([A-Z0-9]+)(?:[-_.]|$)/.exec(basename(file));
  return m && SYMBOL_RE.test(m[1]) && /(USDT|USDC|BUSD|USD)$/.test(m[1]) ? m[1] : undefined;
}

function fail(file: string, where: string, what: string): never {
  throw new UsageError(`replay file ${file}: ${where}: ${what}`);
}

function num(file: string, where: string, name: string, v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) fail(file, where, `${name} is not a number (${JSON.stringify(v)?.slice(0, 40)})`);
  return n;
}

/** Normalises an open time to ms: Binance's newer dumps write µs (16 digits). */
function toMs(t: number): number {
  return t > 1e14 ? Math.floor(t / 1000) : t;
}

function candleFrom(file: string, where: string, row: unknown[]): ReplayCandle {
  if (row.length < 5) fail(file, where, `expected at least 5 columns (open_time, open, high, low, close), got ${row.length}`);
  const t = toMs(num(file, where, 'open_time', row[0]));
  const o = num(file, where, 'open', row[1]);
  const h = num(file, where, 'high', row[2]);
  const l = num(file, where, 'low', row[3]);
  const c = num(file, where, 'close', row[4]);
  const v = row.length > 5 ? num(file, where, 'volume', row[5]) : 0;
  if (!(o > 0 && h > 0 && l > 0 && c > 0)) fail(file, where, 'prices must be > 0');
  if (!(l <= Math.min(o, c) && h >= Math.max(o, c) && l <= h)) fail(file, where, `low ${l} / high ${h} do not bound open ${o} and close ${c}`);
  if (t <= 0) fail(file, where, `open_time ${t} is not an epoch time`);
  return { t, o, h, l, c, v };
}

/**
 * Parses a replay file's text (ccxt OHLCV JSON or Binance klines CSV).
 * @throws UsageError with one line naming the file and the row (1-based) that is wrong.
 */
export function parseReplayText(text: string, file: string, symbol?: string): ReplaySeries {
  const sym = symbol ?? symbolFromFileName(file);
  if (!sym) throw new UsageError(`replay file ${file}: cannot tell the symbol from the file name (name it like XRPUSDT-5m.json, or give --replay-symbol SYMBOL / QT_REPLAY_SYMBOL)`);
  const trimmed = text.trim();
  const candles: ReplayCandle[] = [];
  if (trimmed.startsWith('{')) fail(file, 'JSON', 'expected an array of [open_time, open, high, low, close, volume] rows, not an object');
  if (trimmed.startsWith('[')) {
    let rows: unknown;
    try {
      rows = JSON.parse(trimmed);
    } catch (e) {
      fail(file, 'JSON', (e as Error).message);
    }
    if (!Array.isArray(rows)) fail(file, 'JSON', 'expected an array of [open_time, open, high, low, close, volume] rows');
    (rows as unknown[]).forEach((r, i) => {
      if (!Array.isArray(r)) fail(file, `row ${i + 1}`, 'expected an array [open_time, open, high, low, close, volume]');
      candles.push(candleFrom(file, `row ${i + 1}`, r));
    });
  } else {
    const lines = trimmed.split(/\r?\n/);
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      const cols = line.split(',').map((s) => s.trim());
      if (i === 0 && !/^\d/.test(cols[0])) return; // header row (open_time,open,…)
      candles.push(candleFrom(file, `line ${i + 1}`, cols));
    });
  }
  if (candles.length < 2) fail(file, 'data', `needs at least 2 candles (got ${candles.length})`);
  for (let i = 1; i < candles.length; i++) {
    if (!(candles[i].t > candles[i - 1].t)) fail(file, `row ${i + 1}`, `open_time ${candles[i].t} is not after the previous row's ${candles[i - 1].t}`);
  }
  // The candle length: the most common gap between open times (a gap in the data stays a gap).
  const gaps = new Map<number, number>();
  for (let i = 1; i < candles.length; i++) {
    const g = candles[i].t - candles[i - 1].t;
    gaps.set(g, (gaps.get(g) ?? 0) + 1);
  }
  const candleMs = [...gaps.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  return { symbol: sym, file, candleMs, candles };
}

/** Reads and parses a replay file. @throws UsageError naming the file (unreadable) or the row. */
export function loadReplayFile(file: string, symbol?: string): ReplaySeries {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`replay file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseReplayText(text, file, symbol);
}

/** Keeps the candles with from ≤ open time < to (epoch ms; either bound optional). */
export function sliceSeries(s: ReplaySeries, from?: number, to?: number): ReplaySeries {
  const candles = s.candles.filter((c) => (from === undefined || c.t >= from) && (to === undefined || c.t < to));
  if (candles.length < 2) throw new UsageError(`replay file ${s.file}: fewer than 2 candles between ${from ? new Date(from).toISOString() : 'the start'} and ${to ? new Date(to).toISOString() : 'the end'}`);
  return { ...s, candles };
}

/**
 * The intra-candle path: four points per candle at open, +⅓, +⅔ and the last quarter of
 * its length: open, then the low and the high (low first on a rising candle, high first on a
 * falling one), then close. Pure.
 */
export function candlePath(c: ReplayCandle, candleMs: number): PathPoint[] {
  const rising = c.c >= c.o;
  const [x1, x2] = rising ? [c.l, c.h] : [c.h, c.l];
  return [
    { t: c.t, price: c.o },
    { t: c.t + Math.floor(candleMs / 4), price: x1 },
    { t: c.t + Math.floor(candleMs / 2), price: x2 },
    { t: c.t + Math.floor((3 * candleMs) / 4), price: c.c },
  ];
}

export interface ReplayOptions {
  /** Replay speed: replayed ms per wall ms (1 = real time). */
  speed: number;
  /** The market tick period (wall ms per `quotes()` call). */
  tickMs: number;
  /**
   * Lock step (what `qt up --market replay` uses; replay-lockstep.ts): `quotes(symbols, now)`
   * plays every point up to `now`, which is the replay clock (the next point's time, from
   * `peekNext`), and stamps each quote with its replayed time (`ts` = `market_ts`). Calling it
   * again with the same `now` quotes the same points (a retried tick does not skip one).
   * Without it (the default), one call advances the clock by `tickMs × speed` and quotes are
   * stamped with the `now` passed in.
   */
  lockStep?: boolean;
}

/** What a replay has done so far (for the log, the report and the console). */
export interface ReplayProgress {
  symbols: string[];
  /** Replayed time of the newest quote (epoch ms). */
  at: number;
  from: number;
  to: number;
  points: number;
  pointsDone: number;
  finished: boolean;
  speed: number;
  /** The speed actually played: lower than `speed` where one point per tick caps it. */
  effectiveSpeed: number;
}

/**
 * A PriceSource over recorded candles of one or several symbols, played on one shared
 * replay clock. `finished` resolves when every point has been quoted once.
 */
export class ReplayPriceSource implements PriceSource {
  readonly source = 'replay';
  private readonly paths = new Map<string, PathPoint[]>();
  private readonly idx = new Map<string, number>();
  private clock: number;
  private readonly start: number;
  private readonly end: number;
  private done = false;
  private capped = false;
  private lockStep: boolean;
  private resolveFinished!: () => void;
  /** Resolves once the last recorded point has been quoted. */
  readonly finished: Promise<void>;
  /** Wall time → price history of what was quoted, per symbol (for the run report's hit rates). */
  readonly history = new Map<string, { wall: number; t: number; price: number }[]>();

  constructor(readonly series: ReplaySeries[], private readonly o: ReplayOptions) {
    if (!series.length) throw new UsageError('replay: no file given (QT_REPLAY_FILE / --replay-file)');
    if (!(o.speed > 0)) throw new UsageError(`QT_REPLAY_SPEED: expected a number > 0 (got ${o.speed})`);
    for (const s of series) {
      this.paths.set(s.symbol, s.candles.flatMap((c) => candlePath(c, s.candleMs)));
      this.idx.set(s.symbol, -1);
      this.history.set(s.symbol, []);
    }
    this.start = Math.min(...series.map((s) => s.candles[0].t));
    this.end = Math.max(...[...this.paths.values()].map((p) => p[p.length - 1].t));
    this.clock = this.start - 1;
    this.lockStep = o.lockStep === true;
    this.finished = new Promise((r) => (this.resolveFinished = r));
  }

  get symbols(): string[] {
    return this.series.map((s) => s.symbol);
  }

  progress(): ReplayProgress {
    let points = 0;
    let done = 0;
    for (const [s, p] of this.paths) {
      points += p.length;
      done += this.idx.get(s)! + 1;
    }
    const stepMs = this.o.tickMs * this.o.speed;
    const minPointMs = Math.min(...this.series.map((s) => s.candleMs / 4));
    return {
      symbols: this.symbols,
      at: Math.min(Math.max(this.clock, this.start), this.end),
      from: this.start,
      to: this.end,
      points,
      pointsDone: done,
      finished: this.done,
      speed: this.o.speed,
      effectiveSpeed: !this.lockStep && stepMs > minPointMs ? minPointMs / this.o.tickMs : this.o.speed,
    };
  }

  /** True after the first call that had to hold the clock back to one point per tick. */
  get speedCapped(): boolean {
    return this.capped;
  }

  /** Switches to lock step (see `ReplayOptions.lockStep`); the replay's conductor does this. */
  playInLockStep(): void {
    this.lockStep = true;
  }

  /** The replayed time (epoch ms) of the next point not yet quoted, of any symbol; undefined at the end. */
  peekNext(): number | undefined {
    let next = Infinity;
    for (const [s, p] of this.paths) {
      const i = this.idx.get(s)!;
      if (i + 1 < p.length) next = Math.min(next, p[i + 1].t);
    }
    return next === Infinity ? undefined : next;
  }

  async quotes(symbols: string[], now: number): Promise<Map<string, PriceQuote>> {
    if (this.lockStep) return this.quotesAt(symbols, now);
    const out = new Map<string, PriceQuote>();
    if (this.done) return out;
    // Advance the clock, but never past the next point of any symbol by more than one point.
    let target = this.clock + this.o.tickMs * this.o.speed;
    let nextPoint = Infinity;
    for (const [s, p] of this.paths) {
      const i = this.idx.get(s)!;
      if (i + 1 < p.length) nextPoint = Math.min(nextPoint, p[i + 1].t);
    }
    if (nextPoint !== Infinity) {
      // The point after the next one must not be passed in the same tick.
      let afterNext = Infinity;
      for (const [s, p] of this.paths) {
        const i = this.idx.get(s)!;
        for (let k = i + 1; k < p.length; k++) {
          if (p[k].t > nextPoint) {
            afterNext = Math.min(afterNext, p[k].t);
            break;
          }
        }
      }
      if (target >= afterNext) {
        target = afterNext - 1;
        this.capped = true;
      }
    }
    this.clock = target;
    for (const sym of symbols) {
      const p = this.paths.get(sym);
      if (!p) continue;
      let i = this.idx.get(sym)!;
      while (i + 1 < p.length && p[i + 1].t <= this.clock) i++;
      this.idx.set(sym, i);
      if (i < 0) continue;
      const pt = p[i];
      out.set(sym, { price: pt.price, mark: pt.price, ts: now, marketTs: pt.t });
      this.history.get(sym)!.push({ wall: now, t: pt.t, price: pt.price });
    }
    if ([...this.paths].every(([s, p]) => this.idx.get(s)! >= p.length - 1)) {
      this.done = true;
      this.resolveFinished();
    }
    return out;
  }

  /** Lock step: quotes every symbol at its last point at or before `at` (replayed ms), stamped with that point's time. */
  private quotesAt(symbols: string[], at: number): Map<string, PriceQuote> {
    const out = new Map<string, PriceQuote>();
    if (at > this.clock) this.clock = at;
    for (const sym of symbols) {
      const p = this.paths.get(sym);
      if (!p) continue;
      const before = this.idx.get(sym)!;
      let i = before;
      while (i + 1 < p.length && p[i + 1].t <= this.clock) i++;
      this.idx.set(sym, i);
      if (i < 0) continue;
      const pt = p[i];
      out.set(sym, { price: pt.price, mark: pt.price, ts: pt.t, marketTs: pt.t });
      if (i > before) this.history.get(sym)!.push({ wall: pt.t, t: pt.t, price: pt.price });
    }
    if (!this.done && [...this.paths].every(([s, p]) => this.idx.get(s)! >= p.length - 1)) {
      this.done = true;
      this.resolveFinished();
    }
    return out;
  }
}

/** The replay settings a source needs (from `Config.replay` and the market tick). */
export interface ReplayConfig {
  files: string[];
  /** The symbol of each file, in order (QT_REPLAY_SYMBOL); absent: told by each file's name. */
  symbols?: string[];
  speed: number;
  from?: number;
  to?: number;
  tickMs: number;
  lockStep?: boolean;
}

/**
 * Loads every file, keeps the window, and builds the source.
 * @throws UsageError naming the file and row of the first problem, or two files of one symbol.
 */
export function createReplaySource(c: ReplayConfig): ReplayPriceSource {
  const series = c.files.map((f, i) => sliceSeries(loadReplayFile(f, c.symbols?.[i]), c.from, c.to));
  const seen = new Set<string>();
  for (const s of series) {
    if (seen.has(s.symbol)) throw new UsageError(`QT_REPLAY_FILE: two files for ${s.symbol} (one file per symbol)`);
    seen.add(s.symbol);
  }
  return new ReplayPriceSource(series, { speed: c.speed, tickMs: c.tickMs, lockStep: c.lockStep });
}
