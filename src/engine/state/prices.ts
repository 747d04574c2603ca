/**
 * Batch reads of hashes (prices, positions, policy) in one pipelined round trip, and
 * the reader of the `{prefix}:price:{SYMBOL}` hash (CONTRACT.md §2).
 */
import type { Redis } from 'ioredis';
import type { Names } from '../../contract/names.js';
import { toNum, type PriceState } from '../../contract/state.js';

export type Hash = Record<string, string>;

/** HGETALL of every key in one pipeline: one round trip, replies in key order. */
export async function loadHashes(redis: Redis, keys: readonly string[]): Promise<Hash[]> {
  if (keys.length === 0) return [];
  const pipe = redis.pipeline();
  for (const k of keys) pipe.hgetall(k);
  const res = (await pipe.exec()) ?? [];
  return keys.map((k, i) => {
    const [err, v] = res[i] ?? [new Error('no reply'), null];
    if (err) throw new Error(`HGETALL ${k} failed: ${err.message}`);
    return (v as Hash | null) ?? {};
  });
}

/** A price hash as a price, or undefined when it holds no positive price. */
export function readPrice(h: Hash | undefined): PriceState | undefined {
  if (!h || Object.keys(h).length === 0) return undefined;
  const price = toNum(h.price, NaN);
  const mark = toNum(h.mark, NaN);
  const p = price > 0 ? price : mark > 0 ? mark : NaN;
  if (!(p > 0)) return undefined;
  return { price: p, mark: mark > 0 ? mark : p, ts: toNum(h.ts, 0), source: h.source ?? '' };
}

/** The price of each symbol (symbols without a usable price are absent). */
export async function loadPrices(redis: Redis, names: Names, symbols: readonly string[]): Promise<Map<string, PriceState>> {
  const list = [...new Set(symbols)];
  const hashes = await loadHashes(redis, list.map((s) => names.price(s)));
  const out = new Map<string, PriceState>();
  list.forEach((s, i) => {
    const p = readPrice(hashes[i]);
    if (p) out.set(s, p);
  });
  return out;
}
