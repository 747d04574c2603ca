/** Streams: length, newest-entry age (stale marked), then each group: consumers, pending, lag, trend (Burrow); STARVING unmissable. */
import { Box, Text } from 'ink';
import { DetailLines, type DetailScroll } from './DetailLines.js';
import type { ReactNode } from 'react';
import type { Report, StreamInfo } from '../diagnose/read-model.js';
import { age, cell, num, windowOf } from './format.js';
import type { ViewProps } from './PipelineView.js';
import { isStarving, itemsOf, starvingOf } from './view-model.js';
import type { GroupTrend } from '../diagnose/trend.js';

/** The group's trend by Burrow's rules (console samples, or the engine's records), if known. */
function trendOf(report: Report, stream: string, group: string): GroupTrend | undefined {
  return report.trends?.find((t) => t.stream === stream && t.group === group);
}

/** `trend OK` (dim while the window fills), WARN yellow, STALL/STOP/REWIND red. */
function TrendBadge({ t }: { t: GroupTrend | undefined }) {
  if (!t) return null;
  if (t.status === 'OK') return <Text dimColor>{t.rule === 0 ? `trend …${t.samples.length}/${Math.round(t.samples.length / Math.max(t.complete, 0.01))}` : 'trend OK'}</Text>;
  return <Text color={t.status === 'WARN' ? 'yellow' : 'red'} bold>{`trend ${t.status}`}</Text>;
}

type Line = { key: string; streamIndex: number; node: (sel: boolean) => ReactNode };

export function StreamsView({ report, filter, selected, detail, scroll, width, height }: ViewProps) {
  const streams = itemsOf('streams', report, filter);
  if (detail && streams[selected]) return <StreamDetail s={streams[selected]} report={report} width={width} height={height} scroll={scroll} />;
  const nameW = Math.max(16, Math.min(40, width - 48));
  const lines: Line[] = [];
  streams.forEach((s, si) => {
    lines.push({
      key: s.key,
      streamIndex: si,
      node: (sel) => (
        <Text wrap="truncate-end" inverse={sel}>
          {(sel) ? '›' : ' '}{cell(s.stream, nameW)} {cell(num(s.length), 8, 'right')} {cell(age(s.age_s), 6, 'right')}{' '}
          {s.stale ? <Text color="yellow" bold>STALE</Text> : s.length === 0 ? <Text dimColor>empty</Text> : <Text color="green">live </Text>}
          <Text dimColor>{s.groups.length === 0 ? (s.known ? '  no group' : '  (not in contract)') : `  ${s.groups.length} group${s.groups.length > 1 ? 's' : ''}`}</Text>
        </Text>
      ),
    });
    for (const g of s.groups) {
      const starving = starvingOf(report, s, g);
      lines.push({
        key: `${s.key}/${g.group}`,
        streamIndex: si,
        node: () => (
          <Text wrap="truncate-end">
            {'   └ '}
            {cell(g.group, Math.max(10, nameW - 4))} {cell(`c ${g.consumers}`, 5)} {cell(`pend ${num(g.pending)}`, 10)} {cell(`lag ${g.lag === null ? '?' : num(g.lag)}`, 10)}{' '}
            {starving === 'crit' || starving === 'warn' ? (
              <Text backgroundColor="red" color="white" bold> STARVING </Text>
            ) : starving === 'info' ? (
              <Text dimColor>quiet (control plane)</Text>
            ) : g.consumers === 0 ? (
              <Text color="yellow">no consumer</Text>
            ) : null}{' '}
            <TrendBadge t={trendOf(report, s.stream, g.group)} />
          </Text>
        ),
      });
    }
  });
  const selLine = Math.max(0, lines.findIndex((l) => l.streamIndex === selected));
  const { start, rows } = windowOf(lines, selLine, height - 1);
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end" bold>
        {' '}{cell('stream / group', nameW)} {cell('length', 8, 'right')} {cell('age', 6, 'right')} state
      </Text>
      {streams.length === 0 ? <Text dimColor>{filter ? `no stream matches "${filter}"` : 'no streams under this prefix yet'}</Text> : null}
      {rows.map((l, i) => (
        <Box key={l.key}>{l.node(start + i === selLine)}</Box>
      ))}
    </Box>
  );
}

function StreamDetail({ s, report, width, height , scroll }: { s: StreamInfo; report: Report; width: number; height: number ; scroll?: DetailScroll }) {
  const lines: string[] = [
    `${s.stream}  (${s.key})  esc to go back`,
    `length ${s.length}  newest ${age(s.age_s)} ago${s.stale ? ' STALE' : ''}  added ${s.entries_added ?? '-'}`,
  ];
  for (const g of s.groups) {
    lines.push(`group ${g.group}${isStarving(report, s, g) ? '  STARVING' : ''}: consumers ${g.consumers}, pending ${g.pending}, lag ${g.lag ?? '?'}, read ${g.entries_read ?? '?'}, last id ${g.last_delivered_id}`);
    const t = trendOf(report, s.stream, g.group);
    if (t) lines.push(`  trend ${t.status}${t.rule === 0 ? ' (window not yet full)' : ''} over ${t.samples.length} samples (${t.source}): ${t.why}; lag ${t.samples.map((x) => (x.lag === null ? '?' : x.lag)).join(' ')}`);
    if (g.oldest_pending_idle_ms !== null) lines.push(`  oldest pending idle ${age(g.oldest_pending_idle_ms / 1000)}`);
    for (const c of g.consumer_details) lines.push(`  consumer ${c.name}: pending ${c.pending}, idle ${age(c.idle_ms / 1000)}`);
  }
  for (const f of report.findings.filter((f) => f.subject.includes(s.stream))) lines.push(`${f.severity.toUpperCase()} ${f.code}: ${f.message}`);
  return <DetailLines lines={lines} width={width} height={height} scroll={scroll} />;
}
