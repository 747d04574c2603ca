/**
 * Per-stage numbers over the window: from our per-minute metrics hashes when they exist
 * (`{prefix}:metrics:{stage}:{minute}`: in, out, rejected, dead, errors, rej:{reason}),
 * otherwise derived from streams and groups (lifetime counts; the window is then unknown).
 * Example rejections come from the newest entries of `stage.rejected` (XREVRANGE COUNT n).
 */
import { Names, STAGES, STAGE_INPUT, STAGE_OUTPUTS, type StageName } from '../contract/names.js';
import type { FunnelStep, ReasonCount, RejectionExample, StageStats, StreamInfo } from './read-model.js';
import { num } from './redis-read.js';

export function minutesOf(now: number, windowMs: number): number[] {
  const last = Names.minuteOf(now);
  const n = Math.max(1, Math.min(Math.ceil(windowMs / 60000), 26 * 60));
  const out: number[] = [];
  for (let m = last - n + 1; m <= last; m++) out.push(m);
  return out;
}

function rate(i: number, o: number): number | null {
  return i > 0 ? Math.round((o / i) * 10000) / 10000 : null;
}

/**
 * Stages that are not meant to produce one output per input: they watch (positions,
 * prices, the exchange, fills) and write only when something calls for it (an exit, a
 * drift correction, a risk proposal, a trust update, a verdict). Their out/in share is
 * no success rate: `success_rate` is null (shown n/a).
 */
export const NO_OUTPUT_PER_INPUT: ReadonlySet<string> = new Set(['harvest_brain', 'risk_guard', 'reconciler', 'rl_agent', 'verify_ensemble']);

/** out/in of a stage whose every input should leave as output; null for the others and without input. */
export function successRate(stage: string, i: number, o: number): number | null {
  return NO_OUTPUT_PER_INPUT.has(stage) ? null : rate(i, o);
}

/** Stage stats from metrics hashes: `hashes[stage][k]` is the hash of minute `minutes[k]`. */
export function stagesFromMetrics(
  hashes: Map<string, (Record<string, string> | null)[]>,
  minutes: number[],
  rejections: RejectionExample[],
): StageStats[] {
  const out: StageStats[] = [];
  for (const [stage, perMinute] of hashes) {
    if (!perMinute.some((h) => h && Object.keys(h).length > 0)) continue;
    const s: StageStats = { stage, in: 0, out: 0, rejected: 0, dead: 0, errors: 0, success_rate: null, top_reasons: [], series: [], source: 'metrics' };
    const reasons = new Map<string, number>();
    perMinute.forEach((h, k) => {
      const row = { minute: minutes[k]!, in: 0, out: 0, rejected: 0 };
      if (h) {
        row.in = num(h.in) ?? 0;
        row.out = num(h.out) ?? 0;
        row.rejected = num(h.rejected) ?? 0;
        s.dead += num(h.dead) ?? 0;
        s.errors += num(h.errors) ?? 0;
        for (const [f, v] of Object.entries(h)) if (f.startsWith('rej:')) reasons.set(f.slice(4), (reasons.get(f.slice(4)) ?? 0) + (num(v) ?? 0));
      }
      s.in += row.in;
      s.out += row.out;
      s.rejected += row.rejected;
      s.series.push(row);
    });
    s.success_rate = successRate(stage, s.in, s.out);
    s.top_reasons = topReasons(reasons, stage, rejections);
    const expired = expiredFromMetrics(perMinute, minutes);
    if (expired) s.expired = expired;
    out.push(s);
  }
  return out;
}

/** `intent_expired` rejections per minute → how many, from the first minute to the end of the last (epoch ms). */
export function expiredFromMetrics(perMinute: (Record<string, string> | null)[], minutes: number[]): StageStats['expired'] {
  let count = 0;
  let first = -1;
  let last = -1;
  perMinute.forEach((h, k) => {
    const n = num(h?.['rej:intent_expired']) ?? 0;
    if (n <= 0) return;
    count += n;
    if (first < 0) first = minutes[k]!;
    last = minutes[k]!;
  });
  return count > 0 ? { count, first_at: first * 60000, last_at: last * 60000 + 59999 } : undefined;
}

