/**
 * apply_layer's gate chain, as pure checks over a plan and a view of the state. Each
 * gate passes or returns a rejection whose detail names its numbers
 * (`open 10 >= limit 10`), read top to bottom like a checklist. No gate touches Redis.
 */
import type { ReasonCode } from '../../contract/codes.js';
import type { ApplyPlan } from '../../contract/messages.js';
import type { Policy, PositionState } from '../../contract/state.js';
import { openedSide, reducingSide } from './actions.js';
import { entryExpiry, originOf, staleExitCheck } from './age-gate.js';

/** An approval not yet reflected in the position hashes (in this batch or in flight). */
export interface PendingApproval {
  planId: string;
  symbol: string;
  kind: 'entry' | 'exit';
  qty: number;
  notional: number;
  /** The symbol's open qty when approved (0: no position). Counted while the qty is unchanged. */
  basisQty: number;
  at: number;
}

export interface ApplyView {
  now: number;
  policy: Policy;
  /** The kill switch's value, or null when off. */
  killSwitch: string | null;
  /** plan id → permit id, for plans that already hold a permit (or got one in this batch). */
  permits: Map<string, string>;
  /** Open positions: `position:{SYMBOL}` hashes with qty > 0, nothing else. */
  positions: Map<string, PositionState>;
  /** Approvals not yet reflected in the positions. */
  pending: PendingApproval[];
}

export type GateResult = { pass: true } | { pass: false; reason: ReasonCode; detail: string };
export interface Gate {
  name: string;
  appliesTo: 'entry' | 'exit' | 'all';
  check(plan: ApplyPlan, v: ApplyView): GateResult;
}

const PASS: GateResult = { pass: true };
const deny = (reason: ReasonCode, detail: string): GateResult => ({ pass: false, reason, detail });
const usd = (n: number) => n.toFixed(2);
const isEntry = (p: ApplyPlan) => p.action === 'OPEN';

/**
 * Aggregates of the live approvals of a view, kept per view and extended as approvals are
 * pushed (a batch's positions do not change, so an item's liveness is fixed): each gate
 * then costs O(1) instead of a scan of every approval in flight.
 */
interface PendingIndex {
  seen: number;
  live: PendingApproval[];
  bySymbol: Map<string, { entryNotional: number; exitQty: number; freshEntry: boolean }>;
  totalEntryNotional: number;
  /** symbols with an approved opening entry and no position yet */
  freshSymbols: Set<string>;
}
const indexes = new WeakMap<ApplyView, PendingIndex>();

function pendingIndex(v: ApplyView): PendingIndex {
  let ix = indexes.get(v);
  if (!ix || ix.seen > v.pending.length) {
    ix = { seen: 0, live: [], bySymbol: new Map(), totalEntryNotional: 0, freshSymbols: new Set() };
    indexes.set(v, ix);
  }
  for (; ix.seen < v.pending.length; ix.seen++) {
    const a = v.pending[ix.seen];
    if ((v.positions.get(a.symbol)?.qty ?? 0) !== a.basisQty) continue;
    ix.live.push(a);
    const agg = ix.bySymbol.get(a.symbol) ?? { entryNotional: 0, exitQty: 0, freshEntry: false };
    if (a.kind === 'entry') {
      agg.entryNotional += a.notional;
      ix.totalEntryNotional += a.notional;
      if (a.basisQty === 0) {
        agg.freshEntry = true;
        if (!v.positions.has(a.symbol)) ix.freshSymbols.add(a.symbol);
      }
    } else agg.exitQty += a.qty;
    ix.bySymbol.set(a.symbol, agg);
  }
  return ix;
}

/** Approvals still in flight for a symbol (its position unchanged since they were made). */
export function livePending(v: ApplyView, symbol?: string): PendingApproval[] {
  const live = pendingIndex(v).live;
  return symbol === undefined ? live : live.filter((a) => a.symbol === symbol);
}

export function positionNotional(p: PositionState): number {
  return p.qty * p.entry_price;
}

