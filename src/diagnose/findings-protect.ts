/**
 * Protective stops (issue 18; docs/exits-and-risk.md "Stops on the exchange"), from Redis alone:
 * each open engine position's `{prefix}:protect:{SYMBOL}` record, its mark (`price:{SYMBOL}`),
 * and on the paper exchange the resting order itself (`paper:algo:{clientAlgoId}`).
 *
 * POSITION_UNPROTECTED (crit): an open position with no resting stop for longer than the grace
 * period (QT_STOP_GRACE_MS, default 10 s: placement takes milliseconds, a crash is repaired by
 * harvest_brain within a second), a stop that belongs to another (older) position, a stop the
 * paper exchange no longer holds, or a stop on the wrong side of the mark (a LONG's SELL stop at or
 * above the mark should have fired: it protects nothing). A reduce-only stop with a quantity (the
 * gapless move's form, src/engine/protect/stops.ts) protects the position when its quantity is at
 * least the position's; a smaller one is partial protection, reported once it outlives the grace
 * period from the position's last change (harvest_brain brings it to the new quantity within a second).
 */
import type { Names } from '../contract/names.js';
import type { Finding, PipelineSnapshot } from './read-model.js';
import type { Cmd, Reader } from './redis-read.js';

/** What the console and the finding show of one position's stop (times epoch ms, prices USD). */
export interface StopView {
  /** PLACING | ACTIVE | REPLACING | LOST | TRIGGERED | FAILED, or NONE when there is no record */
  status: string;
  stop_price: number | null;
  client_algo_id: string;
  /** the position the record protects (`opened_at|side`) matches the engine's */
  matches: boolean;
  /** the paper exchange's state of the order (null: not the paper exchange, or unknown) */
  exchange_status: string | null;
  /** when the paper exchange's order last changed (epoch ms), null when unknown */
  exchange_updated_at: number | null;
  placed_at: number | null;
  /** fill → first stop resting, ms */
  rest_ms: number | null;
  error: string;
  /** the position's opened_at (for the grace period) */
  opened_at: number;
  /** the live mark from `price:{SYMBOL}` */
  mark: number | null;
  /** the resting stop's reduce-only quantity (base asset); null or 0: closePosition (the whole position) */
  quantity?: number | null;
  /** the engine position's quantity (base asset) */
  position_qty?: number | null;
  /** when the engine position last changed (epoch ms; a partial close, an add) */
  position_updated_at?: number | null;
}

export interface ProtectState {
  /** by symbol, for every open engine position */
  stops: Record<string, StopView>;
  /** the grace period used, ms */
  grace_ms: number;
}

const num = (v: unknown): number | null => (v !== undefined && v !== null && v !== '' && Number.isFinite(Number(v)) ? Number(v) : null);
const hashOf = (v: unknown): Record<string, string> => {
  if (!v) return {};
  if (Array.isArray(v)) {
    const o: Record<string, string> = {};
    for (let i = 0; i + 1 < v.length; i += 2) o[String(v[i])] = String(v[i + 1]);
    return o;
  }
  return v as Record<string, string>;
};

/**
 * Reads the records, marks and (paper) orders of these open positions: two round trips.
 * `positions`: symbol → the position hash (opened_at, side).
 */
export async function readProtectState(rd: Reader, names: Names, positions: Map<string, Record<string, string>>, graceMs: number): Promise<ProtectState> {
  const syms = [...positions.keys()];
  const stops: Record<string, StopView> = {};
  if (!syms.length) return { stops, grace_ms: graceMs };
  const first = await rd.batch(syms.flatMap((s): Cmd[] => [['hgetall', names.protect(s)], ['hmget', names.price(s), 'mark', 'price']]), { quiet: true });
  const recs = syms.map((_, i) => hashOf(first[2 * i]?.val));
  const second = await rd.batch(recs.map((h): Cmd => ['hmget', names.paperAlgo(h.client_algo_id || '-'), 'status', 'updated_at']), { quiet: true });
  syms.forEach((s, i) => {
    const h = recs[i];
    const pos = positions.get(s)!;
    const px = (first[2 * i + 1]?.val ?? []) as (string | null)[];
    const mark = num(px[0]) ?? num(px[1]);
    const side = (pos.side ?? '').toUpperCase() === 'SHORT' || (pos.side ?? '').toUpperCase() === 'SELL' ? 'SHORT' : 'LONG';
    const ref = `${num(pos.opened_at) ?? 0}|${side}`;
    const [ex, exAt] = (Array.isArray(second[i]?.val) ? second[i]!.val : []) as (string | null)[];
    stops[s] = {
      status: h.status || 'NONE',
      stop_price: num(h.stop_price),
      client_algo_id: h.client_algo_id ?? '',
      matches: !!h.status && h.position_ref === ref,
      exchange_status: typeof ex === 'string' && ex ? ex : null,
      exchange_updated_at: num(exAt),
      placed_at: num(h.placed_at),
      rest_ms: num(h.rest_ms),
      error: h.error ?? '',
      opened_at: num(pos.opened_at) ?? num(pos.updated_at) ?? 0,
      mark,
      quantity: num(h.quantity) || null,
      position_qty: num(pos.qty) === null ? null : Math.abs(num(pos.qty)!),
      position_updated_at: num(pos.updated_at),
    };
  });
  return { stops, grace_ms: graceMs };
}

