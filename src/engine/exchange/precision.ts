/**
 * Exact rounding to a market's step and tick. Steps like 0.001 are not exact in binary,
 * so rounding works on integers scaled by the step's decimals.
 */

const decimalsCache = new Map<number, number>();

export function decimalsOf(step: number): number {
  const c = decimalsCache.get(step);
  if (c !== undefined) return c;
  const d = computeDecimals(step);
  if (decimalsCache.size < 10000) decimalsCache.set(step, d);
  return d;
}

function computeDecimals(step: number): number {
  if (!Number.isFinite(step) || step <= 0) return 0;
  const s = step.toString();
  if (/e-/i.test(s)) return Number(s.split(/e-/i)[1]) + (s.split(/e-/i)[0].split('.')[1]?.length ?? 0);
  return s.split('.')[1]?.length ?? 0;
}

function scaled(x: number, step: number): { units: number; stepUnits: number; d: number } {
  const d = Math.min(decimalsOf(step), 12);
  const f = 10 ** d;
  return { units: Math.round(x * f * 1e3) / 1e3, stepUnits: Math.round(step * f), d };
}

/** Largest multiple of `step` that is ≤ x (quantities: never round an order up). */
export function floorToStep(x: number, step: number): number {
  if (step <= 0) return x;
  const { units, stepUnits, d } = scaled(x, step);
  const n = Math.floor(units / stepUnits + 1e-9);
  return Number(((n * stepUnits) / 10 ** d).toFixed(d));
}

/** Smallest multiple of `step` that is ≥ x. */
export function ceilToStep(x: number, step: number): number {
  if (step <= 0) return x;
  const { units, stepUnits, d } = scaled(x, step);
  const n = Math.ceil(units / stepUnits - 1e-9);
  return Number(((n * stepUnits) / 10 ** d).toFixed(d));
}

/** Nearest multiple of `tick` (prices). */
export function roundToTick(x: number, tick: number): number {
  if (tick <= 0) return x;
  const { units, stepUnits, d } = scaled(x, tick);
  const n = Math.round(units / stepUnits);
  return Number(((n * stepUnits) / 10 ** d).toFixed(d));
}

/** True when x is a whole multiple of step (within float noise). */
export function isMultipleOf(x: number, step: number): boolean {
  if (step <= 0) return true;
  return Math.abs(floorToStep(x, step) - x) < step * 1e-6 || Math.abs(ceilToStep(x, step) - x) < step * 1e-6;
}

/** Formats a number with the step's decimals (for order payloads and details). */
export function formatToStep(x: number, step: number): string {
  return x.toFixed(Math.min(decimalsOf(step), 12));
}

/**
 * Decimal arithmetic on a number's exact decimal text (no float rounding), as Binance reads
 * the `quantity`/`price` it is sent: a value is `units / 10^scale` with integer units.
 * `0.1 + 0.2` is `30000000000000004 / 10^17`, which is why float noise sent to Binance is
 * refused -1111 (Binance_Futures_python#135; ccxt/go-binance#615).
 */
export interface Decimal {
  units: bigint;
  scale: number;
}

/**
 * The exact decimal of `x` (a finite number, through its shortest round-trip text, or a
 * decimal string such as Binance's `"0.00100000"`). Throws TypeError on anything else.
 */
export function toDecimal(x: number | string): Decimal {
  const hit = decimalCache.get(x);
  if (hit) return hit;
  const d = parseDecimal(x);
  // Pure and small: the rules' own figures and the usual quantities repeat order after order.
  if (decimalCache.size >= 10000) decimalCache.clear();
  decimalCache.set(x, d);
  return d;
}

const decimalCache = new Map<number | string, Decimal>();

function parseDecimal(x: number | string): Decimal {
  let s = typeof x === 'number' ? numberText(x) : x.trim();
  if (!/^[+-]?\d+(\.\d*)?$/.test(s) && !/^[+-]?\.\d+$/.test(s)) throw new TypeError(`not a decimal number: ${JSON.stringify(x)}`);
  const neg = s.startsWith('-');
  s = s.replace(/^[+-]/, '');
  let [int, frac = ''] = s.split('.');
  frac = frac.replace(/0+$/, '');
  const units = BigInt((int || '0') + frac);
  return { units: neg ? -units : units, scale: frac.length };
}

