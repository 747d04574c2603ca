/** Pipeline: the funnel, then each stage in order with rates, a sparkline, rejection share and top reason. */
import { Box, Text } from 'ink';
import type { Report, StageStats } from '../diagnose/read-model.js';
import { cell, cut, num, pct, prettyPayload, rate, windowOf } from './format.js';
import { sparkline } from './Sparkline.js';
import { isEmptyDeployment, itemsOf } from './view-model.js';

export interface ViewProps {
  report: Report;
  filter: string;
  selected: number;
  detail: boolean;
  /** the open detail screen's scroll position (DetailLines) */
  scroll?: import('./DetailLines.js').DetailScroll;
  width: number;
  height: number;
}

export function rejectShare(s: StageStats): number | null {
  return s.in > 0 ? s.rejected / s.in : null;
}

export function EmptyBanner({ report, width }: { report: Report; width: number }) {
  return (
    <Box flexDirection="column" width={width} borderStyle="round" borderColor="yellow" paddingX={1}>
      <Text wrap="truncate-end" color="yellow" bold>Nothing is running yet under prefix "{report.prefix}".</Text>
      <Text wrap="truncate-end">No stream entries, no heartbeats, no positions.</Text>
      <Text wrap="truncate-end">Start the engine (paper exchange): <Text bold>npx --no-install qt up</Text></Text>
    </Box>
  );
}

export function PipelineView({ report, filter, selected, detail, width, height }: ViewProps) {
  const stages = itemsOf('pipeline', report, filter);
  if (detail && stages[selected]) return <StageDetail s={stages[selected]} report={report} width={width} height={height} />;
  const empty = isEmptyDeployment(report);
  const funnel = report.funnel.map((f) => `${f.step} ${f.count === null ? '-' : num(f.count)}`).join(' → ');
  const fixed = 1 + 18 + 7 + 7 + 5 + 5;
  const spark = Math.max(8, Math.min(60, Math.floor((width - fixed) * 0.4)));
  const reasonW = Math.max(8, width - fixed - spark);
  const listH = height - 3 - (empty ? 5 : 0);
  const { start, rows } = windowOf(stages, selected, listH);
  // The same judgement as the report: a stage is marked only when the findings say so.
  const noOutput = new Set(report.findings.filter((f) => f.code === 'STAGE_NO_OUTPUT').map((f) => f.subject));
  return (
    <Box flexDirection="column" width={width}>
      {empty ? <EmptyBanner report={report} width={width} /> : null}
      <Text wrap="truncate-end">
        <Text bold>Funnel </Text>
        {funnel || '-'}
        <Text dimColor>  (last {Math.round(report.window_s / 60)}m)</Text>
      </Text>
      <Text wrap="truncate-end" bold>
        {' '}{cell('stage', 18)} {cell('in/s', 6, 'right')} {cell('out/s', 6, 'right')} {cell('last ' + Math.round(report.window_s / 60) + 'm', spark)} {cell('rej', 4, 'right')} {cell('top reason', reasonW)}
      </Text>
      {stages.length === 0 ? <Text dimColor>{filter ? `no stage matches "${filter}"` : 'no stages with data yet'}</Text> : null}
      {rows.map((s, i) => {
        const share = rejectShare(s);
        const color = share !== null && share >= 0.5 ? 'red' : share !== null && share >= 0.2 ? 'yellow' : undefined;
        const top = s.top_reasons[0];
        const sel = start + i === selected;
        return (
          <Text key={s.stage} wrap="truncate-end" inverse={sel}>
            {(sel) ? '›' : ' '}{cell(s.stage, 18)} {cell(rate(s.in, report.window_s), 6, 'right')} {cell(rate(s.out, report.window_s), 6, 'right')}{' '}
            <Text color="cyan">{sparkline(s.series.map((p) => (s.in > 0 ? p.in : p.out)), spark)}</Text> <Text color={color} bold={!!color}>{cell(pct(share), 4, 'right')}</Text>{' '}
            <Text color={color}>{cell(top ? `${top.reason} ×${top.count}` : noOutput.has(s.stage) ? 'NO OUTPUT' : '', reasonW)}</Text>
          </Text>
        );
      })}
    </Box>
  );
}

function StageDetail({ s, report, width, height }: { s: StageStats; report: Report; width: number; height: number }) {
  const lines: { text: string; bold?: boolean; dim?: boolean }[] = [
    { text: `${s.stage}  (esc to go back)`, bold: true },
    { text: `in ${s.in}  out ${s.out}  rejected ${s.rejected}  dead ${s.dead}  errors ${s.errors}  success ${pct(s.success_rate)}  source ${s.source}` },
    { text: `in/s  ${sparkline(s.series.map((p) => p.in), Math.min(60, width - 6))}` },
    { text: `out/s ${sparkline(s.series.map((p) => p.out), Math.min(60, width - 6))}` },
    { text: `rej   ${sparkline(s.series.map((p) => p.rejected), Math.min(60, width - 6))}` },
    { text: `top reasons over the last ${Math.round(report.window_s / 60)}m:`, bold: true },
  ];
  if (s.top_reasons.length === 0) lines.push({ text: '  none', dim: true });
  for (const r of s.top_reasons) {
    lines.push({ text: `  ${r.reason} ×${r.count}` });
    if (r.example) {
      lines.push({ text: `    ${r.example.ref_id} ${r.example.detail}`, dim: true });
      for (const l of prettyPayload(r.example.payload).slice(0, 6)) lines.push({ text: `    ${l}`, dim: true });
    }
  }
  return (
    <Box flexDirection="column" width={width}>
      {lines.slice(0, Math.max(1, height)).map((l, i) => (
        <Text key={i} wrap="truncate-end" bold={l.bold} dimColor={l.dim}>
          {cut(l.text, width)}
        </Text>
      ))}
    </Box>
  );
}
