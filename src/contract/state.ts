/**
 * Hash keys of the contract (CONTRACT.md §2): their fields, and lenient readers that
 * tolerate deployments that are not ours (missing fields, odd values).
 */
import type { ServiceStatus } from './codes.js';

export interface PositionState {
  symbol: string;
  side: 'LONG' | 'SHORT';
  qty: number;
  entry_price: number;
  leverage: number;
  sl_price: number;
  tp_price: number;
  initial_risk_usd: number;
  opened_at: number;
  updated_at: number;
  plan_id: string;
}

export interface LedgerState {
  realized_pnl: number;
  fees: number;
  trades: number;
  last_plan_id: string;
  updated_at: number;
}

export interface SnapshotState {
  qty: number;
  side: 'LONG' | 'SHORT' | 'FLAT';
  entry_price: number;
  mark_price: number;
  unrealized_pnl: number;
  ts: number;
}

export interface Heartbeat {
  service: string;
  pid: number;
  host: string;
  version: string;
  started_at: number;
  beat_at: number;
  status: ServiceStatus;
  last_msg_at: number;
  processed: number;
  errors: number;
  last_error: string;
  mode?: string;
  detail?: string;
}

export interface Policy {
  version: string;
  allowlist: string[];
  max_open_positions: number;
  max_position_usd: number;
  max_leverage: number;
  min_confidence: number;
  allow_upsize: boolean;
  // additions (optional in Redis, defaults apply)
  max_symbol_exposure_usd: number;
  max_total_exposure_usd: number;
  daily_loss_limit_usd: number;
  rl_influence: boolean;
  price_max_age_ms: number;
  /** Entries (signal, intent, plan, approval) older than this (ms, from their origin ts) are rejected `intent_expired`. */
  entry_max_age_ms: number;
}

export interface PriceState {
  price: number;
  mark: number;
  ts: number;
  source: string;
}

export const ORDER_LIFE = ['PENDING', 'SUBMITTED', 'FILLED', 'REJECTED', 'UNKNOWN'] as const;
export type OrderLife = (typeof ORDER_LIFE)[number];

export function toNum(v: string | undefined | null, dflt = NaN): number {
  if (v === undefined || v === null || v.trim() === '') return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? n : dflt;
}

/** A position hash is an open position iff its `qty` is a number > 0 (CONTRACT.md §2). */
export function isOpenPosition(h: Record<string, string> | null | undefined): boolean {
  if (!h) return false;
  const q = toNum(h.qty);
  return Number.isFinite(q) && q > 0;
}

/** Why a position or snapshot hash is a ghost (CONTRACT.md §2), or null when it is not. */
export function ghostReason(kind: 'position' | 'snapshot' | 'ledger', h: Record<string, string>): string | null {
  if (kind === 'ledger') return null;
  const raw = h.qty;
  if (kind === 'snapshot') {
    if (raw === undefined) return null;
    const q = Number(raw);
    return raw.trim() !== '' && Number.isFinite(q) && q === 0 ? 'snapshot qty is 0' : null;
  }
  if (raw === undefined) return 'qty missing';
  if (raw.trim() === '' || !Number.isFinite(Number(raw))) return `qty is not a number (${JSON.stringify(raw.slice(0, 20))})`;
  if (Number(raw) === 0) return 'qty is 0';
  return null;
}

export function readPosition(symbol: string, h: Record<string, string>): PositionState | null {
  if (!isOpenPosition(h)) return null;
  const side = (h.side ?? '').toUpperCase();
  return {
    symbol: h.symbol || symbol,
    side: side === 'SHORT' || side === 'SELL' ? 'SHORT' : 'LONG',
    qty: toNum(h.qty, 0),
    entry_price: toNum(h.entry_price, 0),
    leverage: toNum(h.leverage, 1),
    sl_price: toNum(h.sl_price, 0),
    tp_price: toNum(h.tp_price, 0),
    initial_risk_usd: toNum(h.initial_risk_usd, 0),
    opened_at: toNum(h.opened_at, 0),
    updated_at: toNum(h.updated_at, 0),
    plan_id: h.plan_id ?? '',
  };
}

export function readSnapshot(h: Record<string, string>): SnapshotState | null {
  if (!h || Object.keys(h).length === 0) return null;
  const side = (h.side ?? '').toUpperCase();
  return {
    qty: Math.abs(toNum(h.qty, 0)),
    side: side === 'SHORT' ? 'SHORT' : side === 'LONG' ? 'LONG' : toNum(h.qty, 0) < 0 ? 'SHORT' : toNum(h.qty, 0) > 0 ? 'LONG' : 'FLAT',
    entry_price: toNum(h.entry_price, 0),
    mark_price: toNum(h.mark_price, 0),
    unrealized_pnl: toNum(h.unrealized_pnl, 0),
    ts: toNum(h.ts, 0),
  };
}

export const DEFAULT_POLICY: Policy = {
  version: '0',
  allowlist: [],
  max_open_positions: 10,
  max_position_usd: 500,
  max_leverage: 10,
  min_confidence: 0.65,
  allow_upsize: true,
  max_symbol_exposure_usd: 5000,
  max_total_exposure_usd: 20000,
  daily_loss_limit_usd: 500,
  rl_influence: false,
  price_max_age_ms: 10000,
  entry_max_age_ms: 60000,
};

export function readPolicy(h: Record<string, string> | null | undefined, fallback: Policy = DEFAULT_POLICY): Policy {
  if (!h || Object.keys(h).length === 0) return fallback;
  const list = (h.allowlist ?? '').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  const b = (v: string | undefined, d: boolean) => (v === undefined ? d : v === 'true' || v === '1');
  return {
    version: h.version ?? fallback.version,
    allowlist: h.allowlist === undefined ? fallback.allowlist : list,
    max_open_positions: toNum(h.max_open_positions, fallback.max_open_positions),
    max_position_usd: toNum(h.max_position_usd, fallback.max_position_usd),
    max_leverage: toNum(h.max_leverage, fallback.max_leverage),
    min_confidence: toNum(h.min_confidence, fallback.min_confidence),
    allow_upsize: b(h.allow_upsize, fallback.allow_upsize),
    max_symbol_exposure_usd: toNum(h.max_symbol_exposure_usd, fallback.max_symbol_exposure_usd),
    max_total_exposure_usd: toNum(h.max_total_exposure_usd, fallback.max_total_exposure_usd),
    daily_loss_limit_usd: toNum(h.daily_loss_limit_usd, fallback.daily_loss_limit_usd),
    rl_influence: b(h.rl_influence, fallback.rl_influence),
    price_max_age_ms: toNum(h.price_max_age_ms, fallback.price_max_age_ms),
    entry_max_age_ms: toNum(h.entry_max_age_ms, fallback.entry_max_age_ms),
  };
}

export function policyToHash(p: Policy): Record<string, string> {
  return {
    version: p.version,
    allowlist: p.allowlist.join(','),
    max_open_positions: String(p.max_open_positions),
    max_position_usd: String(p.max_position_usd),
    max_leverage: String(p.max_leverage),
    min_confidence: String(p.min_confidence),
    allow_upsize: String(p.allow_upsize),
    max_symbol_exposure_usd: String(p.max_symbol_exposure_usd),
    max_total_exposure_usd: String(p.max_total_exposure_usd),
    daily_loss_limit_usd: String(p.daily_loss_limit_usd),
    rl_influence: String(p.rl_influence),
    price_max_age_ms: String(p.price_max_age_ms),
    entry_max_age_ms: String(p.entry_max_age_ms),
  };
}
