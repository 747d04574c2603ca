/**
 * The "why" of stage and service findings: the top rejection reasons with their counts and
 * one example each (STAGE_REJECTING, STAGE_NO_OUTPUT), what waits for a silent service
 * (SERVICE_SILENT), and one SERVICE_DOWN for the services that stopped cleanly. Pure.
 */
import type { Finding, PipelineSnapshot, ServiceInfo, StageStats } from './read-model.js';
import { describeWaits } from './service-input.js';

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/**
 * `position_limit_reached ×480 (e.g. "open 10 >= limit 10"), cooldown ×3` for a message:
 * the top `max` reasons of a stage with their counts and the first one's example detail
 * (or payload). Says so when rejections have no per-reason counters.
 */
export function reasonsText(s: StageStats, max = 3): string {
  const top = s.top_reasons.slice(0, max);
  if (!top.length) return s.rejected > 0 ? `${s.rejected} rejected, reasons unknown (no rej:{reason} counters or stage.rejected entries)` : 'no rejections';
  const more = s.top_reasons.length > max ? `, +${s.top_reasons.length - max} more reason(s)` : '';
  return top.map((r, i) => {
    const ex = i === 0 ? (r.example ? ` (e.g. ${JSON.stringify(clip(r.example.detail || r.example.payload, 120))})` : ' (no example among the newest stage.rejected entries)') : '';
    return `${r.reason} ×${r.count.toLocaleString('en-US')}${ex}`;
  }).join(', ') + more;
}

/** The top reasons as evidence: reason, count and one example (payload cut at 600 characters). */
export function reasonsEvidence(s: StageStats): { reason: string; count: number; example: unknown }[] {
  return s.top_reasons.map((r) => ({ reason: r.reason, count: r.count, example: r.example ? { ...r.example, payload: r.example.payload.slice(0, 600) } : null }));
}

/** SERVICE_SILENT's message tail and evidence from the service's silent evidence. */
export function silentWhy(s: ServiceInfo): { text: string; evidence: Record<string, unknown> } {
  if (!s.silent) return { text: 'while its input has newer entries', evidence: {} };
  return {
    text: `while ${describeWaits(s.silent)}` + (s.silent.backlog === 'unknown' ? ' (lag unknown: not counted as no backlog)' : ''),
    evidence: { inputs: s.silent.inputs, backlog: s.silent.backlog, newer_entries: s.silent.newer_entries, quiet_since_ms: s.silent.since_ms },
  };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * One SERVICE_DOWN for every expected service that stopped cleanly (its last beat said
 * `stopping`), instead of one crit per service: still down (the registry expects them), but
 * stopped on purpose, so warn; crit while positions are open (nothing runs their exits).
 * Null when none stopped cleanly.
 */
export function stoppedFinding(snap: PipelineSnapshot): Finding | null {
  const stopped = snap.services.filter((s) => s.status === 'down' && s.expected && s.stopped_at);
  if (!stopped.length) return null;
  const times = stopped.map((s) => s.stopped_at!).sort((a, b) => a - b);
  const first = times[0]!;
  const last = times[times.length - 1]!;
  const when = last - first < 60_000 ? `at ${iso(last)}` : `between ${iso(first)} and ${iso(last)}`;
  const open = snap.positions.open;
  const names = stopped.map((s) => s.service);
  return {
    code: 'SERVICE_DOWN', severity: open > 0 ? 'crit' : 'warn', subject: names.length === 1 ? names[0]! : 'services',
    message: `${names.length === 1 ? names[0] : `${names.length} expected services`} stopped cleanly ${when}` +
      (names.length > 1 ? ` (${clip(names.join(', '), 160)})` : '') + ': nothing of theirs runs until they are started' +
      (open > 0 ? `, and ${open} position(s) are open with no exit or risk stage running` : ''),
    evidence: { services: stopped.map((s) => ({ service: s.service, stopped_at: s.stopped_at, host: s.host, pid: s.pid })), stopped_first_ms: first, stopped_last_ms: last, open_positions: open },
    fix: `start them again (\`qt up\`, or systemctl start qt-<stage>); if they were retired, \`qt services forget NAME\``,
  };
}