/** A finite number as plain decimal text (no exponent): 1e-7 → "0.0000001". */
export function numberText(x: number): string {
  if (!Number.isFinite(x)) throw new TypeError(`not a finite number: ${x}`);
  const s = String(x);
  if (!/e/i.test(s)) return s;
  const [m, e] = s.toLowerCase().split('e');
  const exp = Number(e);
  const neg = m.startsWith('-');
  const [i, f = ''] = m.replace('-', '').split('.');
  const digits = i + f;
  const point = i.length + exp;
  let out: string;
  if (point <= 0) out = '0.' + '0'.repeat(-point) + digits;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = digits.slice(0, point) + '.' + digits.slice(point);
  return (neg ? '-' : '') + out;
}

/** Number of decimal places of `x`'s exact text (0.0015 → 4; 0.30000000000000004 → 17). */
export function decimalPlaces(x: number | string): number {
  if (typeof x === 'number') {
    // numberText is the shortest round-trip text: no trailing zeros to strip.
    const t = numberText(x);
    const dot = t.indexOf('.');
    return dot < 0 ? 0 : t.length - dot - 1;
  }
  return toDecimal(x).scale;
}

const POW10: bigint[] = [];
/** 10^n as a bigint (n ≥ 0), cached. */
function pow10(n: number): bigint {
  let p = POW10[n];
  if (p === undefined) {
    p = 10n ** BigInt(n);
    if (n < 64) POW10[n] = p;
  }
  return p;
}

function align(a: Decimal, b: Decimal): [bigint, bigint] {
  const s = Math.max(a.scale, b.scale);
  return [a.units * pow10(s - a.scale), b.units * pow10(s - b.scale)];
}

/** Exact comparison: -1, 0, 1. */
export function compareDecimal(a: number | string, b: number | string): number {
  // Two numbers: their exact texts (numberText, the shortest round-trip) order exactly as the
  // doubles do, since each text reads back as that very double and decimal → double is monotonic.
  if (typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b)) return a < b ? -1 : a > b ? 1 : 0;
  const [x, y] = align(toDecimal(a), toDecimal(b));
  return x < y ? -1 : x > y ? 1 : 0;
}

/** True when (x − base) is an exact whole multiple of step (Binance: `(qty − minQty) % stepSize == 0`). */
export function isExactMultiple(x: number | string, step: number | string, base: number | string = 0): boolean {
  const st = toDecimal(step);
  if (st.units <= 0n) return true;
  const xb = toDecimal(x);
  const bb = toDecimal(base);
  const s = Math.max(xb.scale, bb.scale, st.scale);
  const k = (d: Decimal) => d.units * pow10(s - d.scale);
  return (k(xb) - k(bb)) % k(st) === 0n;
}

/** x quantized DOWN to a multiple of step with exact decimal arithmetic; returns the exact decimal text. */
export function floorToStepText(x: number | string, step: number | string): string {
  const st = toDecimal(step);
  const xd = toDecimal(x);
  const s = Math.max(xd.scale, st.scale);
  const xu = xd.units * 10n ** BigInt(s - xd.scale);
  const su = st.units * 10n ** BigInt(s - st.scale);
  if (su <= 0n) return numberText(Number(x));
  let q = xu / su;
  if (xu < 0n && q * su !== xu) q -= 1n;
  return decimalText(q * su, s);
}

/** units / 10^scale as plain decimal text without trailing zeros. */
export function decimalText(units: bigint, scale: number): string {
  const neg = units < 0n;
  let d = (neg ? -units : units).toString().padStart(scale + 1, '0');
  let out = scale > 0 ? `${d.slice(0, d.length - scale)}.${d.slice(d.length - scale)}` : d;
  if (out.includes('.')) out = out.replace(/0+$/, '').replace(/\.$/, '');
  return (neg && out !== '0' ? '-' : '') + out;
}
