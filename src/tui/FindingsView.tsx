/** Findings: the same findings as `qt diagnose pipeline`, worst first; enter shows evidence and fix. */
import { Box, Text } from 'ink';
import type { Finding } from '../diagnose/read-model.js';
import { DetailLines, type DetailScroll } from './DetailLines.js';
import { cell, windowOf } from './format.js';
import type { ViewProps } from './PipelineView.js';
import { itemsOf } from './view-model.js';

export const SEVERITY_COLOR: Record<string, string> = { crit: 'red', warn: 'yellow', info: 'cyan' };

export function FindingsView({ report, filter, selected, detail, scroll, width, height }: ViewProps) {
  const items = itemsOf('findings', report, filter);
  if (detail && items[selected]) return <FindingDetail f={items[selected]} width={width} height={height} scroll={scroll} />;
  const { start, rows } = windowOf(items, selected, height - 1);
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end" bold>
        {' '}{cell('sev', 4)} {cell('code', 24)} message
      </Text>
      {items.length === 0 ? <Text color={filter ? undefined : 'green'}>{filter ? `no finding matches "${filter}"` : 'no findings: everything looks fine'}</Text> : null}
      {rows.map((f, i) => (
        <Text key={`${f.code}:${f.subject}:${i}`} wrap="truncate-end" inverse={start + i === selected}>
          {(start + i === selected) ? '›' : ' '}<Text color={SEVERITY_COLOR[f.severity]} bold>{cell(f.severity.toUpperCase(), 4)}</Text> {cell(f.code, 24)} {f.subject}: {f.message}
        </Text>
      ))}
    </Box>
  );
}

function FindingDetail({ f, width, height, scroll }: { f: Finding; width: number; height: number; scroll?: DetailScroll }) {
  const evidence = JSON.stringify(f.evidence, null, 2).split('\n');
  const lines = [`${f.severity.toUpperCase()} ${f.code}  ${f.subject}  (esc to go back)`, f.message, `fix: ${f.fix}`, 'evidence:', ...evidence.map((l) => '  ' + l)];
  return <DetailLines lines={lines} width={width} height={height} titleColor={SEVERITY_COLOR[f.severity]} scroll={scroll} />;
}