export function topReasons(counts: Map<string, number>, stage: string, rejections: RejectionExample[], max = 5): ReasonCount[] {
  return [...counts]
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, max)
    .map(([reason, count]) => {
      const ex = rejections.find((r) => r.stage === stage && r.reason === reason);
      return { reason, count, ...(ex ? { example: { detail: ex.detail, payload: ex.payload, ref_id: ex.ref_id, ts: ex.ts } } : {}) };
    });
}

/** Rejection counts per stage from the `stage.rejected` sample (for stages without metrics). */
export function stagesFromRejections(rejections: RejectionExample[], have: Set<string>, streams: StreamInfo[]): StageStats[] {
  const by = new Map<string, Map<string, number>>();
  for (const r of rejections) {
    if (have.has(r.stage)) continue;
    const m = by.get(r.stage) ?? new Map<string, number>();
    m.set(r.reason, (m.get(r.reason) ?? 0) + 1);
    by.set(r.stage, m);
  }
  const out: StageStats[] = [];
  for (const [stage, reasons] of by) {
    const rejected = [...reasons.values()].reduce((a, b) => a + b, 0);
    const d = derived(stage as StageName, streams);
    const exp = rejections.filter((r) => r.stage === stage && r.reason === 'intent_expired').map((r) => r.ts);
    out.push({
      stage, in: Math.max(d?.in ?? 0, rejected), out: d?.out ?? 0, rejected, dead: 0, errors: 0,
      success_rate: successRate(stage, Math.max(d?.in ?? 0, rejected), d?.out ?? 0),
      top_reasons: topReasons(reasons, stage, rejections), series: [], source: 'streams',
      ...(exp.length ? { expired: { count: exp.length, first_at: Math.min(...exp), last_at: Math.max(...exp) } } : {}),
    });
  }
  return out;
}

function derived(stage: StageName, streams: StreamInfo[]): { in: number; out: number } | null {
  const input = STAGE_INPUT[stage];
  const outputs = STAGE_OUTPUTS[stage] ?? [];
  const si = input ? streams.find((s) => s.stream === input) : undefined;
  const g = si?.groups.find((x) => x.group === stage);
  const outs = outputs.map((o) => streams.find((s) => s.stream === o)).filter((s): s is StreamInfo => !!s);
  if (!g && outs.length === 0) return null;
  const inN = g ? (g.entries_read ?? Math.max(0, (si!.entries_added ?? si!.length) - (g.lag ?? 0))) : 0;
  // a stage's share of a stream several stages write is unknown: count only single-writer streams
  const outN = outs.reduce((a, s) => a + (writers(s.stream) === 1 ? (s.entries_added ?? s.length) : 0), 0);
  return { in: inN, out: outN };
}

function writers(stream: string): number {
  return Object.values(STAGE_OUTPUTS).filter((l) => l?.includes(stream as never)).length;
}

/** Lifetime numbers per stage from streams and groups, when there are no metrics at all. */
export function stagesFromStreams(streams: StreamInfo[]): StageStats[] {
  const out: StageStats[] = [];
  for (const stage of STAGES) {
    const d = derived(stage, streams);
    if (!d || (d.in === 0 && d.out === 0 && !STAGE_INPUT[stage])) continue;
    if (d.in === 0 && d.out === 0 && !streams.some((s) => s.stream === STAGE_INPUT[stage])) continue;
    out.push({ stage, in: d.in, out: d.out, rejected: 0, dead: 0, errors: 0, success_rate: successRate(stage, d.in, d.out), top_reasons: [], series: [], source: 'streams' });
  }
  return out;
}

export function funnelOf(stages: StageStats[], streams: StreamInfo[]): FunnelStep[] {
  const st = (n: string) => stages.find((s) => s.stage === n && s.source === 'metrics');
  const len = (n: string) => {
    const s = streams.find((x) => x.stream === n);
    return s ? (s.entries_added ?? s.length) : null;
  };
  const pick = (stage: string, field: 'in' | 'out', stream: string | null) => {
    const s = st(stage);
    return s ? s[field] : stream ? len(stream) : null;
  };
  return [
    { step: 'signals', count: pick('ai_engine', 'out', 'ai.signal_generated') },
    { step: 'intents', count: pick('intent_bridge', 'in', 'trade.intent') },
    { step: 'plans', count: pick('intent_bridge', 'out', 'apply.plan') },
    { step: 'approved', count: pick('apply_layer', 'out', 'apply.approved') },
    { step: 'executed', count: pick('intent_executor', 'out', null) },
  ];
}