/** Open positions plus symbols approved for opening that have no position yet. */
export function openCount(v: ApplyView): { open: number; pendingNew: number } {
  return { open: v.positions.size, pendingNew: pendingIndex(v).freshSymbols.size };
}

/** The exit quantity still closable: open qty minus exits already approved. */
export function closableQty(v: ApplyView, symbol: string): number {
  const pos = v.positions.get(symbol);
  if (!pos) return 0;
  const approved = pendingIndex(v).bySymbol.get(symbol)?.exitQty ?? 0;
  return Math.max(0, pos.qty - approved);
}

function symbolExposure(v: ApplyView, symbol: string): number {
  const pos = v.positions.get(symbol);
  const open = pos ? positionNotional(pos) : 0;
  return open + (pendingIndex(v).bySymbol.get(symbol)?.entryNotional ?? 0);
}

function totalExposure(v: ApplyView): number {
  let t = 0;
  for (const p of v.positions.values()) t += positionNotional(p);
  return t + pendingIndex(v).totalEntryNotional;
}

export const GATES: Gate[] = [
  {
    name: 'action_consistent',
    appliesTo: 'all',
    check: (p) =>
      isEntry(p) === !p.reduceOnly
        ? PASS
        : deny('action_unknown_variant', `action ${p.action} with reduceOnly=${p.reduceOnly}: ${isEntry(p) ? 'an entry is never reduce-only' : 'an exit must be reduce-only'}`),
  },
  {
    name: 'not_duplicate',
    appliesTo: 'all',
    check: (p, v) => (v.permits.has(p.plan_id) ? deny('duplicate', `plan ${p.plan_id} already approved (permit ${v.permits.get(p.plan_id)})`) : PASS),
  },
  {
    name: 'not_expired',
    appliesTo: 'entry',
    check: (p, v) => {
      const r = entryExpiry(`entry plan ${p.plan_id}`, originOf(p), v.now, v.policy.entry_max_age_ms);
      return r ? deny(r.reason, r.detail) : PASS;
    },
  },
  {
    name: 'kill_switch_off',
    appliesTo: 'entry',
    check: (_p, v) => (v.killSwitch === null ? PASS : deny('kill_switch', `kill switch on: ${v.killSwitch || '(no reason given)'}; entries blocked, exits allowed`)),
  },
  {
    name: 'position_exists',
    appliesTo: 'exit',
    check: (p, v) => {
      const pos = v.positions.get(p.symbol);
      if (!pos) return deny('no_position', `no open position for ${p.symbol}`);
      const need = reducingSide(pos.side);
      return p.side === need ? PASS : deny('no_position', `${p.side} does not reduce the open ${pos.side} ${p.symbol} position (needs ${need})`);
    },
  },
  {
    name: 'stale_exit_fits_position',
    appliesTo: 'exit',
    check: (p, v) => {
      const r = staleExitCheck(`exit plan ${p.plan_id}`, p.symbol, p.side, originOf(p), v.now, v.policy.entry_max_age_ms, v.positions.get(p.symbol));
      return r ? deny(r.reason, r.detail) : PASS;
    },
  },
  {
    name: 'exit_not_in_flight',
    appliesTo: 'exit',
    check: (p, v) => {
      const pos = v.positions.get(p.symbol)!;
      return closableQty(v, p.symbol) > 0 ? PASS : deny('exit_in_flight', `exits for all ${pos.qty} ${p.symbol} already approved`);
    },
  },
  {
    name: 'leverage_within_policy',
    appliesTo: 'entry',
    check: (p, v) => (p.leverage <= v.policy.max_leverage ? PASS : deny('leverage_exceeds_max', `leverage ${p.leverage} > max ${v.policy.max_leverage} (policy)`)),
  },
  {
    name: 'margin_within_policy',
    appliesTo: 'entry',
    check: (p, v) => {
      const margin = p.margin_usd ?? p.notional / p.leverage;
      return margin <= v.policy.max_position_usd + 1e-9 ? PASS : deny('exposure_limit', `margin ${usd(margin)} > max_position_usd ${usd(v.policy.max_position_usd)}`);
    },
  },
  {
    name: 'same_side_as_open',
    appliesTo: 'entry',
    check: (p, v) => {
      const pos = v.positions.get(p.symbol);
      if (!pos || openedSide(p.side) === pos.side) return PASS;
      return deny('opposite_position', `${p.side} entry while a ${pos.side} ${p.symbol} position of ${pos.qty} is open (one-way mode: exit first)`);
    },
  },
  {
    name: 'position_limit',
    appliesTo: 'entry',
    check: (p, v) => {
      if (v.positions.has(p.symbol)) return PASS; // adds to an open position: the count does not grow
      if (pendingIndex(v).bySymbol.get(p.symbol)?.freshEntry) return PASS;
      const { open, pendingNew } = openCount(v);
      const n = open + pendingNew;
      const limit = v.policy.max_open_positions;
      return n < limit ? PASS : deny('position_limit_reached', `open ${n} >= limit ${limit}${pendingNew ? ` (${open} positions + ${pendingNew} approved, not yet filled)` : ''}`);
    },
  },
  {
    name: 'symbol_exposure',
    appliesTo: 'entry',
    check: (p, v) => {
      const cur = symbolExposure(v, p.symbol);
      const max = v.policy.max_symbol_exposure_usd;
      return cur + p.notional <= max + 1e-9 ? PASS
        : deny('exposure_limit', `${p.symbol} notional ${usd(cur + p.notional)} > max_symbol_exposure_usd ${usd(max)} (open ${usd(cur)} + plan ${usd(p.notional)})`);
    },
  },
  {
    name: 'total_exposure',
    appliesTo: 'entry',
    check: (p, v) => {
      const cur = totalExposure(v);
      const max = v.policy.max_total_exposure_usd;
      return cur + p.notional <= max + 1e-9 ? PASS
        : deny('exposure_limit', `total notional ${usd(cur + p.notional)} > max_total_exposure_usd ${usd(max)} (open ${usd(cur)} + plan ${usd(p.notional)})`);
    },
  },
];

