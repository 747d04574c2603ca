/**
 * What each view lists, derived from the one read model (`Report`): the same items
 * drive rendering, the j/k cursor, `/` filtering and `enter` details. Pure.
 */
import type { Finding, GroupInfo, PositionRow, Report, RejectionExample, ServiceInfo, StageStats, StreamInfo } from '../diagnose/read-model.js';

export const VIEWS = ['pipeline', 'streams', 'rejections', 'positions', 'services', 'findings'] as const;
export type ViewName = (typeof VIEWS)[number];
export const VIEW_TITLES: Record<ViewName, string> = {
  pipeline: 'Pipeline',
  streams: 'Streams',
  rejections: 'Rejections',
  positions: 'Positions',
  services: 'Services',
  findings: 'Findings',
};

const SEVERITY_RANK: Record<string, number> = { crit: 0, warn: 1, info: 2 };

export function sortedFindings(fs: Finding[]): Finding[] {
  return [...fs].sort((a, b) => (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3));
}

/**
 * How starving a consumer group is: the severity of the GROUP_STARVING finding that names
 * it (info = a quiet control-plane stream), or 'warn' for a group on a stream that never
 * received an entry when no finding says more; null when it is fed.
 */
export function starvingOf(report: Report, s: StreamInfo, g: GroupInfo): 'crit' | 'warn' | 'info' | null {
  const f = report.findings.find(
    (f) => f.code === 'GROUP_STARVING' && (f.subject.includes(s.stream) || f.subject.includes(s.key)) && (f.subject.includes(g.group) || f.evidence.group === g.group),
  );
  if (f) return f.severity;
  return s.length === 0 || s.last_entry_ms === null ? 'warn' : null;
}

export function isStarving(report: Report, s: StreamInfo, g: GroupInfo): boolean {
  const sev = starvingOf(report, s, g);
  return sev === 'crit' || sev === 'warn';
}

/** Nothing has ever run under this prefix: no stream entries, no heartbeats, no positions. */
export function isEmptyDeployment(r: Report): boolean {
  const traffic = r.streams.some((s) => s.length > 0) || r.stages.some((s) => s.in + s.out + s.rejected > 0);
  const alive = r.services.some((s) => s.status !== 'down');
  return !traffic && !alive && r.positions.position_keys === 0 && r.positions.snapshot_keys === 0;
}

export type PositionItem = { kind: 'engine'; row: PositionRow } | { kind: 'exchange'; symbol: string; side: string; qty: number };

export interface ViewItems {
  pipeline: StageStats[];
  streams: StreamInfo[];
  rejections: RejectionExample[];
  positions: PositionItem[];
  services: ServiceInfo[];
  findings: Finding[];
}

function match(filter: string, ...texts: (string | null | undefined)[]): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return texts.some((t) => (t ?? '').toLowerCase().includes(f));
}

/** The items of one view, filtered (case-insensitive substring over the row's text). */
export function itemsOf<V extends ViewName>(view: V, r: Report, filter: string): ViewItems[V] {
  const out: ViewItems = {
    pipeline: view === 'pipeline' ? r.stages.filter((s) => match(filter, s.stage, ...s.top_reasons.map((t) => t.reason))) : [],
    streams: view === 'streams' ? r.streams.filter((s) => match(filter, s.stream, ...s.groups.map((g) => g.group))) : [],
    rejections: view === 'rejections' ? r.rejections.latest.filter((x) => match(filter, x.stage, x.reason, x.symbol, x.detail)) : [],
    positions:
      view === 'positions'
        ? [
            ...r.positions.rows.map((row): PositionItem => ({ kind: 'engine', row })),
            ...r.positions.exchange_only.map((e): PositionItem => ({ kind: 'exchange', ...e })),
          ].filter((p) => (p.kind === 'engine' ? match(filter, p.row.symbol, p.row.side, p.row.drift) : match(filter, p.symbol, p.side, 'exchange')))
        : [],
    services: view === 'services' ? r.services.filter((s) => match(filter, s.service, s.status, s.last_error)) : [],
    findings: view === 'findings' ? sortedFindings(r.findings).filter((f) => match(filter, f.code, f.severity, f.subject, f.message)) : [],
  };
  return out[view];
}

export function countOf(view: ViewName, r: Report | null, filter: string): number {
  return r ? itemsOf(view, r, filter).length : 0;
}
