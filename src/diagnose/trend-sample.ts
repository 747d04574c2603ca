/**
 * Samples every consumer group several times and judges each by Burrow's rules
 * (trend.ts): `qt diagnose streams --sample DURATION` and the console. One look is two
 * pipelined rounds: `XINFO STREAM` (never FULL) and `XINFO GROUPS` per stream, then
 * `XINFO CONSUMERS` per group that has consumers, skipped past CONSUMER_READ_CAP consumers
 * (a leaking group of 200,000 consumers blocks Redis ~30 ms per call: REDIS-STREAMS-FACTS.md).
 * The cost grows with streams, groups and samples, never with stream length. Read-only.
 */
import type { Redis } from 'ioredis';
import type { GroupInfo, Report, StreamInfo } from './read-model.js';
import { num, str, replyMap, Reader, type Cmd, type ReadTarget } from './redis-read.js';
import { worstSeverity } from '../contract/codes.js';
import type { Finding } from './read-model.js';
import { compareIds, DEFAULT_TREND, evaluateTrend, trendFindings, trendOptions, type GroupTrend, type TrendOptions, type TrendSample } from './trend.js';

/** Groups with more consumers than this are sampled without XINFO CONSUMERS (activity then comes from position moves only). */
export const CONSUMER_READ_CAP = 200;
/** Most samples one `--sample` run takes (Burrow's default window is 10 offsets). */
export const MAX_SAMPLES = 10;
/** Shortest time between two looks. */
export const MIN_INTERVAL_MS = 250;

const groupKey = (stream: string, group: string) => `${stream}\u0000${group}`;

/**
 * A trend sample from one look: Redis's lag kept only where it satisfies its invariants
 * (REDIS-STREAMS-FACTS.md): 0 when the group's last-delivered-id ≥ the stream's last id
 * (whatever `lag` says: redis#13337), null (unknown) when Redis says null, or when it is
 * negative, above entries-added, or 0 while entries wait. `lastId` is the stream's newest id
 * ('' when empty).
 */
export function sampleOf(
  at: number,
  stream: { lastId: string; length: number; entriesAdded: number | null },
  g: { lag: number | null; entries_read: number | null; last_delivered_id: string; pending: number; consumers: number },
  minIdleMs: number | null,
): TrendSample {
  const caughtUp = stream.length === 0 || !stream.lastId || compareIds(g.last_delivered_id, stream.lastId) >= 0;
  let lag = g.lag;
  if (caughtUp) lag = 0;
  else if (lag !== null && (lag <= 0 || (stream.entriesAdded !== null && lag > stream.entriesAdded))) lag = null;
  return {
    at, entries_read: g.entries_read, last_delivered_id: g.last_delivered_id, lag, head: stream.entriesAdded,
    pending: g.pending, consumers: g.consumers, active_at: minIdleMs === null ? null : at - minIdleMs,
  };
}

/** One look at the given streams: a sample per group (`stream \0 group` → sample). */
export async function lookOnce(rd: Reader, streams: { stream: string; key: string }[], clock: () => number = Date.now): Promise<Map<string, TrendSample>> {
  const r1 = await rd.batch(streams.flatMap((s): Cmd[] => [['xinfo', 'STREAM', s.key], ['xinfo', 'GROUPS', s.key]]));
  const at = clock();
  const looks: { s: { stream: string }; info: { lastId: string; length: number; entriesAdded: number | null }; g: Parameters<typeof sampleOf>[2] & { group: string } }[] = [];
  streams.forEach((s, i) => {
    const si = r1[2 * i]!;
    const gi = r1[2 * i + 1]!;
    if (si.err || gi.err || !Array.isArray(gi.val)) return;
    const m = replyMap(si.val);
    const length = num(m['length']) ?? 0;
    const lastEntry = Array.isArray(m['last-entry']) ? str((m['last-entry'] as unknown[])[0]) : '';
    const info = { lastId: lastEntry || (length > 0 ? str(m['last-generated-id']) : ''), length, entriesAdded: num(m['entries-added']) };
    for (const raw of gi.val) {
      const gm = replyMap(raw);
      looks.push({
        s, info,
        g: {
          group: str(gm['name']), lag: num(gm['lag']), entries_read: num(gm['entries-read']), last_delivered_id: str(gm['last-delivered-id']),
          pending: num(gm['pending']) ?? 0, consumers: num(gm['consumers']) ?? 0,
        },
      });
    }
  });
  const ask = looks.filter((l) => l.g.consumers > 0 && l.g.consumers <= CONSUMER_READ_CAP);
  const r2 = await rd.batch(ask.map((l): Cmd => ['xinfo', 'CONSUMERS', streams.find((x) => x.stream === l.s.stream)!.key, l.g.group]));
  const idle = new Map<unknown, number>();
  ask.forEach((l, i) => {
    const r = r2[i]!;
    if (r.err || !Array.isArray(r.val)) return;
    const idles = r.val.map((c) => num(replyMap(c)['idle'])).filter((x): x is number => x !== null);
    if (idles.length) idle.set(l, Math.min(...idles));
  });
  const out = new Map<string, TrendSample>();
  for (const l of looks) out.set(groupKey(l.s.stream, l.g.group), sampleOf(at, l.info, l.g, idle.get(l) ?? null));
  return out;
}

/** How many looks a duration allows: up to MAX_SAMPLES, at least MIN_INTERVAL_MS apart, at least 2. */
export function samplePlan(durationMs: number): { samples: number; intervalMs: number } {
  const samples = Math.max(2, Math.min(MAX_SAMPLES, Math.floor(durationMs / MIN_INTERVAL_MS) + 1));
  return { samples, intervalMs: Math.round(durationMs / (samples - 1)) };
}

