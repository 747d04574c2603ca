/**
 * Checks Redis's consumer-group `lag` against what must hold instead of copying it
 * (../shared/spec/REDIS-STREAMS-FACTS.md, "lag and entries-read"), and derives the backlog
 * from a bounded range read where it fails. Pure: `judgeLag` takes what XINFO STREAM and
 * XINFO GROUPS said (and, when `needsRange` asked for one, what the range read counted).
 *
 * Invariants (each with its source):
 * - `last-delivered-id` ≥ the stream's last id ⇒ nothing is waiting, whatever `lag` says
 *   (Redis 7.0–7.4 miscount lag after XDEL: redis#13337, fixed by PR #13338 in 8.0);
 * - 0 ≤ lag ≤ entries-added, entries-read ≤ entries-added (`XGROUP CREATE … ENTRIESREAD n`
 *   accepts nonsense: `lag -99` on a one-entry stream, redis#14257);
 * - lag ≤ the entries in the stream (lag stays stale after XTRIM/MAXLEN: PR #13473);
 * - a tombstone after the group's position (`max-deleted-entry-id` > `last-delivered-id`),
 *   or any tombstone inside the stream on 7.0–7.4, makes Redis's figure null or an estimate;
 * - `lag` is null by design after XGROUP CREATE/SETID to an arbitrary id (PR #9127);
 * - before 7.0 there is no `lag` at all ("not supported", never 0).
 */
import type { LagCheck, LagReason } from './read-model.js';

/** Entries read by each bounded range read (`XRANGE key (id + COUNT n`, `XREVRANGE key id - COUNT n`). */
export const LAG_RANGE_COUNT = 500;

/** What XINFO STREAM / XINFO GROUPS said that the judgement needs. */
export interface LagInput {
  length: number;
  /** null on Redis < 7.0 */
  entries_added: number | null;
  /** last-generated-id: the stream's last id ever ('' when unknown) */
  last_generated_id: string;
  /** the first entry present ('' when the stream is empty) */
  first_entry_id: string;
  /** '0-0' when nothing was ever deleted with XDEL; '' when unknown (< 7.0) */
  max_deleted_entry_id: string;
  last_delivered_id: string;
  /** Redis's own figures; `has_lag_field` false on Redis < 7.0 */
  lag: number | null;
  entries_read: number | null;
  has_lag_field: boolean;
}

/** What the bounded range reads counted: entries after / at-or-before `last-delivered-id`. */
export interface RangeCount {
  after: number | null;
  before: number | null;
  bound: number;
}

/** Compares two stream ids (`ms-seq`); a bare `ms` means `ms-0`. Garbage sorts as 0-0. */
export function cmpId(a: string, b: string): number {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

function parseId(id: string): [bigint, bigint] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(String(id ?? ''));
  return m ? [BigInt(m[1]!), BigInt(m[2] ?? '0')] : [0n, 0n];
}

/** Counters that cannot be: negative lag, entries-read or lag above entries-added. */
export function corruptCounters(i: LagInput): boolean {
  if (i.lag !== null && i.lag < 0) return true;
  if (i.entries_added === null) return false;
  return (i.entries_read !== null && i.entries_read > i.entries_added) || (i.lag !== null && i.lag > i.entries_added);
}

/** Why Redis's figure cannot be used as it is, before any range read; null when it can. */
function doubt(i: LagInput): LagReason | null {
  if (!i.has_lag_field) return 'not_supported';
  if (corruptCounters(i)) return i.lag !== null && i.lag < 0 ? 'negative' : 'over_entries_added';
  if (i.max_deleted_entry_id && cmpId(i.max_deleted_entry_id, i.last_delivered_id) > 0) return 'tombstone_after_position';
  if (i.lag === null) return i.entries_read === null ? 'arbitrary_position' : 'tombstone_after_position';
  if (i.lag > i.length) return 'over_length';
  // a tombstone inside what the stream holds: 7.0–7.4 may miscount (redis#13337)
  if (i.max_deleted_entry_id && i.first_entry_id && cmpId(i.max_deleted_entry_id, i.first_entry_id) >= 0) return 'deleted_inside';
  return null;
}

/** Positions that settle the backlog without reading a range: caught up, empty, or before the first entry. */
function byPosition(i: LagInput): number | null {
  if (i.length === 0) return 0;
  if (i.last_generated_id && cmpId(i.last_delivered_id, i.last_generated_id) >= 0) return 0;
  if (i.first_entry_id && cmpId(i.last_delivered_id, i.first_entry_id) < 0) return i.length;
  return null;
}

