/**
 * The bounded PEL sample of a group (`XPENDING key group - + PENDING_SAMPLE`, oldest
 * first): the highest delivery counts (poison entries), each entry's age from its id, and
 * pending entries whose stream entry no longer exists (orphans). Pure.
 *
 * Facts (../shared/spec/REDIS-STREAMS-FACTS.md, "Trimming and the PEL"): every claim resets
 * an entry's idle time and adds a delivery, so a poison entry shows idle ~0 after hundreds
 * of deliveries (pipeshub-ai#2992); XTRIM/MAXLEN and XDEL leave pending entries in the PEL
 * after their stream entry is gone (redis#10756, #13314), so XLEN stays small while the PEL
 * and memory grow (#10777).
 */
import type { OrphanCount, PendingSample, StreamInfo } from './read-model.js';
import { cmpId } from './lag.js';
import { idMs } from './redis-read.js';

/** Pending entries read per group, oldest first (the N of `XPENDING key group - + N`). */
export const PENDING_SAMPLE = 100;
/** Sampled pending ids inside the stream looked up with `XRANGE id id`, per group. */
export const ORPHAN_CHECKS = 10;

/** One row of the extended XPENDING reply. */
export interface PelRow {
  id: string;
  consumer: string;
  idle_ms: number;
  deliveries: number;
}

/** The sample's highest delivery counts (at most 5, most first) with each entry's age from its id (ms; null for explicit ids). */
export function sampleOf(rows: PelRow[], total: number, now: number): PendingSample {
  const top = [...rows].sort((a, b) => b.deliveries - a.deliveries || cmpId(a.id, b.id)).slice(0, 5)
    .map((r) => {
      const ms = idMs(r.id, now);
      return { ...r, id_age_ms: ms === null ? null : Math.max(0, now - ms) };
    });
  return { sampled: rows.length, total, bound: PENDING_SAMPLE, top_deliveries: top, orphaned: null };
}

/**
 * Pending entries whose stream entry is gone. Ids before the stream's first entry were
 * trimmed: counted exactly when the sample covers the PEL, or from `live` (the count of
 * pending ids ≥ the first entry, `XPENDING key group <first> + N`, when below N); otherwise
 * bounded below by the sample. Ids inside the stream up to max-deleted-entry-id may have
 * been deleted: `checked` (each looked up with `XRANGE id id`) gives the share gone,
 * extrapolated to the sampled ids in that range. Null when nothing is orphaned.
 */
export function orphansOf(s: StreamInfo, total: number, rows: PelRow[], live: number | null, checked: { id: string; gone: boolean }[]): OrphanCount | null {
  if (total <= 0 || rows.length === 0) return null;
  const first = s.first_entry_id ?? '';
  if (s.length === 0 || !first) {
    return { count: total, exact: true, trimmed: total, checked: 0, missing: 0, method: 'the stream is empty: every pending entry points at nothing', examples: rows.slice(0, 5).map((r) => r.id) };
  }
  const before = rows.filter((r) => cmpId(r.id, first) < 0);
  const covered = rows.length >= total;
  let trimmed: number;
  let exact = true;
  let method: string;
  if (covered || before.length === 0) {
    trimmed = before.length;
    method = covered ? `all ${total} pending ids compared with the first entry ${first}` : `the oldest ${rows.length} pending ids are all at or after the first entry ${first}`;
  } else if (live !== null && live < PENDING_SAMPLE) {
    trimmed = total - live;
    method = `${total} pending, of which ${live} at or after the first entry ${first} (XPENDING ${first} + ${PENDING_SAMPLE}): the rest were trimmed`;
  } else {
    trimmed = before.length;
    exact = false;
    method = `at least ${before.length} (the oldest ${rows.length} sampled are before the first entry ${first}), at most ${total - (live ?? 0)}; the PEL is too large to count within the bounds`;
  }
  const gone = checked.filter((c) => c.gone);
  let deleted = 0;
  if (checked.length) {
    const maxDel = s.max_deleted_entry_id ?? '';
    const inRange = rows.filter((r) => cmpId(r.id, first) >= 0 && maxDel && cmpId(r.id, maxDel) <= 0).length;
    const all = covered && inRange === checked.length;
    deleted = all ? gone.length : Math.round((gone.length / checked.length) * inRange);
    if (!all && gone.length) {
      exact = false;
      method += `; ${gone.length} of ${checked.length} sampled ids inside the stream were gone (XRANGE id id), extrapolated to the ${inRange} sampled ids up to max-deleted-entry-id ${maxDel}`;
    } else if (gone.length) method += `; ${gone.length} ids inside the stream gone (XDEL), each checked with XRANGE id id`;
  }
  const count = trimmed + deleted;
  if (count === 0) return null;
  return { count, exact, trimmed, checked: checked.length, missing: gone.length, method, examples: [...before, ...rows.filter((r) => gone.some((g) => g.id === r.id))].slice(0, 5).map((r) => r.id) };
}
