/**
 * ENTRIES_EXPIRED: how many entries a stage refused as `intent_expired` (older than the
 * policy's `entry_max_age_ms`, age-gate.ts) in the window, and since when. After an outage
 * or a restart this is what the operator needs to know: those entries were not traded.
 * Counts and times come from the stage's `rej:intent_expired` metrics (StageStats.expired);
 * the oldest age and the limit from the sampled `stage.rejected` details
 * (`…: age N ms > limit M ms …`). Pure.
 */
import type { Finding, PipelineSnapshot } from './read-model.js';

const AGE_RE = /age (\d+) ms > limit (\d+) ms/;
const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
const dur = (ms: number) =>
  ms >= 86_400_000 ? `${(ms / 86_400_000).toFixed(1)} d` : ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`;

/** One ENTRIES_EXPIRED finding (warn) per stage that refused expired entries in the window. */
export function expiredFindings(snap: PipelineSnapshot): Finding[] {
  const out: Finding[] = [];
  for (const s of snap.stages) {
    const e = s.expired;
    if (!e || e.count <= 0) continue;
    const examples = snap.rejections.latest.filter((r) => r.stage === s.stage && r.reason === 'intent_expired');
    let oldest: number | null = null;
    let limit: number | null = null;
    for (const r of examples) {
      const m = AGE_RE.exec(r.detail);
      if (!m) continue;
      oldest = Math.max(oldest ?? 0, Number(m[1]));
      limit = Number(m[2]);
    }
    out.push({
      code: 'ENTRIES_EXPIRED', severity: 'warn', subject: s.stage,
      message: `${s.stage} refused ${e.count} expired entr${e.count === 1 ? 'y' : 'ies'} since ${iso(e.first_at)} (last ${iso(e.last_at)})` +
        (limit !== null ? `: older than entry_max_age_ms ${limit} ms` : '') + (oldest !== null ? `, the oldest ${dur(oldest)} old` : '') + '; they were not traded',
      evidence: {
        stage: s.stage, count: e.count, first_at: e.first_at, last_at: e.last_at, oldest_age_ms: oldest, limit_ms: limit, source: s.source,
        examples: examples.slice(0, 3).map((r) => ({ ref_id: r.ref_id, symbol: r.symbol, detail: r.detail, ts: r.ts })),
      },
      fix: `entries waited longer than the policy allows (an outage, a stopped stage or a backlog) and were refused, not traded; find why ${s.stage} or a stage before it was behind ` +
        '(`qt diagnose streams`, its service log). Raise the limit only if older entries are still worth trading (`qt policy set entry_max_age_ms=…`).',
    });
  }
  return out;
}
