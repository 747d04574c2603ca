/**
 * Field codecs for flat Redis string fields (CONTRACT.md §1): numbers are decimal
 * strings, booleans `true`/`false`, times epoch milliseconds.
 */
import { z } from 'zod';

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A finite decimal number carried as a string. */
export const num = () =>
  z
    .string()
    .trim()
    .regex(DECIMAL, 'expected a decimal number')
    .transform((s) => Number(s))
    .refine((n) => Number.isFinite(n), 'expected a finite number');

export const posNum = () => num().refine((n) => n > 0, 'expected a number > 0');
export const nonNegNum = () => num().refine((n) => n >= 0, 'expected a number >= 0');
export const unitNum = () => num().refine((n) => n >= 0 && n <= 1, 'expected a number in 0..1');
export const tsMs = () => num().refine((n) => Number.isInteger(n) && n >= 0, 'expected epoch milliseconds');

export const bool = () =>
  z
    .string()
    .trim()
    .transform((s) => s.toLowerCase())
    .refine((s) => s === 'true' || s === 'false' || s === '1' || s === '0', 'expected true or false')
    .transform((s) => s === 'true' || s === '1');

/** A non-empty id-like string (ids, sources), at most 200 characters. */
export const id = () => z.string().trim().min(1, 'must not be empty').max(200, 'longer than 200 characters');

/** A Binance-style symbol such as BTCUSDT. */
export const symbol = () =>
  z
    .string()
    .trim()
    .transform((s) => s.toUpperCase())
    .pipe(z.string().regex(/^[A-Z0-9]{2,30}$/, 'expected a symbol like BTCUSDT'));

export const side = () =>
  z
    .string()
    .trim()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(['BUY', 'SELL']));

/** Free text, bounded. */
export const text = (max = 4096) => z.string().max(max, `longer than ${max} characters`);

/** Encodes one typed value as a Redis field string. */
export function encodeValue(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot encode non-finite number ${v}`);
    return formatNumber(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** Decimal string without exponent noise for typical trading magnitudes. */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  const s = String(n);
  if (!/e/i.test(s)) return s;
  return n.toFixed(12).replace(/0+$/, '').replace(/\.$/, '');
}
