/**
 * Lag over time: Burrow's rule set (linkedin/Burrow `core/internal/evaluator/caching.go`,
 * `calculatePartitionStatus`) applied to a Redis consumer group, in the order given by
 * `REDIS-STREAMS-FACTS.md` ("Burrow's lag evaluation"). Pure: samples in, status out.
 *
 * Redis terms for Burrow's: a partition is a consumer group; the committed offset is the
 * group's `entries-read` (or its `last-delivered-id` when `entries-read` is null); a commit
 * is a consumer's interaction with the group (XREADGROUP/XCLAIM reset the consumer's
 * `idle`), or an observed move of the offset. REWIND can only come from `XGROUP SETID`.
 */
import type { Finding } from './read-model.js';
import { UsageError } from '../errors.js';

/** One look at a group (from `qt diagnose streams --sample`, the console, or the engine's per-minute metrics). */
export interface TrendSample {
  /** epoch ms of the look */
  at: number;
  /** `entries-read` (Redis ≥ 7.0), null when Redis does not know it */
  entries_read: number | null;
  /** `last-delivered-id` (the offset when `entries_read` is null) */
  last_delivered_id: string;
  /**
   * entries not yet delivered: Redis's `lag` where it satisfies its invariants (0 when the
   * group's last-delivered-id ≥ the stream's last id), null when unknown. Unknown is never
   * counted as ≤ the allowed lag.
   */
  lag: number | null;
  /** the stream's `entries-added` at the look (Burrow's broker head offset), null if unknown */
  head: number | null;
  pending: number | null;
  consumers: number | null;
  /** epoch ms of the group's latest consumer interaction (look time − smallest consumer `idle`), null when unknown or no consumer */
  active_at: number | null;
}

export type TrendStatus = 'OK' | 'WARN' | 'STALL' | 'STOP' | 'REWIND';

export interface TrendOptions {
  /** lag at or under this is OK (Burrow: 0) */
  allowedLag: number;
  /** fewer samples than this: the window is not yet full, reported OK (incomplete) */
  minSamples: number;
}

export const DEFAULT_TREND: TrendOptions = { allowedLag: 0, minSamples: 5 };

/** Environment of the trend rules: `QT_DIAG_TREND_ALLOWED_LAG` (entries, default 0: Burrow's). */
export const TREND_ENV = { allowedLag: 'QT_DIAG_TREND_ALLOWED_LAG' } as const;

/** Trend options from the environment; a bad value is a UsageError naming the variable. */
export function trendOptions(env: NodeJS.ProcessEnv = process.env): TrendOptions {
  const raw = env[TREND_ENV.allowedLag];
  if (raw === undefined || raw === '') return DEFAULT_TREND;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) throw new UsageError(`${TREND_ENV.allowedLag}: expected a whole number of entries ≥ 0 (got ${JSON.stringify(raw)})`);
  return { ...DEFAULT_TREND, allowedLag: n };
}

/** Which rule of the FACTS order decided (1..7), or 0 for "window not yet full". */
export interface TrendResult {
  status: TrendStatus;
  rule: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;
  /** samples / minSamples, capped at 1 (Burrow's `complete`) */
  complete: number;
  /** why, in words, with the numbers */
  why: string;
}

/** Compares two stream ids (`ms-seq`); a malformed id sorts as 0-0. */
export function compareIds(a: string, b: string): number {
  const p = (s: string): [bigint, bigint] => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(s);
    return m ? [BigInt(m[1]!), BigInt(m[2] ?? '0')] : [0n, 0n];
  };
  const [am, as] = p(a);
  const [bm, bs] = p(b);
  return am !== bm ? (am < bm ? -1 : 1) : as !== bs ? (as < bs ? -1 : 1) : 0;
}

/** Offset order of two samples: by entries-read when both know it, else by last-delivered-id. */
export function compareOffsets(a: TrendSample, b: TrendSample): number {
  if (a.entries_read !== null && b.entries_read !== null) return Math.sign(a.entries_read - b.entries_read);
  return compareIds(a.last_delivered_id, b.last_delivered_id);
}

const within = (lag: number | null, allowed: number): boolean => lag !== null && lag <= allowed;

/**
 * Burrow's status of one group over a window of samples (oldest first), evaluated at `now`
 * (epoch ms; the last sample's time when omitted). Rules, in the FACTS order:
 * 1. current lag ≤ allowed ⇒ OK; 2. STOP: time since the last commit > the window's span,
 * unless recently caught up; 3. REWIND: the offset went backwards and has not reached its
 * old height again; 4. any lag in the window ≤ allowed ⇒ OK; 5. STALL: commits keep coming
 * but the offset does not move while lag > allowed; 6. WARN: the offset moves but lag never
 * decreases; 7. OK. Fewer than `minSamples` samples ⇒ OK, incomplete (rule 0).
 * Never throws; an empty window is OK with complete 0.
 */
