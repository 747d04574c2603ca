/**
 * `qt diagnose streams --sample DURATION`: the usual report, plus every group sampled over
 * the duration and judged by Burrow's rules (trend.ts), its GROUP_TREND findings merged in.
 */
import type { Config } from '../config/config.js';
import { UnavailableError, UsageError, errorMessage } from '../errors.js';
import { scrub } from '../config/redact.js';
import { collectSnapshot } from './collect.js';
import type { Report } from './read-model.js';
import { buildReport } from './report.js';
import { withReadTarget } from './session.js';
import type { Thresholds } from './thresholds.js';
import { trendOptions, type TrendOptions } from './trend.js';
import { sampleTrends, withTrends } from './trend-sample.js';

/** Bounds of `--sample`: at least 1 s (five looks), at most 1 h. */
export const SAMPLE_MIN_MS = 1000;
export const SAMPLE_MAX_MS = 3600_000;

/** The report with every group sampled over `sampleMs`. Exit-3 error when Redis fails mid-way. */
export async function sampledReportOf(cfg: Config, windowMs: number, th: Thresholds, sampleMs: number, opts: TrendOptions = trendOptions()): Promise<Report> {
  return withReadTarget(cfg, async (redis) => {
    try {
      const snap = await collectSnapshot(redis, cfg.names, { windowMs, thresholds: th, url: cfg.redisUrl });
      const s = await sampleTrends(redis, snap.streams.filter((x) => x.groups.length).map((x) => ({ stream: x.stream, key: x.key })), sampleMs, opts);
      return withTrends(buildReport(snap, th), s.trends, opts, { duration_ms: sampleMs, samples: s.samples, interval_ms: s.interval_ms, commands: s.commands, allowed_lag: opts.allowedLag });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UnavailableError(`the check could not run: ${scrub(errorMessage(e)).split('\n')[0]}`);
    }
  });
}