export type ApplyDecision = { ok: true; plan: ApplyPlan; capped?: string } | { ok: false; reason: ReasonCode; detail: string; gate: string };

/** Runs the chain; an approved exit has its quantity capped at what is still open. */
export function runGates(plan: ApplyPlan, v: ApplyView, gates: Gate[] = GATES): ApplyDecision {
  const entry = isEntry(plan);
  for (const g of gates) {
    if (g.appliesTo === 'entry' && !entry) continue;
    if (g.appliesTo === 'exit' && entry) continue;
    const r = g.check(plan, v);
    if (!r.pass) return { ok: false, reason: r.reason, detail: r.detail, gate: g.name };
  }
  if (entry) return { ok: true, plan };
  return capExit(plan, v);
}

export function capExit(plan: ApplyPlan, v: ApplyView): ApplyDecision {
  const closable = closableQty(v, plan.symbol);
  const pos = v.positions.get(plan.symbol);
  // Nothing left to close (the position went, or approved exits cover it): never approve a 0 qty.
  if (!pos || !(closable > 0)) return { ok: false, reason: 'no_position', detail: `${plan.symbol}: nothing left to close (open ${pos?.qty ?? 0}, closable ${closable})`, gate: 'exit_capped' };
  if (plan.qty < closable) return { ok: true, plan };
  const capped = plan.qty > closable ? `qty ${plan.qty} capped at open ${closable}` : undefined;
  const qty = closable;
  const notional = Math.round(qty * plan.price * 100) / 100;
  return {
    ok: true,
    plan: { ...plan, qty, notional, action: qty >= pos.qty ? 'CLOSE' : plan.action, margin_usd: Math.round((notional / plan.leverage) * 100) / 100 },
    capped,
  };
}

/** What an approval adds to the view, so later plans of the batch see it. */
export function approvalOf(plan: ApplyPlan, v: ApplyView): PendingApproval {
  return {
    planId: plan.plan_id,
    symbol: plan.symbol,
    kind: isEntry(plan) ? 'entry' : 'exit',
    qty: plan.qty,
    notional: plan.notional,
    basisQty: v.positions.get(plan.symbol)?.qty ?? 0,
    at: v.now,
  };
}
