/**
 * Market rules of the paper exchange: Binance USD-M `exchangeInfo` filters from a dated
 * snapshot shipped in `data/` (see docs/markets.md), or from `QT_MARKETS_FILE`.
 * exchangeInfo carries no leverage brackets, so max leverage comes from a small table
 * (approximate, see below). Live markets (the Binance adapter) override all of this.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errors.js';
import { defaultBrackets, loadBracketSnapshot, maxLeverageOf, type LeverageBracket } from './leverage-brackets.js';
import { decimalsOf } from './precision.js';
import type { MarketRules } from './types.js';

/** The shipped snapshot (Binance USD-M exchangeInfo, fetched 2025-10-30). */
export const SNAPSHOT_FILE = 'data/binance-usdm-exchangeInfo.2025-10-30.json';
export const SNAPSHOT_DATE = '2025-10-30';

/**
 * Max leverage of the first (smallest) notional bracket per symbol. APPROXIMATE: taken
 * from Binance's public leverage-bracket pages around the snapshot date; Binance changes
 * brackets often and per account. Symbols not listed get DEFAULT_MAX_LEVERAGE.
 */
export const MAX_LEVERAGE: Record<string, number> = {
  BTCUSDT: 125,
  ETHUSDT: 125,
  SOLUSDT: 100,
  XRPUSDT: 75,
  BNBUSDT: 75,
  ADAUSDT: 75,
  LINKUSDT: 75,
  LTCUSDT: 75,
  DOTUSDT: 75,
  AVAXUSDT: 75,
  NEARUSDT: 50,
  SUIUSDT: 50,
  ALGOUSDT: 50,
  AEVOUSDT: 25,
};
export const DEFAULT_MAX_LEVERAGE = 20;

/** The directory holding package.json, found by walking up from this module (src/ or dist/). */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return process.cwd();
}

type Json = Record<string, unknown>;

function filterNum(f: Json | undefined, field: string, sym: string, type: string, source: string): number {
  const v = f?.[field];
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`${source}: ${sym} ${type}.${field} is missing or not a number (got ${JSON.stringify(v)})`);
  }
  return n;
}

/** Parses one exchangeInfo symbol entry into MarketRules. */
export function rulesFromSymbol(s: Json, source = 'exchangeInfo'): MarketRules {
  const sym = String(s.symbol ?? '');
  if (!/^[A-Z0-9]{2,30}$/.test(sym)) throw new UsageError(`${source}: a symbol entry has no valid "symbol" (got ${JSON.stringify(s.symbol)})`);
  const filters = new Map<string, Json>();
  for (const f of Array.isArray(s.filters) ? (s.filters as Json[]) : []) filters.set(String(f?.filterType), f);
  const price = filters.get('PRICE_FILTER');
  const lot = filters.get('LOT_SIZE');
  const mlot = filters.get('MARKET_LOT_SIZE') ?? lot;
  const mn = filters.get('MIN_NOTIONAL');
  const pp = filters.get('PERCENT_PRICE');
  for (const [t, f] of [['PRICE_FILTER', price], ['LOT_SIZE', lot]] as const) {
    if (!f) throw new UsageError(`${source}: ${sym} has no ${t} filter`);
  }
  const n = (f: Json | undefined, field: string, type: string) => filterNum(f, field, sym, type, source);
  const stepSize = n(lot, 'stepSize', 'LOT_SIZE');
  const tickSize = n(price, 'tickSize', 'PRICE_FILTER');
  return {
    symbol: sym,
    tickSize,
    minPrice: n(price, 'minPrice', 'PRICE_FILTER'),
    maxPrice: n(price, 'maxPrice', 'PRICE_FILTER'),
    stepSize,
    minQty: n(lot, 'minQty', 'LOT_SIZE'),
    maxQty: n(lot, 'maxQty', 'LOT_SIZE'),
    marketStepSize: n(mlot, 'stepSize', 'MARKET_LOT_SIZE'),
    marketMinQty: n(mlot, 'minQty', 'MARKET_LOT_SIZE'),
    marketMaxQty: n(mlot, 'maxQty', 'MARKET_LOT_SIZE'),
    minNotional: mn ? n(mn, 'notional', 'MIN_NOTIONAL') : 0,
    maxLeverage: MAX_LEVERAGE[sym] ?? DEFAULT_MAX_LEVERAGE,
    pricePrecision: typeof s.pricePrecision === 'number' ? s.pricePrecision : decimalsOf(tickSize),
    quantityPrecision: typeof s.quantityPrecision === 'number' ? s.quantityPrecision : decimalsOf(stepSize),
    ...(pp ? { percentPrice: { multiplierUp: n(pp, 'multiplierUp', 'PERCENT_PRICE'), multiplierDown: n(pp, 'multiplierDown', 'PERCENT_PRICE') } } : {}),
  };
}

/**
 * Rules with their leverage brackets: the given ones, else the shipped snapshot's, else the
 * conservative default table (docs/markets.md); `maxLeverage` becomes bracket 1's leverage.
 */
export function withBrackets(r: MarketRules, brackets?: LeverageBracket[]): MarketRules {
  const bs = brackets ?? snapshotBrackets().get(r.symbol) ?? defaultBrackets(MAX_LEVERAGE[r.symbol] ?? DEFAULT_MAX_LEVERAGE);
  return { ...r, brackets: bs, maxLeverage: maxLeverageOf(bs) ?? r.maxLeverage };
}

/** The shipped leverage-bracket snapshot, by symbol. */
export function snapshotBrackets(): Map<string, LeverageBracket[]> {
  return loadBracketSnapshot(packageRoot());
}

/** Every TRADING symbol of an exchangeInfo document. */
export function parseExchangeInfo(doc: unknown, source = 'exchangeInfo'): Map<string, MarketRules> {
  const symbols = (doc as Json | null)?.symbols;
  if (!Array.isArray(symbols)) throw new UsageError(`${source}: not a Binance exchangeInfo document (no "symbols" list)`);
  const out = new Map<string, MarketRules>();
  for (const s of symbols as Json[]) {
    if (s && s.status !== undefined && s.status !== 'TRADING') continue;
    const r = withBrackets(rulesFromSymbol(s, source));
    out.set(r.symbol, r);
  }
  if (out.size === 0) throw new UsageError(`${source}: no TRADING symbols`);
  return out;
}

const cache = new Map<string, Map<string, MarketRules>>();

/**
 * Loads market rules from `file` (QT_MARKETS_FILE) or the shipped snapshot. A file that
 * cannot be read or parsed is a configuration mistake naming QT_MARKETS_FILE.
 */
export function loadMarkets(file?: string): Map<string, MarketRules> {
  const path = file ? resolve(file) : join(packageRoot(), SNAPSHOT_FILE);
  const hit = cache.get(path);
  if (hit) return hit;
  const label = file ? `QT_MARKETS_FILE (${file})` : `market snapshot ${SNAPSHOT_FILE}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${label}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${label}: not valid JSON (${(e as Error).message})`);
  }
  const rules = parseExchangeInfo(doc, label);
  cache.set(path, rules);
  return rules;
}
