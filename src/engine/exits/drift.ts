/**
 * Drift between the engine's positions and the exchange's (pure): which symbols differ
 * in side or quantity, and what each reconcile policy does about it.
 */
import type { PositionState } from '../../contract/state.js';
import type { ExchangePosition } from '../exchange/types.js';

export type DriftKind = 'missing_on_exchange' | 'missing_in_engine' | 'side_mismatch' | 'qty_mismatch';

export interface Drift {
  symbol: string;
  kind: DriftKind;
  engine?: { side: 'LONG' | 'SHORT'; qty: number };
  exchange?: { side: 'LONG' | 'SHORT'; qty: number };
}

export function findDrift(engine: PositionState[], exchange: ExchangePosition[], tolerance = (_s: string) => 1e-9): Drift[] {
  const eng = new Map(engine.filter((p) => p.qty > 0).map((p) => [p.symbol, p]));
  const ex = new Map(exchange.filter((p) => Math.abs(p.qty) > 0).map((p) => [p.symbol, p]));
  const out: Drift[] = [];
  for (const sym of [...new Set([...eng.keys(), ...ex.keys()])].sort()) {
    const e = eng.get(sym);
    const x = ex.get(sym);
    const ev = e ? { side: e.side, qty: e.qty } : undefined;
    const xv = x ? { side: x.side, qty: Math.abs(x.qty) } : undefined;
    if (ev && !xv) out.push({ symbol: sym, kind: 'missing_on_exchange', engine: ev });
    else if (!ev && xv) out.push({ symbol: sym, kind: 'missing_in_engine', exchange: xv });
    else if (ev && xv && ev.side !== xv.side) out.push({ symbol: sym, kind: 'side_mismatch', engine: ev, exchange: xv });
    else if (ev && xv && Math.abs(ev.qty - xv.qty) > tolerance(sym)) out.push({ symbol: sym, kind: 'qty_mismatch', engine: ev, exchange: xv });
  }
  return out;
}

const side = (v?: { side: string; qty: number }) => (v ? `${v.side} ${v.qty}` : 'none');

export function describeDrift(d: Drift): string {
  return `${d.symbol} engine ${side(d.engine)} vs exchange ${side(d.exchange)}`;
}

export type ReconcilePolicy = 'report' | 'adopt' | 'close';

export type ReconcileAction =
  | { kind: 'adopt'; symbol: string; exchange: { side: 'LONG' | 'SHORT'; qty: number } }
  | { kind: 'forget'; symbol: string }
  | { kind: 'close'; symbol: string; qty: number; side: 'LONG' | 'SHORT'; whole: boolean };

/**
 * What a policy does about each drift:
 * - report: nothing (the drift is reported in the heartbeat).
 * - adopt: the engine takes the exchange's position; a position the exchange does not
 *   have is removed from the engine.
 * - close: what the exchange holds beyond the engine's position is closed (RECONCILE,
 *   reduceOnly) through the pipeline: the engine first adopts the exchange's position (so
 *   the pipeline has it to close), then closes all of it when the engine had none or the
 *   other side, or the excess when the exchange holds more; a position the exchange does
 *   not have is removed; an exchange holding less is adopted.
 */
export function planReconcile(drift: Drift[], policy: ReconcilePolicy): ReconcileAction[] {
  if (policy === 'report') return [];
  const out: ReconcileAction[] = [];
  for (const d of drift) {
    if (d.kind === 'missing_on_exchange') {
      out.push({ kind: 'forget', symbol: d.symbol });
      continue;
    }
    const x = d.exchange!;
    out.push({ kind: 'adopt', symbol: d.symbol, exchange: x });
    if (policy !== 'close') continue;
    if (d.kind === 'missing_in_engine' || d.kind === 'side_mismatch') out.push({ kind: 'close', symbol: d.symbol, qty: x.qty, side: x.side, whole: true });
    else if (x.qty > d.engine!.qty) out.push({ kind: 'close', symbol: d.symbol, qty: x.qty - d.engine!.qty, side: x.side, whole: false });
  }
  return out;
}
