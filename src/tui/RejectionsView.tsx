/** Rejections: top reasons per stage over the window, then the latest examples; enter shows a payload. */
import { Box, Text } from 'ink';
import { DetailLines, type DetailScroll } from './DetailLines.js';
import type { RejectionExample } from '../diagnose/read-model.js';
import { age, cell, cut, prettyPayload, windowOf } from './format.js';
import type { ViewProps } from './PipelineView.js';
import { itemsOf } from './view-model.js';

export function RejectionsView({ report, filter, selected, detail, scroll, width, height }: ViewProps) {
  const latest = itemsOf('rejections', report, filter);
  if (detail && latest[selected]) return <RejectionDetail x={latest[selected]} now={report.generated_at} width={width} height={height} scroll={scroll} />;
  const rejecting = report.stages.filter((s) => s.rejected > 0 || s.top_reasons.length > 0);
  const summary = rejecting.slice(0, Math.max(1, Math.floor((height - 4) / 3)));
  const summaryLines = summary.length || 1;
  const listH = Math.max(2, height - summaryLines - 3);
  const { start, rows } = windowOf(latest, selected, listH);
  const reasonW = 22;
  const detailW = Math.max(8, width - 6 - 18 - reasonW - 12 - 4);
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end" bold>
        Top reasons per stage (last {Math.round(report.window_s / 60)}m, {report.rejections.total_in_window} rejected)
      </Text>
      {summary.length === 0 ? <Text dimColor>no rejections in the window</Text> : null}
      {summary.map((s) => (
        <Text key={s.stage} wrap="truncate-end">
          {cell(s.stage, 18)} <Text color="red">{s.rejected}</Text>
          <Text dimColor> of {s.in}: </Text>
          {s.top_reasons.slice(0, 4).map((r) => `${r.reason} ×${r.count}`).join(', ')}
        </Text>
      ))}
      <Text wrap="truncate-end" bold>
        {' '}{cell('age', 5, 'right')} {cell('stage', 18)} {cell('reason', reasonW)} {cell('symbol', 12)} detail
      </Text>
      {latest.length === 0 ? <Text dimColor>{filter ? `no rejection matches "${filter}"` : 'no recent rejections'}</Text> : null}
      {rows.map((x, i) => (
        <Text key={x.id} wrap="truncate-end" inverse={start + i === selected}>
          {(start + i === selected) ? '›' : ' '}{cell(age((report.generated_at - x.ts) / 1000), 5, 'right')} {cell(x.stage, 18)} <Text color="red">{cell(x.reason, reasonW)}</Text> {cell(x.symbol, 12)} {cut(x.detail, detailW)}
        </Text>
      ))}
    </Box>
  );
}

function RejectionDetail({ x, now, width, height, scroll }: { x: RejectionExample; now: number; width: number; height: number; scroll?: DetailScroll }) {
  const lines = [
    `${x.stage} rejected ${x.ref_id || '(no ref)'}: ${x.reason}  (esc to go back)`,
    `symbol ${x.symbol || '-'}  ${age((now - x.ts) / 1000)} ago  entry ${x.id}`,
    `detail: ${x.detail || '-'}`,
    'payload:',
    ...prettyPayload(x.payload).map((l) => '  ' + l),
  ];
  return <DetailLines lines={lines} width={width} height={height} scroll={scroll} />;
}
