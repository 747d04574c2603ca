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
