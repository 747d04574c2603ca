/**
 * Reads the engine's open positions and their marks in few round trips (shared by
 * harvest_brain, risk_guard, the reconciler and `qt close`). Ledger and snapshot keys are
 * never positions; a hash without qty > 0 is not open (CONTRACT.md §2).
 */
import type { Redis } from 'ioredis';
import type { Names } from '../../contract/names.js';
import { readPosition, toNum, type PositionState } from '../../contract/state.js';
import type { MarketRules } from '../exchange/types.js';
import type { QtyRules } from './ladder.js';

export async function scanKeys(redis: Redis, pattern: string, limit = 100_000): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0' && keys.length < limit);
  return keys;
}

export interface Mark {
  mark: number;
  ts: number;
}

export interface OpenPosition {
  position: PositionState;
  raw: Record<string, string>;
  mark?: Mark;
}

/** Open positions (qty > 0) keyed by symbol, with their marks when known. */
export async function loadOpenPositions(redis: Redis, names: Names): Promise<Map<string, OpenPosition>> {
  const syms: string[] = [];
  for (const k of await scanKeys(redis, names.positionPattern())) {
    const c = names.classifyPositionKey(k);
    if (c?.kind === 'position') syms.push(c.symbol);
  }
  const out = new Map<string, OpenPosition>();
  if (!syms.length) return out;
  const p = redis.pipeline();
  for (const s of syms) p.hgetall(names.position(s)).hgetall(names.price(s));
  const res = (await p.exec()) ?? [];
  syms.forEach((s, i) => {
    const raw = (res[2 * i]?.[1] ?? {}) as Record<string, string>;
    const pos = readPosition(s, raw);
    if (!pos) return;
    pos.symbol = s;
    out.set(s, { position: pos, raw, mark: readMark((res[2 * i + 1]?.[1] ?? {}) as Record<string, string>) });
  });
  return out;
}

/** The mark of a `price:{SYMBOL}` hash (mark, else last price), or undefined. */
export function readMark(h: Record<string, string>): Mark | undefined {
  const m = toNum(h.mark, NaN);
  const v = m > 0 ? m : toNum(h.price, NaN);
  if (!(v > 0)) return undefined;
  return { mark: v, ts: toNum(h.ts, 0) };
}

/** The step and minimum of market orders, which is what exits send. */
export function qtyRulesOf(r: MarketRules | undefined): QtyRules {
  if (!r) return { step: 0, minQty: 0 };
  const step = r.marketStepSize > 0 ? r.marketStepSize : r.stepSize;
  const minQty = r.marketMinQty > 0 ? r.marketMinQty : r.minQty;
  return { step: step > 0 ? step : 0, minQty: minQty > 0 ? minQty : 0 };
}

/**
 * A short unique id: `{tag}-{SYMBOL}-{ms}-{random}`.
 * @param random uniform in [0, 1): Math.random, or a replay's seeded generator
 */
export function newId(tag: string, symbol: string, now: number, random: () => number = Math.random): string {
  return `${tag}-${symbol}-${now}-${random().toString(36).slice(2, 8).padEnd(6, '0')}`;
}

/** The rules lookup of the process's exchange, else of the shipped market snapshot. */
export type RulesLookup = (symbol: string) => MarketRules | undefined;
export async function rulesLookup(exchange: unknown, marketsFile?: string): Promise<RulesLookup> {
  const ex = exchange as { rules?: (s: string) => MarketRules | undefined } | undefined;
  if (ex && typeof ex.rules === 'function') return (s) => ex.rules!(s);
  const { loadMarkets } = await import('../exchange/markets.js');
  const m = loadMarkets(marketsFile);
  return (s) => m.get(s);
}