export function evaluateTrend(samples: TrendSample[], opts: TrendOptions = DEFAULT_TREND, now?: number): TrendResult {
  const s = [...samples].sort((a, b) => a.at - b.at);
  const complete = Math.min(1, s.length / Math.max(1, opts.minSamples));
  if (s.length < opts.minSamples || s.length < 2) {
    return { status: 'OK', rule: 0, complete, why: `window not yet full (${s.length} of ${opts.minSamples} samples)` };
  }
  const A = opts.allowedLag;
  const first = s[0]!;
  const last = s[s.length - 1]!;
  const t = now ?? last.at;
  const lagText = (x: number | null) => (x === null ? 'unknown' : String(x));

  // 1. current lag within the allowed lag
  if (within(last.lag, A)) return { status: 'OK', rule: 1, complete, why: `current lag ${last.lag} ≤ allowed ${A}` };

  // 2. STOP: no commit for longer than the window spans, unless recently caught up
  let lastCommit: number | null = null;
  for (let i = 0; i < s.length; i++) {
    const x = s[i]!;
    if (x.active_at !== null) lastCommit = Math.max(lastCommit ?? -Infinity, x.active_at);
    if (i > 0 && compareOffsets(x, s[i - 1]!) !== 0) lastCommit = Math.max(lastCommit ?? -Infinity, x.at);
  }
  const span = last.at - first.at;
  // Burrow's checkIfRecentLagZero: the last offset reached a head the stream had during the window
  const recentlyCaughtUp = last.entries_read !== null && s.some((x) => x.head !== null && last.entries_read! >= x.head);
  if ((lastCommit === null || t - lastCommit > span) && !recentlyCaughtUp) {
    return {
      status: 'STOP', rule: 2, complete,
      why: lastCommit === null
        ? `lag ${lagText(last.lag)} and no consumer read or moved the group in the ${Math.round(span / 1000)} s window`
        : `lag ${lagText(last.lag)}; the last read or progress was ${Math.round((t - lastCommit) / 1000)} s ago, longer than the ${Math.round(span / 1000)} s window`,
    };
  }

  // 3. REWIND: the offset went backwards and has not reached the old one again
  let peak = first;
  for (const x of s.slice(0, -1)) if (compareOffsets(x, peak) > 0) peak = x;
  if (compareOffsets(last, peak) < 0) {
    const off = (x: TrendSample) => (x.entries_read !== null && last.entries_read !== null ? `entries-read ${x.entries_read}` : `last-delivered-id ${x.last_delivered_id}`);
    return { status: 'REWIND', rule: 3, complete, why: `the group's position went back from ${off(peak)} to ${off(last)} (XGROUP SETID)` };
  }

  // 4. any lag in the window within the allowed lag
  const ok = s.find((x) => within(x.lag, A));
  if (ok) return { status: 'OK', rule: 4, complete, why: `lag was ${ok.lag} ≤ allowed ${A} within the window` };

  // 5. STALL: the offset does not move while consumers keep reading
  const moved = s.some((x, i) => i > 0 && compareOffsets(x, s[i - 1]!) !== 0);
  if (!moved) {
    return { status: 'STALL', rule: 5, complete, why: `consumers read but the position stays at ${last.entries_read ?? last.last_delivered_id} with lag ${lagText(last.lag)} over ${Math.round(span / 1000)} s` };
  }

  // 6. WARN: the offset moves, but the (known) lag never decreases
  const known = s.filter((x) => x.lag !== null);
  const neverDown = known.length >= 2 && known.every((x, i) => i === 0 || x.lag! >= known[i - 1]!.lag!);
  if (neverDown) {
    return { status: 'WARN', rule: 6, complete, why: `the position moves but lag never decreased (${known[0]!.lag} → ${known[known.length - 1]!.lag}): consumers are slower than producers` };
  }
  // 7. otherwise OK
  return { status: 'OK', rule: 7, complete, why: known.length >= 2 ? 'the position moves and lag decreases' : 'the position moves; lag unknown in most samples' };
}

/** One group's trend: what `qt diagnose streams --sample` and the console show. */
export interface GroupTrend extends TrendResult {
  stream: string;
  group: string;
  /** where the samples came from */
  source: 'sampled' | 'console' | 'metrics';
  samples: TrendSample[];
}

/** Severity of a trend: Burrow's ERR (STOP, STALL, REWIND) is crit, WARN is warn; OK raises nothing. */
export function trendSeverity(status: TrendStatus): 'crit' | 'warn' | null {
  return status === 'OK' ? null : status === 'WARN' ? 'warn' : 'crit';
}

/** GROUP_TREND findings (CONTRACT.md §4) of the groups that are not OK, samples as evidence (at most 12, newest kept). */
export function trendFindings(trends: GroupTrend[], opts: TrendOptions = DEFAULT_TREND): Finding[] {
  const out: Finding[] = [];
  for (const g of trends) {
    const severity = trendSeverity(g.status);
    if (!severity) continue;
    const span = g.samples.length > 1 ? Math.round((g.samples[g.samples.length - 1]!.at - g.samples[0]!.at) / 1000) : 0;
    out.push({
      code: 'GROUP_TREND', severity, subject: `${g.stream} ${g.group}`,
      message: `group ${g.group} on ${g.stream} is ${g.status} over ${g.samples.length} samples in ${span} s (${g.source}): ${g.why}`,
      evidence: {
        status: g.status, rule: g.rule, complete: g.complete, source: g.source, allowed_lag: opts.allowedLag,
        samples: g.samples.slice(-12).map((x) => ({ at: x.at, entries_read: x.entries_read, last_delivered_id: x.last_delivered_id, lag: x.lag, head: x.head, pending: x.pending, consumers: x.consumers, active_at: x.active_at })),
      },
      fix: g.status === 'STOP'
        ? `no consumer of ${g.group} reads: start or restart its service (\`qt diagnose services\`)`
        : g.status === 'STALL'
          ? `consumers of ${g.group} poll but do not advance: a poison entry or a consumer that only re-reads its pending list; look at \`qt diagnose streams\` (pending, deliveries) and the service log`
          : g.status === 'REWIND'
            ? `someone moved ${g.group} back (XGROUP SETID): entries are delivered again; make sure the consumers are idempotent, or set the id forward`
            : `consumers of ${g.group} are slower than its producers: add consumers, raise the batch size, or find the slow call`,
    });
  }
  return out;
}
