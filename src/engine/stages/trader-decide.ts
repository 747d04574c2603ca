/**
 * The autonomous trader's decisions, as pure functions: which signals become entries,
 * how much margin (scaled by confidence up to the policy's `max_position_usd`, never a
 * hard-coded amount), which leverage (lower when volatility is higher, within
 * `1..max_leverage`), and how the RL agent's trust scales the margin when allowed.
 */
import type { MarginSizedIntent, Signal } from '../../contract/messages.js';
import type { Policy, PositionState } from '../../contract/state.js';
import type { ReasonCode } from '../../contract/codes.js';
import { entryExpiry } from './age-gate.js';

export interface TraderSettings {
  minPositionUsd: number;
  tpPct: number;
  slPct: number;
  cooldownMs: number;
  /** leverage × 1-minute volatility (%) the trader aims at: leverage = floor(this ÷ vol). */
  leverageRiskPct?: number;
}

export const DEFAULT_LEVERAGE_RISK_PCT = 4;

export interface Cooldown {
  /** When the symbol last had an entry (or a refused one). */
  at: number;
  why: string;
}

export interface EntryInput {
  signal: Signal;
  policy: Policy;
  position: PositionState | null;
  /** An entry for this symbol already left in this batch. */
  sentInBatch: boolean;
  /** Open positions now, plus new-symbol entries this batch already sent (unknown: undefined). */
  openPositions?: number;
  cooldown?: Cooldown;
  /** The RL agent's state hash (`trust:{model}` fields), or empty. */
  rlState: Record<string, string>;
  settings: TraderSettings;
  now: number;
}

export type EntryDecision =
  | { kind: 'intent'; intent: MarginSizedIntent }
  | { kind: 'reject'; reason: ReasonCode; detail: string };

const f2 = (n: number) => n.toFixed(2);
const floorCents = (n: number) => Math.floor(n * 100 + 1e-9) / 100;

/** Margin in USD: from the smallest entry at `min_confidence` up to `max_position_usd` at confidence 1. */
export function marginFor(confidence: number, policy: Policy, minPositionUsd: number): { usd: number; min: number; max: number } {
  const max = policy.max_position_usd;
  const min = Math.min(minPositionUsd, max);
  const span = 1 - policy.min_confidence;
  const f = span > 0 ? Math.min(1, Math.max(0, (confidence - policy.min_confidence) / span)) : 1;
  return { usd: floorCents(min + (max - min) * f), min, max };
}

/** Leverage for a volatility (std of 1-minute returns in %): higher volatility, lower leverage. */
export function leverageFor(volPerMinutePct: number | undefined, maxLeverage: number, riskPct = DEFAULT_LEVERAGE_RISK_PCT): number {
  const max = Math.max(1, Math.floor(maxLeverage));
  if (volPerMinutePct === undefined || !Number.isFinite(volPerMinutePct) || volPerMinutePct <= 0) return 1;
  return Math.min(max, Math.max(1, Math.floor(riskPct / volPerMinutePct)));
}

export interface ParsedModels {
  votes: Record<string, { vote: string; score: number }>;
  volPerMinutePct?: number;
  fallback?: boolean;
  /** Why the fallback decided (`warming up: …` while the models lack data). */
  fallbackReason?: string;
}

/** Reads a signal's `models` JSON leniently (a foreign producer may write anything). */
export function parseModels(json: string): ParsedModels {
  const r: ParsedModels = { votes: {} };
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    return r;
  }
  if (!o || typeof o !== 'object') return r;
  for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
    if (v && typeof v === 'object' && 'vote' in v) {
      const x = v as { vote: unknown; score?: unknown };
      r.votes[k] = { vote: String(x.vote).toUpperCase(), score: Number(x.score) || 0 };
    }
  }
  const vol = Number((o as Record<string, unknown>).vol_1m_pct);
  if (Number.isFinite(vol) && vol > 0) r.volPerMinutePct = vol;
  r.fallback = (o as Record<string, unknown>).fallback === true;
  const why = (o as Record<string, unknown>).fallback_reason;
  if (typeof why === 'string') r.fallbackReason = why;
  return r;
}

