/**
 * Thresholds of the findings (docs/diagnostics.md). Defaults suit a live pipeline;
 * each can be set by environment (QT_DIAG_*) or by flags of `qt health` / `qt diagnose`.
 */
export interface Thresholds {
  /** a live stream with no entry newer than this is stale (warn) */
  staleMs: number;
  /** …and crit past this */
  staleCritMs: number;
  /** group lag (entries not yet delivered) */
  lagWarn: number;
  lagCrit: number;
  /** delivered entries not acknowledged for this long are stuck */
  pendingIdleMs: number;
  /** a consumer idle this long is dead (CONSUMER_DEAD when it holds pending entries) */
  consumerIdleMs: number;
  /** share of a stage's input rejected (0..1) */
  rejectWarn: number;
  rejectCrit: number;
  /** share of rejections that are schema_invalid/invalid_quantity for CONTRACT_MISMATCH */
  mismatchShare: number;
  /** fewest inputs in the window before a stage's rates are judged */
  minSample: number;
  /** a running service whose input has entries this much newer than its last message is silent */
  silentMs: number;
  /** deliveries of one pending entry that mark it as a poison message (crit) */
  poisonDeliveries: number;
  /** consumers in one group from which a count far above the running services is a leak (CONSUMER_LEAK) */
  consumerLeak: number;
  /** an open position without a resting stop this long is POSITION_UNPROTECTED (QT_STOP_GRACE_MS, ms) */
  stopGraceMs: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  staleMs: 30 * 60_000,
  staleCritMs: 6 * 3600_000,
  lagWarn: 1000,
  lagCrit: 10000,
  pendingIdleMs: 5 * 60_000,
  consumerIdleMs: 30 * 60_000,
  rejectWarn: 0.5,
  rejectCrit: 0.9,
  mismatchShare: 0.8,
  minSample: 5,
  silentMs: 5 * 60_000,
  poisonDeliveries: 5,
  consumerLeak: 100,
  stopGraceMs: 10_000,
};

/** Environment variable of each threshold (durations take 30s, 5m, 3h…; shares 0..1). */
export const THRESHOLD_ENV: Record<keyof Thresholds, string> = {
  staleMs: 'QT_DIAG_STALE',
  staleCritMs: 'QT_DIAG_STALE_CRIT',
  lagWarn: 'QT_DIAG_LAG_WARN',
  lagCrit: 'QT_DIAG_LAG_CRIT',
  pendingIdleMs: 'QT_DIAG_PENDING_IDLE',
  consumerIdleMs: 'QT_DIAG_CONSUMER_IDLE',
  rejectWarn: 'QT_DIAG_REJECT_WARN',
  rejectCrit: 'QT_DIAG_REJECT_CRIT',
  mismatchShare: 'QT_DIAG_MISMATCH_SHARE',
  minSample: 'QT_DIAG_MIN_SAMPLE',
  silentMs: 'QT_DIAG_SILENT',
  poisonDeliveries: 'QT_DIAG_POISON_DELIVERIES',
  consumerLeak: 'QT_DIAG_CONSUMER_LEAK',
  stopGraceMs: 'QT_STOP_GRACE_MS',
};

const DURATIONS = new Set<keyof Thresholds>(['staleMs', 'staleCritMs', 'pendingIdleMs', 'consumerIdleMs', 'silentMs', 'stopGraceMs']);

export function parseThresholdValue(key: keyof Thresholds, raw: string): number {
  const s = String(raw).trim();
  if (DURATIONS.has(key)) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s);
    if (!m) throw new Error(`${THRESHOLD_ENV[key]}: expected a duration like 30s, 5m, 3h (got ${JSON.stringify(raw)})`);
    const mult = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 }[m[2] ?? 'ms']!;
    return Math.round(Number(m[1]) * mult);
  }
  const n = Number(s);
  if (s === '' || !Number.isFinite(n) || n < 0) throw new Error(`${THRESHOLD_ENV[key]}: expected a number ≥ 0 (got ${JSON.stringify(raw)})`);
  if ((key === 'rejectWarn' || key === 'rejectCrit' || key === 'mismatchShare') && n > 1) {
    throw new Error(`${THRESHOLD_ENV[key]}: expected a share from 0 to 1 (got ${JSON.stringify(raw)})`);
  }
  return n;
}

/** Defaults, then environment, then explicit overrides (raw strings from flags). Collects every problem. */
export function resolveThresholds(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<keyof Thresholds, string | undefined>> = {},
): { thresholds: Thresholds; problems: string[] } {
  const t: Thresholds = { ...DEFAULT_THRESHOLDS };
  const problems: string[] = [];
  for (const key of Object.keys(THRESHOLD_ENV) as (keyof Thresholds)[]) {
    const raw = overrides[key] ?? env[THRESHOLD_ENV[key]];
    if (raw === undefined || raw === '') continue;
    try {
      t[key] = parseThresholdValue(key, raw);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return { thresholds: t, problems };
}
