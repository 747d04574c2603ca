/**
 * Group trends from history: the engine records, with each heartbeat, where each consuming
 * stage's group stands (lag-record.ts: `lag`, `entries_read`, `last_delivered_id`, `pending`,
 * `entries_added`, `last_id`, `consumers`, `lag_at` in `{prefix}:metrics:{stage}:{minute}`).
 * The collector already reads those hashes for the window; this turns them into one sample
 * per minute, adds the group as it is now (with its consumers' idle time), and judges the
 * window by Burrow's rules (trend.ts). No extra Redis command.
 */
import { STAGE_INPUT, type StageName } from '../contract/names.js';
import type { StreamInfo } from './read-model.js';
import { DEFAULT_TREND, type GroupTrend, type TrendOptions, type TrendSample } from './trend.js';
import { sampleFromReport, sampleOf, trendsOf } from './trend-sample.js';

const n = (v: string | undefined): number | null => {
  if (v === undefined || v === '') return null;
  const x = Number(v);
  return Number.isFinite(x) ? x : null;
};

/** One sample from a minute's metrics hash, or null when the minute has no position record. */
export function sampleFromMetrics(h: Record<string, string> | null): TrendSample | null {
  if (!h || n(h.lag_at) === null || h.last_delivered_id === undefined) return null;
  const lastId = h.last_id ?? '';
  return sampleOf(
    n(h.lag_at)!,
    { lastId, length: lastId ? 1 : 0, entriesAdded: n(h.entries_added) },
    { lag: n(h.lag), entries_read: n(h.entries_read), last_delivered_id: h.last_delivered_id, pending: n(h.pending) ?? 0, consumers: n(h.consumers) ?? 0 },
    null,
  );
}

/**
 * Trends of our consuming stages' groups from their per-minute records (`hashes[stage][k]`
 * = the hash of the k-th minute of the window), ending with the group as collected now.
 * Stages without any record are left out (a deployment that is not ours has none).
 */
export function trendsFromMetrics(
  hashes: Map<string, (Record<string, string> | null)[]>,
  streams: StreamInfo[],
  now: number,
  opts: TrendOptions = DEFAULT_TREND,
): GroupTrend[] {
  const series = new Map<string, TrendSample[]>();
  for (const [stage, perMinute] of hashes) {
    const input = STAGE_INPUT[stage as StageName];
    if (!input) continue;
    const samples = perMinute.map(sampleFromMetrics).filter((x): x is TrendSample => x !== null && x.at <= now);
    if (!samples.length) continue;
    const s = streams.find((x) => x.stream === input);
    const g = s?.groups.find((x) => x.group === stage);
    if (s && g) samples.push(sampleFromReport(now, s, g));
    series.set(`${input}\u0000${stage}`, samples.sort((a, b) => a.at - b.at));
  }
  return trendsOf(series, 'metrics', opts, now);
}
