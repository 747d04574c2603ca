/**
 * Exit decisions for one open position, from its mark price: pure functions, no Redis.
 *
 * Checks in order, each either decides an exit or passes:
 *   1. emergency: R ≤ emergencyR (the seeds closed AEVOUSDT at R = -2.16)  → CLOSE
 *   2. stop loss: the mark crossed `sl_price`                              → CLOSE
 *   3. take profit: the mark crossed `tp_price`                            → CLOSE
 *   4. trailing stop (after the ladder): the mark fell `trailR` behind the best price → CLOSE
 *   5. ladder: R ≥ the next step's R                                        → partial exit
 *
 * R is measured per unit so that it stays the same after partial exits:
 * R = (mark − entry) × direction ÷ riskPerUnit, where riskPerUnit is the position's
 * `initial_risk_usd` ÷ its quantity when first seen (so R = unrealised PnL ÷
 * initial_risk_usd on the full position), or |entry − sl| when no risk is recorded.
 */
import type { PositionState } from '../../contract/state.js';
import { floorToStep } from '../exchange/precision.js';

export interface LadderStep {
  /** R multiple that triggers the step. */
  r: number;
  /** Fraction of the position's original quantity to close (0..1). */
  fraction: number;
}

export interface ExitConfig {
  ladder: LadderStep[];
  /** Trailing distance behind the best price, in R; 0 turns the trail off. */
  trailR: number;
  /** Adverse R that closes at once (negative). */
  emergencyR: number;
  /** How long an exit may stay in flight before it is considered lost and may be re-sent. */
  inFlightTimeoutMs: number;
}

export const DEFAULT_EXIT_CONFIG: ExitConfig = {
  ladder: [
    { r: 1, fraction: 0.25 },
    { r: 2, fraction: 0.25 },
  ],
  trailR: 1,
  emergencyR: -1.5,
  inFlightTimeoutMs: 30_000,
};

/** Step and minimum of market orders (what exits send). */
export interface QtyRules {
  step: number;
  minQty: number;
}

/** harvest_brain's memory of one position (`names.exitState(sym)`). */
export interface ExitState {
  /** Identifies the position the state belongs to (opened_at|side). */
  position_ref: string;
  orig_qty: number;
  risk_per_unit: number;
  steps_done: number;
  best_price: number;
  inflight_id: string;
  inflight_ts: number;
  /** The position's qty when the exit was sent: a change means it was executed. */
  inflight_qty: number;
  /** Ladder step index the in-flight exit completes, or -1. */
  inflight_step: number;
}

export type ExitAction = 'CLOSE' | 'PARTIAL_25' | 'PARTIAL_50' | 'PARTIAL_75';

export interface ExitDecision {
  action: ExitAction;
  /** Explicit quantity for partial exits; undefined = close whatever is open. */
  qty?: number;
  reason: string;
  /** Ladder step completed when this exit executes, or -1. */
  step: number;
  r: number;
}

export function positionRef(p: PositionState): string {
  return `${p.opened_at}|${p.side}`;
}

export function freshState(p: PositionState, mark: number): ExitState {
  const byRisk = p.initial_risk_usd > 0 && p.qty > 0 ? p.initial_risk_usd / p.qty : 0;
  const bySl = p.sl_price > 0 ? Math.abs(p.entry_price - p.sl_price) : 0;
  return {
    position_ref: positionRef(p),
    orig_qty: p.qty,
    risk_per_unit: byRisk > 0 ? byRisk : bySl,
    steps_done: 0,
    best_price: mark > 0 ? mark : p.entry_price,
    inflight_id: '',
    inflight_ts: 0,
    inflight_qty: 0,
    inflight_step: -1,
  };
}

export function rMultiple(p: PositionState, s: ExitState, mark: number): number {
  if (!(s.risk_per_unit > 0)) return NaN;
  const dir = p.side === 'LONG' ? 1 : -1;
  return ((mark - p.entry_price) * dir) / s.risk_per_unit;
}

/**
 * Updates the state for a new observation: a new position resets it, an executed exit
 * (qty changed) completes its ladder step, a lost exit (timeout) is cleared, and the best
 * price moves with the mark. Returns the new state and whether an exit is still in flight.
 */
export function observe(prev: ExitState | null, p: PositionState, mark: number, now: number, cfg: ExitConfig): { state: ExitState; inFlight: boolean } {
  let s = prev && prev.position_ref === positionRef(p) ? { ...prev } : freshState(p, mark);
  if (s.inflight_id) {
    if (Math.abs(p.qty - s.inflight_qty) > 1e-12) {
      if (s.inflight_step >= 0) s.steps_done = Math.max(s.steps_done, s.inflight_step + 1);
      s = { ...s, inflight_id: '', inflight_ts: 0, inflight_qty: 0, inflight_step: -1 };
    } else if (now - s.inflight_ts >= cfg.inFlightTimeoutMs) {
      s = { ...s, inflight_id: '', inflight_ts: 0, inflight_qty: 0, inflight_step: -1 };
    }
  }
  if (mark > 0) s.best_price = p.side === 'LONG' ? Math.max(s.best_price, mark) : Math.min(s.best_price || mark, mark);
  return { state: s, inFlight: !!s.inflight_id };
}

