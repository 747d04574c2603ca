/**
 * The embedded default feed: a seeded geometric Brownian motion per symbol, with a
 * slowly switching drift (regimes) so trends exist to be found. Deterministic for a
 * seed: the same seed and the same sequence of `quotes()` calls give the same prices,
 * and each symbol has its own generator, so adding a symbol never changes another's path.
 *
 * Time is accelerated: one tick advances the simulated market by `simMsPerTick`
 * (default one minute), so a demo sees realistic moves per minute of market time.
 */
import type { PriceQuote, PriceSource } from './price-source.js';

/** A small, fast, seeded PRNG (mulberry32): uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal from a uniform generator (Box-Muller). */
export function gaussian(rand: () => number): number {
  let u = 0;
  while (u <= Number.EPSILON) u = rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A string hash (FNV-1a), to derive each symbol's seed. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface SymbolProfile {
  /** Starting price in USDT. */
  start: number;
  /** Daily volatility (standard deviation of daily log returns). */
  dailyVol: number;
}

/** Realistic starting prices and daily volatilities (late-2024 / 2025 orders of magnitude). */
export const PROFILES: Record<string, SymbolProfile> = {
  BTC: { start: 70000, dailyVol: 0.03 },
  ETH: { start: 3500, dailyVol: 0.04 },
  SOL: { start: 150, dailyVol: 0.055 },
  XRP: { start: 0.6, dailyVol: 0.05 },
  BNB: { start: 600, dailyVol: 0.035 },
  ADA: { start: 0.45, dailyVol: 0.05 },
  SUI: { start: 1.5, dailyVol: 0.07 },
  LINK: { start: 15, dailyVol: 0.05 },
  AVAX: { start: 30, dailyVol: 0.06 },
  LTC: { start: 80, dailyVol: 0.045 },
  DOT: { start: 6, dailyVol: 0.05 },
  NEAR: { start: 5, dailyVol: 0.06 },
  ALGO: { start: 0.18, dailyVol: 0.055 },
  AEVO: { start: 0.4, dailyVol: 0.09 },
};
export const DEFAULT_PROFILE: SymbolProfile = { start: 10, dailyVol: 0.05 };

export function profileFor(symbol: string): SymbolProfile {
  const base = symbol.toUpperCase().replace(/(USDT|USDC|BUSD|USD)$/, '');
  return PROFILES[base] ?? DEFAULT_PROFILE;
}

const DAY_MS = 86_400_000;

/** Keeps ~8 significant digits, as an exchange would quote. */
export function roundPrice(p: number): number {
  return Number(p.toPrecision(8));
}

/** One symbol's walk. */
export class GbmWalk {
  private readonly rand: () => number;
  private drift = 0;
  price: number;

  constructor(
    readonly symbol: string,
    seed: number,
    readonly profile: SymbolProfile = profileFor(symbol),
    start?: number,
  ) {
    this.rand = mulberry32((seed ^ hash32(symbol)) >>> 0);
    this.price = start && start > 0 && Number.isFinite(start) ? start : profile.start;
    this.redrawDrift();
  }

  private redrawDrift(): void {
    // Daily drift ~ N(0, (2σ)²): over a simulated day a regime moves about two sigmas.
    this.drift = gaussian(this.rand) * 2 * this.profile.dailyVol;
  }

  /** Advances by `dtMs` of simulated time; returns the new price. */
  step(dtMs: number): number {
    const dt = dtMs / DAY_MS;
    if (this.rand() < dt * 24) this.redrawDrift(); // a regime lasts ~1 simulated hour on average
    const s = this.profile.dailyVol;
    const z = gaussian(this.rand);
    this.price = this.price * Math.exp((this.drift - (s * s) / 2) * dt + s * Math.sqrt(dt) * z);
    return this.price;
  }

  /** A mark price a hair off the last price (funding/index noise). */
  mark(): number {
    return this.price * (1 + 0.0002 * gaussian(this.rand));
  }
}

export interface GbmOptions {
  seed: number;
  /** Simulated market time per `quotes()` call (default one minute). */
  simMsPerTick?: number;
}

export class GbmPriceSource implements PriceSource {
  readonly source = 'paper-gbm';
  private readonly walks = new Map<string, GbmWalk>();
  private readonly resumeFrom = new Map<string, number>();
  private readonly simMs: number;

  constructor(private readonly o: GbmOptions) {
    this.simMs = o.simMsPerTick ?? 60_000;
  }

  /** Continue from prices written before a restart (used before the first tick). */
  resume(last: Map<string, number>): void {
    for (const [s, p] of last) if (Number.isFinite(p) && p > 0) this.resumeFrom.set(s, p);
  }

  walk(symbol: string): GbmWalk {
    let w = this.walks.get(symbol);
    if (!w) {
      w = new GbmWalk(symbol, this.o.seed, profileFor(symbol), this.resumeFrom.get(symbol));
      this.walks.set(symbol, w);
    }
    return w;
  }

  async quotes(symbols: string[], now: number): Promise<Map<string, PriceQuote>> {
    const out = new Map<string, PriceQuote>();
    for (const s of symbols) {
      const w = this.walk(s);
      const price = roundPrice(w.step(this.simMs));
      out.set(s, { price, mark: roundPrice(w.mark()), ts: now });
    }
    return out;
  }
}