/** True when the group's backlog must be counted with the bounded range reads. */
export function needsRange(i: LagInput): boolean {
  return byPosition(i) === null && doubt(i) !== null;
}

const WHY: Record<LagReason, string> = {
  caught_up: 'the group has been delivered the stream\'s last entry, so nothing waits (Redis 7.0–7.4 miscount lag after XDEL: redis#13337, fixed in 8.0)',
  negative: 'entries-read is above entries-added: a counter written by hand (XGROUP CREATE/SETID … ENTRIESREAD n, redis#14257)',
  over_entries_added: 'lag is above entries-added: a counter written by hand (XGROUP CREATE/SETID … ENTRIESREAD n, redis#14257)',
  over_length: 'lag is above the entries the stream holds: entries were trimmed or deleted and Redis\'s figure is stale (PR #13473)',
  tombstone_after_position: 'an entry after the group\'s position was deleted (max-deleted-entry-id > last-delivered-id): Redis cannot count, its lag is null or an estimate',
  arbitrary_position: 'the group was created or moved to an arbitrary id (XGROUP CREATE/SETID not at 0 or $): Redis cannot count until the group reaches the end',
  deleted_inside: 'entries inside the stream were deleted (XDEL): Redis 7.0–7.4 may miscount lag then (redis#13337)',
  not_supported: 'this Redis (< 7.0) reports no lag',
};

/** The one-line explanation of a reason (docs/diagnostics.md lists them). */
export function lagReasonText(r: LagReason): string {
  return WHY[r];
}

/**
 * The group's backlog: entries present in the stream after its `last-delivered-id`, i.e.
 * waiting to be delivered now. `value` null means unknown (then `min`/`max` bound it where
 * they can); `source` says whether Redis's figure was used as it is, derived, or unknown;
 * `reason` why Redis's figure was not used (null when it was). Never throws.
 */
export function judgeLag(i: LagInput, range?: RangeCount | null): LagCheck {
  const corrupt = corruptCounters(i);
  const base = { redis_lag: i.has_lag_field ? i.lag : null, redis_entries_read: i.has_lag_field ? i.entries_read : null, corrupt };
  let reason = doubt(i);
  const pos = byPosition(i);
  if (pos !== null) {
    // caught up says more than any other doubt about a figure that is not 0 (redis#13337)
    if (pos === 0 && i.length > 0 && !corrupt && i.lag !== null && i.lag !== 0) reason = 'caught_up';
    else if (reason === null && i.lag !== pos) reason = 'over_length';
    const same = reason === null;
    return {
      ...base, value: pos, min: pos, max: pos, source: same ? 'redis' : 'derived', reason,
      how: same ? 'Redis\'s lag, checked against the group\'s position'
        : pos === 0 ? (i.length === 0 ? 'the stream is empty: nothing waits' : 'last-delivered-id ≥ the stream\'s last id: nothing waits')
          : 'last-delivered-id is before the first entry: every entry in the stream waits (XLEN)',
    };
  }
  if (reason === null) {
    return { ...base, value: i.lag, min: i.lag, max: i.lag, source: 'redis', reason: null, how: 'Redis\'s lag (it passes every invariant)' };
  }
  // an upper bound from the counters, where they can be trusted
  const logical = !corrupt && i.entries_added !== null && i.entries_read !== null ? i.entries_added - i.entries_read : null;
  const upper = Math.min(i.length, logical ?? i.length);
  if (range) {
    const { after, before, bound } = range;
    const exact = after !== null && after < bound ? after : before !== null && before < bound ? Math.max(0, i.length - before) : null;
    if (exact !== null) {
      const how = after !== null && after < bound
        ? `counted: XRANGE from last-delivered-id (exclusive) returned ${after} entries (COUNT ${bound})`
        : `counted: XLEN ${i.length} minus the ${before} entries at or before last-delivered-id (XREVRANGE COUNT ${bound})`;
      if (reason === 'deleted_inside' && exact === i.lag) return { ...base, value: exact, min: exact, max: exact, source: 'redis', reason: null, how: `Redis's lag, confirmed by a range count (${how.slice(9)})` };
      return { ...base, value: exact, min: exact, max: exact, source: 'derived', reason, how };
    }
    const min = after ?? 0;
    const max = before !== null ? Math.max(min, Math.min(upper, i.length - before)) : upper;
    return {
      ...base, value: null, min, max, source: 'unknown', reason,
      how: `estimated: at least ${min} (XRANGE COUNT ${bound} came back full) and at most ${max}`,
    };
  }
  return { ...base, value: null, min: null, max: upper, source: 'unknown', reason, how: `unknown: the range read could not run; at most ${upper}` };
}