/** How the RL agent's trust in the models that voted for the side scales the margin. */
export function rlScale(policy: Policy, side: string, models: ParsedModels, rlState: Record<string, string>): { scale: number; reason: string } {
  if (!policy.rl_influence) return { scale: 1, reason: 'rl_disabled' };
  const backers = Object.entries(models.votes).filter(([, v]) => v.vote === side).map(([k]) => k);
  const trusts = backers.map((m) => Number(rlState[`trust:${m}`])).filter((t) => Number.isFinite(t));
  if (!trusts.length) return { scale: 1, reason: `rl_no_trust (no trust:{model} for ${backers.join(',') || 'any model'})` };
  const avg = trusts.reduce((a, b) => a + b, 0) / trusts.length;
  const scale = Math.min(1.5, Math.max(0, avg));
  return { scale, reason: `rl_trust ${avg.toFixed(3)} over ${trusts.length} model(s) → margin × ${scale.toFixed(2)}` };
}

export function decideEntry(i: EntryInput): EntryDecision {
  const { signal: s, policy, settings: cfg, now } = i;
  const expired = entryExpiry(`entry signal ${s.signal_id}`, s.ts, now, policy.entry_max_age_ms);
  if (expired) return { kind: 'reject', reason: expired.reason, detail: expired.detail };
  if (s.confidence < policy.min_confidence) {
    return { kind: 'reject', reason: 'confidence_below_min', detail: `confidence ${s.confidence.toFixed(4)} < min ${policy.min_confidence.toFixed(4)}` };
  }
  const want = s.side === 'BUY' ? 'LONG' : 'SHORT';
  if (i.position) {
    const p = i.position;
    // One position per symbol: the trader neither adds to it (position_open) nor opens
    // against it (opposite_position: in one-way mode that would reduce it; exits are
    // harvest_brain's). Neither is a duplicate of an earlier signal.
    if (p.side === want) {
      return { kind: 'reject', reason: 'position_open', detail: `${s.symbol} already has an open ${p.side} position (qty ${p.qty}); a ${s.side} signal would add to it` };
    }
    return { kind: 'reject', reason: 'opposite_position', detail: `${s.symbol} has an open ${p.side} position (qty ${p.qty}); the trader opens no entry against it (exits are harvest_brain's)` };
  }
  if (i.sentInBatch) {
    return { kind: 'reject', reason: 'duplicate', detail: `an entry for ${s.symbol} was already sent in this batch` };
  }
  if (i.openPositions !== undefined && i.openPositions >= policy.max_open_positions) {
    return {
      kind: 'reject',
      reason: 'at_position_limit',
      detail: `open positions ${i.openPositions} >= max_open_positions ${policy.max_open_positions}: no new entry until one closes`,
    };
  }
  if (i.cooldown && now - i.cooldown.at < cfg.cooldownMs) {
    const ago = (now - i.cooldown.at) / 1000;
    return { kind: 'reject', reason: 'cooldown', detail: `${s.symbol}: ${i.cooldown.why} ${ago.toFixed(1)} s ago < cooldown ${(cfg.cooldownMs / 1000).toFixed(1)} s` };
  }

  const models = parseModels(s.models);
  const m = marginFor(s.confidence, policy, cfg.minPositionUsd);
  const rl = rlScale(policy, s.side, models, i.rlState);
  const usd = floorCents(Math.min(m.max, Math.max(m.min, m.usd * rl.scale)));
  if (!(usd > 0)) return { kind: 'reject', reason: 'invalid_quantity', detail: `margin ${f2(usd)} USD is not positive (policy max_position_usd ${m.max})` };
  const leverage = leverageFor(models.volPerMinutePct, policy.max_leverage, cfg.leverageRiskPct);
  const volTxt = models.volPerMinutePct === undefined ? 'volatility unknown' : `vol ${models.volPerMinutePct.toFixed(3)}%/min`;
  return {
    kind: 'intent',
    intent: {
      intent_id: `auto-${s.signal_id}`,
      ts: now,
      intent_type: 'AUTONOMOUS_ENTRY',
      symbol: s.symbol,
      action: s.side,
      source: 'autonomous_trader',
      position_usd: usd,
      leverage,
      tp_pct: cfg.tpPct,
      sl_pct: cfg.slPct,
      confidence: s.confidence,
      reduceOnly: false,
      signal_id: s.signal_id,
      // the plan and approval measure their age from the signal (never later than now)
      origin_ts: Math.min(s.ts, now),
      rl_gate_reason: rl.reason.slice(0, 200),
      reason: `confidence ${s.confidence.toFixed(3)} → margin ${f2(usd)} USD (min ${f2(m.min)}, max ${f2(m.max)}); ${volTxt} → leverage ${leverage} (max ${policy.max_leverage})`,
    },
  };
}
