/**
 * `qt health` output formats: text, json, a Nagios plugin line with perfdata
 * (`'label'=value[unit];warn;crit`), and Prometheus text for node_exporter's textfile
 * collector (no timestamps).
 */
import { exitCodeForStatus } from '../contract/codes.js';
import type { Report } from './read-model.js';
import type { Thresholds } from './thresholds.js';

/** The Nagios status word of a report status. */
export const WORD = { ok: 'OK', info: 'OK', warn: 'WARNING', crit: 'CRITICAL', unknown: 'UNKNOWN' } as const;

function problems(r: Report) {
  return r.findings.filter((f) => f.severity !== 'info');
}

/** The largest group backlog, or 'U' (Nagios: unknown) when any group's lag is unknown: never 0 for unknown. */
function maxLag(r: Report): number | 'U' {
  const lags = r.streams.flatMap((s) => s.groups.map((g) => g.lag));
  return lags.some((l) => l === null) ? 'U' : Math.max(0, ...(lags as number[]));
}

function blindLines(r: Report): string[] {
  return (r.blind_spots ?? []).map((b) => `  UNKNOWN ${b.what}: ${b.detail}\n    fix: ${b.fix}`);
}

export function healthText(r: Report): string {
  const p = problems(r);
  const head = `qt health: ${WORD[r.status]} (${r.prefix}) — ${p.filter((f) => f.severity === 'crit').length} crit, ${p.filter((f) => f.severity === 'warn').length} warn`;
  return [head, ...blindLines(r), ...p.map((f) => `  ${f.severity.toUpperCase()} ${f.code} ${f.subject}: ${f.message}\n    fix: ${f.fix}`)].join('\n');
}

export function healthJson(r: Report): string {
  return JSON.stringify({
    generated_at: r.generated_at, window_s: r.window_s, prefix: r.prefix, status: r.status, exit_code: exitCodeForStatus(r.status),
    findings: r.findings, unknowns: r.unknowns, blind_spots: r.blind_spots ?? [],
  });
}

/** `qt health --format json` when no report could be built (Redis unreachable): the unknown verdict, exit 3. */
export function healthJsonUnknown(prefix: string, message: string, now = Date.now()): string {
  return JSON.stringify({
    generated_at: now, prefix, status: 'unknown', exit_code: 3, findings: [], unknowns: [message],
    blind_spots: [{ what: 'redis', detail: message, fix: 'check REDIS_URL (or --redis-url), that Redis runs and this host may reach it' }],
  });
}

export function healthNagios(r: Report, th: Thresholds): string {
  const p = problems(r);
  const crit = p.filter((f) => f.severity === 'crit').length;
  const warn = p.filter((f) => f.severity === 'warn').length;
  const blind = (r.blind_spots ?? []).map((b) => `${b.what}: ${b.detail}`.replace(/\|/g, '/'));
  const summary = [...(r.status === 'unknown' ? blind.slice(0, 2) : []), ...p.slice(0, 3).map((f) => `${f.code} ${f.subject}`)].join(', ') +
    (p.length > 3 ? `, +${p.length - 3} more` : '') || 'pipeline healthy';
  const perf = [
    `'crit_findings'=${crit};;1;0`,
    `'warn_findings'=${warn};1;;0`,
    `'max_group_lag'=${maxLag(r)};${th.lagWarn};${th.lagCrit};0`,
    `'open_positions'=${r.positions.open};;${r.positions.limit ?? ''};0`,
    `'ghost_keys'=${r.positions.ghosts.length};1;;0`,
    `'dead_letters'=${r.dead_letters.count_in_window};1;;0`,
    `'services_down'=${r.services.filter((s) => s.status === 'down' || s.status === 'failed').length};;1;0`,
    `'redis_commands'=${r.commands};;;0`,
  ];
  return `QT ${WORD[r.status]} - ${summary} | ${perf.join(' ')}`;
}

export function nagiosUnknown(message: string): string {
  return `QT UNKNOWN - ${message.replace(/\|/g, '/')}`;
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function healthProm(r: Report): string {
  const lines: string[] = [];
  const metric = (name: string, help: string, rows: [Record<string, string>, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of rows) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${esc(x)}"`).join(',');
      lines.push(`${name}${l ? `{${l}}` : ''} ${Number.isFinite(v) ? v : 'NaN'}`);
    }
  };
  const pre = { prefix: r.prefix };
  metric('qt_health_status', 'overall status: 0 ok, 1 warn, 2 crit, 3 unknown', [[pre, exitCodeForStatus(r.status)]]);
  metric('qt_findings', 'findings by severity', (['crit', 'warn', 'info'] as const).map((s) => [{ ...pre, severity: s }, r.findings.filter((f) => f.severity === s).length]));
  metric('qt_finding', 'one series per finding (1 while it holds)', r.findings.map((f) => [{ ...pre, code: f.code, severity: f.severity, subject: f.subject }, 1]));
  metric('qt_stream_length', 'entries in a stream', r.streams.map((s) => [{ ...pre, stream: s.stream }, s.length]));
  metric('qt_stream_newest_age_seconds', 'age of the newest entry', r.streams.filter((s) => s.age_s !== null).map((s) => [{ ...pre, stream: s.stream }, s.age_s!]));
  const groups = r.streams.flatMap((s) => s.groups.map((g) => ({ s, g })));
  metric('qt_group_pending', 'delivered, unacknowledged entries', groups.map(({ s, g }) => [{ ...pre, stream: s.stream, group: g.group }, g.pending]));
  metric('qt_group_lag', 'entries not yet delivered to the group', groups.filter(({ g }) => g.lag !== null).map(({ s, g }) => [{ ...pre, stream: s.stream, group: g.group }, g.lag!]));
  metric('qt_group_consumers', 'consumers in the group', groups.map(({ s, g }) => [{ ...pre, stream: s.stream, group: g.group }, g.consumers]));
  for (const f of ['in', 'out', 'rejected'] as const) {
    metric(`qt_stage_${f}_window`, `stage ${f} over the window`, r.stages.map((s) => [{ ...pre, stage: s.stage, source: s.source }, s[f]]));
  }
  metric('qt_service_up', 'service heartbeat live and not failed', r.services.map((s) => [{ ...pre, service: s.service, status: s.status }, s.status === 'down' || s.status === 'failed' ? 0 : 1]));
  metric('qt_open_positions', 'open positions (qty > 0)', [[pre, r.positions.open]]);
  metric('qt_ghost_keys', 'ghost position/snapshot keys', [[pre, r.positions.ghosts.length]]);
  metric('qt_dead_letters_window', 'dead letters in the window', [[pre, r.dead_letters.count_in_window]]);
  return lines.join('\n') + '\n';
}
