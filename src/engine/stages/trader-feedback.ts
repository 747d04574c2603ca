/**
 * The trader's feedback from `apply.result`: a plain XREAD (no group, no blocking) from
 * the last id seen. Results of its own entries put the symbol into cooldown: a fill
 * (the entry happened) or a refusal that would repeat at once (`below_min_notional`,
 * `insufficient_margin`, …).
 */
import type { Redis } from 'ioredis';
import { decode, fieldsFromArray, type ApplyResult } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import type { Cooldown } from './trader-decide.js';

/** Refusals that would repeat if the same entry were sent again right away. */
export const COOLDOWN_REASONS = new Set([
  'below_min_notional', 'below_min_qty', 'insufficient_margin', 'exchange_rejected', 'leverage_exceeds_max',
  'precision_invalid', 'exposure_limit', 'position_limit_reached', 'price_stale', 'price_unavailable', 'symbol_not_allowed',
]);

export const FEEDBACK_COUNT = 200;

/** Whether a result belongs to one of the trader's entries. */
export function isOwnResult(r: ApplyResult): boolean {
  return r.source === 'autonomous_trader' || r.intent_id.startsWith('auto-');
}

/** The cooldown a result implies for its symbol, if any. */
export function cooldownFromResult(r: ApplyResult): Cooldown | null {
  if (!isOwnResult(r)) return null;
  if (r.executed) return { at: r.ts, why: 'entry filled' };
  if (r.reason && COOLDOWN_REASONS.has(r.reason)) return { at: r.ts, why: `entry refused (${r.reason}${r.detail ? `: ${r.detail.slice(0, 120)}` : ''})` };
  return null;
}

/** Newest id of the stream, so feedback starts from now ('0-0' when empty). */
export async function lastResultId(redis: Redis, names: Names): Promise<string> {
  const r = (await redis.xrevrange(names.stream('apply.result'), '+', '-', 'COUNT', 1)) as [string, string[]][];
  return r.length ? r[0][0] : '0-0';
}

/** Parses an XREAD reply into valid results (others are skipped) and the last id. */
export function parseResults(reply: unknown, lastId: string): { results: ApplyResult[]; lastId: string } {
  const results: ApplyResult[] = [];
  const streams = reply as [string, [string, string[]][]][] | null;
  if (!streams) return { results, lastId };
  for (const [, entries] of streams) {
    for (const [id, arr] of entries) {
      lastId = id;
      if (!arr) continue;
      const d = decode('apply.result', fieldsFromArray(arr));
      if (d.ok) results.push(d.value);
    }
  }
  return { results, lastId };
}
