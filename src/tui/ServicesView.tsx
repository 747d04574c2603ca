/** Services: every expected service with its status, last beat, last processed, status detail, last error. */
import { Box, Text } from 'ink';
import { DetailLines, type DetailScroll } from './DetailLines.js';
import type { ServiceInfo } from '../diagnose/read-model.js';
import { age, cell, cut, num, windowOf } from './format.js';
import type { ViewProps } from './PipelineView.js';
import { itemsOf } from './view-model.js';

const STATUS_COLOR: Record<ServiceInfo['status'], string> = {
  running: 'green',
  starting: 'cyan',
  stopping: 'cyan',
  standby: 'cyan',
  silent: 'yellow',
  degraded: 'yellow',
  failed: 'red',
  down: 'red',
};

export function ServicesView({ report, filter, selected, detail, scroll, width, height }: ViewProps) {
  const items = itemsOf('services', report, filter);
  if (detail && items[selected]) return <ServiceDetail s={items[selected]} width={width} height={height} scroll={scroll} />;
  // The status detail (`9 open position(s)`) is no error: each gets its own column.
  const rest = Math.max(17, width - 1 - 18 - 10 - 6 - 6 - 8 - 6 - 1);
  const longest = Math.max(6, ...items.map((x) => (x.detail || '-').length));
  const detailW = Math.min(longest, Math.max(6, Math.floor(rest * 0.4)));
  const errW = Math.max(8, rest - detailW - 1);
  const { start, rows } = windowOf(items, selected, height - 2);
  return (
    <Box flexDirection="column" width={width}>
      {!report.registry_known ? (
        <Text wrap="truncate-end" dimColor>no svc:registry: which services should run is unknown (showing the ones that beat)</Text>
      ) : null}
      <Text wrap="truncate-end" bold>
        {' '}{cell('service', 18)} {cell('status', 9)} {cell('beat', 5, 'right')} {cell('msg', 5, 'right')} {cell('done', 7, 'right')} {cell('err', 5, 'right')} {cell('detail', detailW)} last error
      </Text>
      {items.length === 0 ? <Text dimColor>{filter ? `no service matches "${filter}"` : 'no services registered or beating'}</Text> : null}
      {rows.map((s, i) => (
        <Text key={s.service} wrap="truncate-end" inverse={start + i === selected}>
          {(start + i === selected) ? '›' : ' '}{cell(s.service, 18)} <Text color={s.stopped_at ? 'cyan' : STATUS_COLOR[s.status]} bold={s.status !== 'running'}>{cell(s.stopped_at ? 'stopped' : s.status, 9)}</Text> {cell(age(s.beat_age_s), 5, 'right')}{' '}
          {cell(age(s.last_msg_age_s), 5, 'right')} {cell(num(s.processed), 7, 'right')} {cell(num(s.errors), 5, 'right')} <Text dimColor>{cell(s.detail || '-', detailW)}</Text> {s.last_error ? <Text color="red">{cut(s.last_error, errW)}</Text> : s.standby ? <Text color="cyan">{cut(`standby: ${s.standby} waits to take over`, errW)}</Text> : <Text dimColor>-</Text>}
        </Text>
      ))}
    </Box>
  );
}

function ServiceDetail({ s, width, height , scroll }: { s: ServiceInfo; width: number; height: number ; scroll?: DetailScroll }) {
  const lines = [
    `${s.service}: ${s.stopped_at ? `stopped cleanly at ${new Date(s.stopped_at).toISOString()}` : s.status}${s.expected ? '' : ' (not in the registry)'}  (esc to go back)`,
    `pid ${s.pid ?? '-'}  host ${s.host ?? '-'}  mode ${s.mode ?? '-'}`,
    `last beat ${age(s.beat_age_s)} ago  last message ${age(s.last_msg_age_s)} ago`,
    `processed ${s.processed ?? '-'}  errors ${s.errors ?? '-'}`,
    `detail: ${s.detail || '-'}`,
    `standby: ${s.standby ? `${s.standby} (a second engine waits for this singleton's lease)` : '-'}`,
    `last error: ${s.last_error || '-'}`,
  ];
  return <DetailLines lines={lines} width={width} height={height} scroll={scroll} />;
}
