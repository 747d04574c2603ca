/**
 * Entry expiry, shared by every stage that could open risk (autonomous_trader on
 * signals, intent_bridge on intents, apply_layer on plans, intent_executor on
 * approvals): work older than the policy's `entry_max_age_ms` is refused with
 * `intent_expired`, its detail naming the age and the limit in ms. An entry written an
 * hour before an outage ended must not be bought at today's price (issue 14; freqtrade's
 * `ignore_buying_expired_candle_after` refuses entry signals past an age for the same
 * reason).
 *
 * Exits never expire (closing risk must stay possible), but an exit older than the limit
 * is re-checked against the position as it is now (`staleExitCheck`): an exit written
 * before the current position was opened was meant for an earlier position.
 *
 * Pure functions; no Redis.
 */
import type { PositionState } from '../../contract/state.js';

/** The times a message may carry (epoch ms): its own `ts`, the intent's, and the origin's. */
export interface Timed {
  ts: number;
  intent_ts?: number;
  origin_ts?: number;
}

/**
 * Epoch ms the age of a piece of work is measured from: `origin_ts` (the signal an
 * autonomous entry rests on), else `intent_ts` (a plan or approval: its intent's time),
 * else the message's own `ts`. A plan keeps its intent's time, so a plan made late from an
 * old intent is as old as the intent.
 */
export function originOf(m: Timed): number {
  return m.origin_ts ?? m.intent_ts ?? m.ts;
}

/** A refusal as the stages' rejections carry it. */
export interface AgeRefusal {
  reason: 'intent_expired' | 'no_position';
  detail: string;
}

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));

/**
 * `intent_expired` when `now − origin > limitMs`, else null. `what` names the work
 * (`entry signal s-1`, `entry intent old-1`, `entry plan pl-…`). A limit ≤ 0 or not a
 * number turns the gate off (a foreign policy hash with a bad value never blocks
 * everything); an origin in the future (clock skew) is age 0.
 * @param origin epoch ms (see `originOf`)
 * @param now epoch ms
 * @param limitMs the policy's `entry_max_age_ms`
 */
export function entryExpiry(what: string, origin: number, now: number, limitMs: number): AgeRefusal | null {
  if (!(limitMs > 0)) return null;
  const age = Math.max(0, Math.round(now - origin));
  if (age <= limitMs) return null;
  return {
    reason: 'intent_expired',
    detail: `${what}: age ${age} ms > limit ${limitMs} ms (policy entry_max_age_ms; written ${iso(origin)})`,
  };
}

/**
 * An exit older than the limit, checked against the position as it is now: none (or on
 * the other side) → `no_position`; a position opened after the exit was written → the exit
 * was meant for an earlier position → `no_position`. Null: the exit may go on (the callers
 * cap its quantity at what is open). Fresh exits (within the limit) are not judged here.
 * @param side the exit's order side (`SELL` reduces a LONG)
 * @param position the open position now (`opened_at` epoch ms; 0 when unknown)
 */
export function staleExitCheck(
  what: string, symbol: string, side: 'BUY' | 'SELL', origin: number, now: number, limitMs: number, position: PositionState | null | undefined,
): AgeRefusal | null {
  if (!(limitMs > 0) || now - origin <= limitMs) return null;
  const age = Math.round(now - origin);
  if (!position) return { reason: 'no_position', detail: `${what} (${age} ms old) re-checked: no open ${symbol} position now` };
  const reduces = position.side === 'LONG' ? 'SELL' : 'BUY';
  if (side !== reduces) {
    return { reason: 'no_position', detail: `${what} (${age} ms old) re-checked: ${side} does not reduce the open ${position.side} ${symbol} position now` };
  }
  if (position.opened_at > 0 && position.opened_at > origin) {
    return {
      reason: 'no_position',
      detail: `${what} written ${iso(origin)} (${age} ms old) predates the open ${symbol} position (opened ${iso(position.opened_at)}): it was meant for an earlier position`,
    };
  }
  return null;
}