/** Trend of each group from its samples (oldest first), worst first. */
export function trendsOf(samples: Map<string, TrendSample[]>, source: GroupTrend['source'], opts: TrendOptions = DEFAULT_TREND, now?: number): GroupTrend[] {
  const rank = { STOP: 0, STALL: 1, REWIND: 2, WARN: 3, OK: 4 } as const;
  const out: GroupTrend[] = [];
  for (const [k, list] of samples) {
    const [stream, group] = k.split('\u0000') as [string, string];
    out.push({ stream, group, source, samples: list, ...evaluateTrend(list, opts, now) });
  }
  return out.sort((a, b) => rank[a.status] - rank[b.status] || a.stream.localeCompare(b.stream) || a.group.localeCompare(b.group));
}

/**
 * Samples every group of `streams` over `durationMs` (MAX_SAMPLES looks at most, evenly
 * spaced by the clock, so a slow look does not stretch the window) and judges each.
 * `wait` is the pause between looks (injectable for tests). Throws what Redis throws.
 */
export async function sampleTrends(
  redis: ReadTarget,
  streams: { stream: string; key: string }[],
  durationMs: number,
  opts: TrendOptions = DEFAULT_TREND,
  wait: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<{ trends: GroupTrend[]; commands: number; samples: number; interval_ms: number }> {
  const rd = new Reader(redis);
  const plan = samplePlan(durationMs);
  const series = new Map<string, TrendSample[]>();
  const start = Date.now();
  for (let i = 0; i < plan.samples; i++) {
    const due = start + i * plan.intervalMs - Date.now();
    if (due > 0) await wait(due);
    for (const [k, s] of await lookOnce(rd, streams)) {
      const l = series.get(k) ?? [];
      l.push(s);
      series.set(k, l);
    }
  }
  return { trends: trendsOf(series, 'sampled', opts), commands: rd.commands, samples: plan.samples, interval_ms: plan.intervalMs };
}

/**
 * The console's memory of samples: one per group per refresh, from the report it already
 * loaded (no extra Redis command), the newest `keep` per group; groups that disappear are
 * dropped. `trends()` judges what it holds.
 */
export class TrendHistory {
  private readonly series = new Map<string, TrendSample[]>();
  constructor(readonly keep = MAX_SAMPLES) {}

  add(report: Pick<Report, 'generated_at' | 'streams'>): void {
    const seen = new Set<string>();
    for (const s of report.streams) {
      for (const g of s.groups) {
        const k = groupKey(s.stream, g.group);
        seen.add(k);
        const l = this.series.get(k) ?? [];
        const prev = l[l.length - 1];
        if (prev && prev.at >= report.generated_at) continue;
        l.push(sampleFromReport(report.generated_at, s, g));
        if (l.length > this.keep) l.splice(0, l.length - this.keep);
        this.series.set(k, l);
      }
    }
    for (const k of [...this.series.keys()]) if (!seen.has(k)) this.series.delete(k);
  }

  trends(opts: TrendOptions = DEFAULT_TREND): GroupTrend[] {
    return trendsOf(this.series, 'console', opts);
  }
}

/** A sample from a collected report's group (the stream's newest id is `last_id`; without it, Redis's lag is taken when not negative). */
export function sampleFromReport(at: number, s: StreamInfo, g: GroupInfo): TrendSample {
  const idles = g.consumer_details.map((c) => c.idle_ms);
  const minIdle = idles.length ? Math.min(...idles) : null;
  if (s.last_id === undefined) {
    return {
      at, entries_read: g.entries_read, last_delivered_id: g.last_delivered_id, lag: g.lag !== null && g.lag >= 0 ? g.lag : null, head: s.entries_added,
      pending: g.pending, consumers: g.consumers, active_at: minIdle === null ? null : at - minIdle,
    };
  }
  return sampleOf(at, { lastId: s.last_id, length: s.length, entriesAdded: s.entries_added }, g, minIdle);
}

const sevRank = { crit: 3, warn: 2, info: 1 } as const;
/** Findings worst first, then by code and subject (the order of findingsOf). */
export function sortFindings(f: Finding[]): Finding[] {
  return f.sort((a, b) => sevRank[b.severity] - sevRank[a.severity] || a.code.localeCompare(b.code) || a.subject.localeCompare(b.subject));
}

/** Replaces a report's trends and GROUP_TREND findings with `trends` (status recomputed). */
export function withTrends(r: Report, trends: GroupTrend[], opts: TrendOptions = DEFAULT_TREND, sample?: Report['sample']): Report {
  const findings = sortFindings([...r.findings.filter((f) => f.code !== 'GROUP_TREND'), ...trendFindings(trends, opts)]);
  const w = worstSeverity(findings.map((f) => f.severity));
  const fromFindings = w === 'info' ? 'ok' : w;
  // a verdict that is not a severity (an `unknown` the report reached from what it could not see) stands unless a crit does
  const status = !['ok', 'info', 'warn', 'crit'].includes(r.status as string) && fromFindings !== 'crit' ? r.status : fromFindings;
  return { ...r, findings, status, trends, ...(sample ? { sample } : {}) };
}

/**
 * The console's view of a fresh report: its samples kept so far judged per group; where
 * the console's window is not yet full, the trend from the engine's records (if any) stands.
 */
export function withConsoleTrends(r: Report, h: TrendHistory, opts: TrendOptions = trendOptions()): Report {
  h.add(r);
  const fromMetrics = new Map((r.trends ?? []).map((t) => [`${t.stream}\u0000${t.group}`, t]));
  const trends = h.trends(opts).map((t) => (t.rule === 0 ? (fromMetrics.get(`${t.stream}\u0000${t.group}`) ?? t) : t));
  return withTrends(r, trends, opts);
}
