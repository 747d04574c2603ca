/**
 * The positions audit: every `{prefix}:position:*` hash classified (position, ledger,
 * snapshot), ghosts (CONTRACT.md §2) with why, the real open count against the policy's
 * limit, and engine positions against the exchange's snapshots (drift).
 */
import type { Names } from '../contract/names.js';
import { ghostReason, readPosition, readSnapshot, toNum } from '../contract/state.js';
import type { GhostKey, PositionRow, PositionsSummary } from './read-model.js';

/**
 * `ledgerUpdated`: ledger key → updated_at, for symbols whose snapshot shows a position the
 * engine does not have. `ledgerKeysSeen`: ledger keys seen but not read (they are only
 * counted; a ledger key in `hashes` counts too).
 */
export function positionsSummary(
  names: Names, hashes: Map<string, Record<string, string>>, limit: number | null,
  ledgerUpdated: Map<string, number> = new Map(), ledgerKeysSeen = 0,
  /** false: ghosts in scan order (a health check only counts them; sorting 50k keys costs ~40 ms) */
  sortGhosts = true,
): PositionsSummary {
  const ghosts: GhostKey[] = [];
  const positions = new Map<string, Record<string, string>>();
  const snapshots = new Map<string, Record<string, string>>();
  let positionKeys = 0;
  let ledgerKeys = ledgerKeysSeen;
  let snapshotKeys = 0;
  for (const [key, h] of hashes) {
    const c = names.classifyPositionKey(key);
    if (!c) continue;
    if (c.kind === 'ledger') {
      ledgerKeys++;
      continue;
    }
    if (c.kind === 'snapshot') snapshotKeys++;
    else positionKeys++;
    const why = ghostReason(c.kind, h);
    if (why) ghosts.push({ key, kind: c.kind, reason: why });
    else if (c.kind === 'position') positions.set(c.symbol, h);
    else snapshots.set(c.symbol, h);
  }
  const rows: PositionRow[] = [];
  const anySnapshots = snapshots.size > 0;
  const newestSnapshot = Math.max(0, ...[...snapshots.values()].map((h) => readSnapshot(h)?.ts ?? 0));
  for (const [symbol, h] of [...positions].sort(([a], [b]) => a.localeCompare(b))) {
    const p = readPosition(symbol, h);
    if (!p) continue; // negative qty etc.: neither open nor ghost
    const sh = snapshots.get(symbol);
    const snap = sh ? readSnapshot(sh) : null;
    const mark = snap && snap.mark_price > 0 ? snap.mark_price : null;
    const upnl = snap ? snap.unrealized_pnl : mark !== null ? (mark - p.entry_price) * p.qty * (p.side === 'LONG' ? 1 : -1) : null;
    let drift: string | null = null;
    if (snap && snap.ts > 0 && p.updated_at > 0 && snap.ts < p.updated_at) {
      drift = null; // the exchange snapshot predates the position's last change: not comparable yet
    } else if (snap) {
      if (snap.side !== 'FLAT' && snap.side !== p.side) drift = `side: engine ${p.side}, exchange ${snap.side}`;
      else if (snap.qty === 0) drift = `exchange reports no position (engine ${p.side} ${p.qty})`;
      else if (Math.abs(snap.qty - p.qty) > Math.max(1e-9, p.qty * 1e-6)) drift = `qty: engine ${p.qty}, exchange ${snap.qty}`;
    } else if (anySnapshots && !(p.updated_at > 0 && p.updated_at > newestSnapshot)) drift = `exchange reports no position (engine ${p.side} ${p.qty})`;
    rows.push({
      symbol,
      side: p.side,
      qty: p.qty,
      entry_price: p.entry_price,
      mark_price: mark,
      unrealized_pnl: upnl,
      r_multiple: upnl !== null && p.initial_risk_usd > 0 ? upnl / p.initial_risk_usd : null,
      leverage: p.leverage,
      snapshot: snap ? { side: snap.side, qty: snap.qty, entry_price: snap.entry_price, mark_price: snap.mark_price, ts: snap.ts } : null,
      drift,
    });
  }
  const exchangeOnly: PositionsSummary['exchange_only'] = [];
  for (const [symbol, h] of snapshots) {
    if (positions.has(symbol)) continue;
    const s = readSnapshot(h);
    // The engine closed it after this snapshot was taken: the reconciler has not polled since.
    if (s && s.ts > 0 && (ledgerUpdated.get(names.ledger(symbol)) ?? 0) > s.ts) continue;
    if (s && s.qty > 0) exchangeOnly.push({ symbol, side: s.side, qty: s.qty });
  }
  exchangeOnly.sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  return {
    open: rows.length,
    limit,
    position_keys: positionKeys,
    ledger_keys: ledgerKeys,
    snapshot_keys: snapshotKeys,
    ghosts: sortGhosts ? ghosts.sort(byKey) : ghosts,
    rows,
    exchange_only: exchangeOnly,
    scanned_keys: hashes.size + ledgerKeysSeen,
  };
}

export function policyLimit(h: Record<string, string> | null): number | null {
  if (!h || h.max_open_positions === undefined) return null;
  const n = toNum(h.max_open_positions);
  return Number.isFinite(n) ? n : null;
}

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** The `n` ghosts with the smallest keys, sorted, without sorting all of them. */
export function firstGhosts<T extends { key: string }>(ghosts: T[], n: number): T[] {
  const best: T[] = [];
  for (const g of ghosts) {
    if (best.length === n && byKey(g, best[n - 1]!) >= 0) continue;
    let i = best.length;
    while (i > 0 && byKey(g, best[i - 1]!) < 0) i--;
    best.splice(i, 0, g);
    if (best.length > n) best.pop();
  }
  return best;
}