/** The trailing stop price once the ladder is done, or NaN while it is not active. */
export function trailStop(p: PositionState, s: ExitState, cfg: ExitConfig): number {
  if (!(cfg.trailR > 0) || !(s.risk_per_unit > 0) || s.steps_done < cfg.ladder.length) return NaN;
  const dir = p.side === 'LONG' ? 1 : -1;
  return s.best_price - dir * cfg.trailR * s.risk_per_unit;
}

/**
 * A valid partial quantity: rounded down to the step, at least the minimum, and never
 * leaving a remainder below the minimum (then the whole position is closed instead).
 * Returns undefined for "close everything".
 */
export function partialQty(openQty: number, wanted: number, r: QtyRules): number | undefined {
  let q = floorToStep(Math.min(wanted, openQty), r.step);
  if (q < r.minQty) q = r.minQty;
  const rest = floorToStep(openQty - q, r.step);
  if (q >= openQty || rest < r.minQty || rest <= 0) return undefined;
  return q;
}

/** The PARTIAL_xx label nearest to a fraction of the open quantity (the qty is explicit). */
export function partialLabel(fraction: number): ExitAction {
  if (fraction >= 0.625) return 'PARTIAL_75';
  if (fraction >= 0.375) return 'PARTIAL_50';
  return 'PARTIAL_25';
}

const fmtR = (r: number) => (Number.isFinite(r) ? r.toFixed(2) : 'n/a');

/** The exit to send now, or null. Call only when no exit is in flight. */
export function decideExit(p: PositionState, s: ExitState, mark: number, cfg: ExitConfig, rules: QtyRules): ExitDecision | null {
  if (!(mark > 0) || !(p.qty > 0)) return null;
  const long = p.side === 'LONG';
  const r = rMultiple(p, s, mark);
  const close = (reason: string): ExitDecision => ({ action: 'CLOSE', reason, step: -1, r });

  if (Number.isFinite(r) && r <= cfg.emergencyR) return close(`emergency R=${fmtR(r)} (limit ${cfg.emergencyR})`);
  if (p.sl_price > 0 && (long ? mark <= p.sl_price : mark >= p.sl_price)) return close(`sl: mark ${mark} crossed stop ${p.sl_price} (R=${fmtR(r)})`);
  if (p.tp_price > 0 && (long ? mark >= p.tp_price : mark <= p.tp_price)) return close(`tp: mark ${mark} reached take profit ${p.tp_price} (R=${fmtR(r)})`);
  const trail = trailStop(p, s, cfg);
  if (Number.isFinite(trail) && (long ? mark <= trail : mark >= trail)) {
    return close(`trail: mark ${mark} fell ${cfg.trailR}R behind best ${s.best_price} (stop ${+trail.toFixed(8)}, R=${fmtR(r)})`);
  }
  const step = cfg.ladder[s.steps_done];
  if (step && Number.isFinite(r) && r >= step.r) {
    const wanted = s.orig_qty * step.fraction;
    const q = partialQty(p.qty, wanted, rules);
    const reason = `ladder_${step.r}r: R=${fmtR(r)} ≥ ${step.r}, ${Math.round(step.fraction * 100)}% of ${s.orig_qty}`;
    if (q === undefined) return { action: 'CLOSE', reason: reason + ' (remainder below min qty: closing whole)', step: s.steps_done, r };
    return { action: partialLabel(q / p.qty), qty: q, reason, step: s.steps_done, r };
  }
  return null;
}

/** Parses `1:0.25,2:0.25` (R:fraction pairs) into ladder steps. */
export function parseLadder(spec: string): LadderStep[] {
  const steps = spec.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    const m = /^(\d+(?:\.\d+)?)\s*:\s*(0?\.\d+|1(?:\.0+)?)$/.exec(x);
    if (!m) throw new Error(`ladder step ${JSON.stringify(x)}: expected R:fraction like 1:0.25`);
    return { r: Number(m[1]), fraction: Number(m[2]) };
  });
  for (let i = 1; i < steps.length; i++) if (steps[i].r <= steps[i - 1].r) throw new Error('ladder steps must have increasing R');
  return steps;
}

export function stateToHash(s: ExitState): Record<string, string> {
  const o: Record<string, string> = {};
  for (const [k, v] of Object.entries(s)) o[k] = String(v);
  return o;
}

export function stateFromHash(h: Record<string, string> | null | undefined): ExitState | null {
  if (!h || !h.position_ref) return null;
  const n = (k: string, d = 0) => (Number.isFinite(Number(h[k])) && h[k] !== '' ? Number(h[k]) : d);
  return {
    position_ref: h.position_ref,
    orig_qty: n('orig_qty'),
    risk_per_unit: n('risk_per_unit'),
    steps_done: n('steps_done'),
    best_price: n('best_price'),
    inflight_id: h.inflight_id ?? '',
    inflight_ts: n('inflight_ts'),
    inflight_qty: n('inflight_qty'),
    inflight_step: n('inflight_step', -1),
  };
}