/** Why a position counts as unprotected now, or null (see the module comment). */
export function unprotectedReason(sym: string, side: 'LONG' | 'SHORT', v: StopView, now: number, graceMs: number): string | null {
  const age = v.opened_at > 0 ? now - v.opened_at : Infinity;
  const resting = v.matches && (v.status === 'ACTIVE' || v.status === 'REPLACING') && (v.exchange_status === null || v.exchange_status === 'NEW');
  if (resting && v.stop_price !== null && v.mark !== null && (side === 'LONG' ? v.stop_price >= v.mark : v.stop_price <= v.mark)) {
    return `${sym} ${side}: its stop ${v.stop_price} is on the wrong side of the mark ${v.mark} (a ${side === 'LONG' ? 'SELL' : 'BUY'} stop must be ${side === 'LONG' ? 'below' : 'above'} it)`;
  }
  if (resting && v.quantity && v.position_qty && v.quantity < v.position_qty - 1e-12) {
    const since = v.position_updated_at ? now - v.position_updated_at : age;
    if (since <= graceMs) return null;
    return `${sym} ${side}: only partly protected: its stop ${v.client_algo_id} closes ${v.quantity} of ${v.position_qty} (reduce-only quantity below the position's)`;
  }
  if (resting) return null;
  // Grace from the latest change: the position's opening, or the exchange dropping its stop.
  const since = v.matches && v.exchange_status && v.exchange_status !== 'NEW' && v.exchange_updated_at ? Math.min(age, now - v.exchange_updated_at) : age;
  if (since <= graceMs) return null;
  const secs = Number.isFinite(age) ? `${Math.round(age / 1000)} s` : 'an unknown time';
  if (v.status === 'NONE') return `${sym} ${side}: no stop resting on the exchange, open ${secs}`;
  if (!v.matches) return `${sym} ${side}: its stop record belongs to another position (open ${secs})`;
  if (v.exchange_status && v.exchange_status !== 'NEW') return `${sym} ${side}: stop ${v.client_algo_id} is ${v.exchange_status} on the exchange`;
  return `${sym} ${side}: stop ${v.status}${v.error ? ` (${v.error.slice(0, 120)})` : ''}, open ${secs}`;
}

export function protectFindings(snap: PipelineSnapshot): Finding[] {
  const st = snap.protect;
  if (!st) return [];
  const bad: { symbol: string; reason: string }[] = [];
  for (const row of snap.positions.rows) {
    const v = st.stops[row.symbol];
    if (!v) continue;
    const why = unprotectedReason(row.symbol, row.side, v, snap.generated_at, st.grace_ms);
    if (why) bad.push({ symbol: row.symbol, reason: why });
  }
  if (!bad.length) return [];
  return [{
    code: 'POSITION_UNPROTECTED', severity: 'crit', subject: 'positions',
    message: `${bad.length} open position(s) without a working stop on the exchange: ${bad.slice(0, 4).map((b) => b.reason).join('; ')}`,
    evidence: { positions: bad.map((b) => ({ symbol: b.symbol, reason: b.reason, stop: st.stops[b.symbol] })), grace_ms: st.grace_ms },
    fix: 'run harvest_brain (it places and repairs protective stops every second) with QT_STOP_ON_EXCHANGE=true; `qt orders` lists what rests on the exchange; a stop on the wrong side of the mark: close the position (`qt close SYMBOL`)',
  }];
}
