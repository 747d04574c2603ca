/**
 * Leverage brackets (Binance USD-M `GET /fapi/v1/leverageBracket`): per symbol, notional
 * tiers each with the highest leverage allowed in it. Two rules come from them
 * (BINANCE-USDM-RULES.md "Leverage and margin"; freqtrade#11650 / PR #11655):
 * - the highest leverage a symbol allows is bracket 1's `initialLeverage` (above it: -4028);
 * - at leverage L the position notional (position + open orders + the new order) may not
 *   exceed the cap of the last bracket whose `initialLeverage` ≥ L (else -2027 "Exceeded the
 *   maximum allowable position at current leverage").
 * The paper exchange reads a dated snapshot shipped in `data/` (docs/markets.md); the Binance
 * adapter reads them live at start.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';

/** One tier of a symbol's leverage brackets (numbers as Binance sends them; USD notional). */
export interface LeverageBracket {
  bracket: number;
  /** Highest leverage allowed while the position notional is within this tier. */
  initialLeverage: number;
  /** Upper bound of the tier's position notional, USD. */
  notionalCap: number;
  notionalFloor: number;
  maintMarginRatio: number;
  cum: number;
}

/**
 * The shipped snapshot beside the exchangeInfo one. Its figures come from more than one
 * recording, so the date is per symbol (`qtSource`, `qtDate` in each entry; docs/markets.md),
 * not in the file name.
 */
export const BRACKETS_SNAPSHOT_FILE = 'data/binance-usdm-leverageBracket.json';

/**
 * The conservative default table for a symbol without recorded brackets: bracket 1 at the
 * symbol's approximate first-bracket leverage (`maxLeverage`), then 20x, 10x, 5x, 2x, 1x with
 * caps well under Binance's usual ones (docs/markets.md). Not Binance's figures: a model that
 * refuses earlier rather than later.
 */
export function defaultBrackets(maxLeverage: number): LeverageBracket[] {
  const rows: [number, number, number][] = [
    [maxLeverage, 5000, 0.01],
    [20, 25000, 0.025],
    [10, 100000, 0.05],
    [5, 250000, 0.1],
    [2, 1000000, 0.25],
    [1, 3000000, 0.5],
  ].filter((r, i) => i === 0 || r[0] < maxLeverage) as [number, number, number][];
  let floor = 0;
  let cum = 0;
  let prev = 0;
  return rows.map(([lev, cap, mmr], i) => {
    cum += floor * (mmr - prev);
    const b = { bracket: i + 1, initialLeverage: lev, notionalCap: cap, notionalFloor: floor, maintMarginRatio: mmr, cum: Math.round(cum * 100) / 100 };
    prev = mmr;
    floor = cap;
    return b;
  });
}

const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);

/**
 * Parses a `GET /fapi/v1/leverageBracket` response (an array of `{symbol, brackets}`, or one
 * such object; numbers or numeric strings). Entries without a symbol or valid brackets are
 * skipped; brackets are sorted by `bracket`. Never throws on odd entries.
 */
export function parseLeverageBrackets(doc: unknown): Map<string, LeverageBracket[]> {
  const out = new Map<string, LeverageBracket[]>();
  const list = Array.isArray(doc) ? doc : doc && typeof doc === 'object' ? [doc] : [];
  for (const e of list as { symbol?: unknown; brackets?: unknown }[]) {
    if (!e || typeof e.symbol !== 'string' || !Array.isArray(e.brackets)) continue;
    const bs: LeverageBracket[] = [];
    for (const b of e.brackets as Record<string, unknown>[]) {
      const x = {
        bracket: num(b?.bracket),
        initialLeverage: num(b?.initialLeverage),
        notionalCap: num(b?.notionalCap),
        notionalFloor: num(b?.notionalFloor),
        maintMarginRatio: num(b?.maintMarginRatio),
        cum: num(b?.cum),
      };
      if (Number.isFinite(x.initialLeverage) && x.initialLeverage > 0 && Number.isFinite(x.notionalCap) && x.notionalCap > 0) {
        bs.push({ ...x, bracket: Number.isFinite(x.bracket) ? x.bracket : bs.length + 1, notionalFloor: x.notionalFloor || 0, maintMarginRatio: x.maintMarginRatio || 0, cum: x.cum || 0 });
      }
    }
    if (bs.length) out.set(e.symbol, bs.sort((a, b) => a.bracket - b.bracket));
  }
  return out;
}

/** Bracket 1's `initialLeverage`: the highest leverage the symbol allows (undefined without brackets). */
export function maxLeverageOf(brackets: readonly LeverageBracket[] | undefined): number | undefined {
  if (!brackets?.length) return undefined;
  return Math.max(...brackets.map((b) => b.initialLeverage));
}

/**
 * The highest position notional (USD) allowed at `leverage`: the largest `notionalCap` among
 * the brackets whose `initialLeverage` ≥ leverage. 0 when the leverage is above every bracket
 * (that leverage is refused -4028 anyway); Infinity without brackets (nothing known to check).
 */
export function notionalCapAt(brackets: readonly LeverageBracket[] | undefined, leverage: number): number {
  if (!brackets?.length) return Infinity;
  let cap = 0;
  for (const b of brackets) if (b.initialLeverage >= leverage && b.notionalCap > cap) cap = b.notionalCap;
  return cap;
}

const cache = new Map<string, Map<string, LeverageBracket[]>>();

/** The shipped bracket snapshot (cached). A missing or broken file is a UsageError naming it. */
export function loadBracketSnapshot(root: string): Map<string, LeverageBracket[]> {
  const path = join(root, BRACKETS_SNAPSHOT_FILE);
  const hit = cache.get(path);
  if (hit) return hit;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`leverage bracket snapshot ${BRACKETS_SNAPSHOT_FILE}: cannot read or parse (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const m = parseLeverageBrackets(doc);
  cache.set(path, m);
  return m;
}
