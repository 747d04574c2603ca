/** The top lines: mode, endpoint, kill switch, status, freshness; then the view tabs. */
import { Box, Text } from 'ink';
import type { Report } from '../diagnose/read-model.js';
import { age } from './format.js';
import { VIEWS, VIEW_TITLES, type ViewName } from './view-model.js';

export interface HeaderProps {
  report: Report | null;
  endpoint: string;
  prefix: string;
  reconnecting: boolean;
  error: string | null;
  updatedAt: number | null;
  now: number;
  view: ViewName;
  width: number;
}

const STATUS_COLOR: Record<string, string> = { ok: 'green', info: 'cyan', warn: 'yellow', crit: 'red', unknown: 'magenta' };

/** `REPLAY ×N` when the market feed's heartbeat says it replays recorded candles (its detail `replay ×N at …`). */
export function replayBadge(report: Report | null | undefined): string | null {
  const detail = report?.services?.find((s) => s.service === 'market')?.detail ?? '';
  const m = /^replay ×(\S+)/.exec(detail);
  return m ? `REPLAY ×${m[1]}` : null;
}

export function Header({ report, endpoint, prefix, reconnecting, error, updatedAt, now, view, width }: HeaderProps) {
  const mode = report?.mode ?? null;
  const replay = replayBadge(report);
  const status = report?.status ?? null;
  const kill = report?.kill_switch ?? null;
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end">
        <Text bold>qt </Text>
        {mode === 'LIVE' ? (
          <Text backgroundColor="red" color="white" bold> LIVE </Text>
        ) : (
          <Text color={mode === 'DEMO' ? 'yellow' : 'green'} bold>{mode ?? 'MODE ?'}</Text>
        )}
        {replay ? <Text color="magenta" bold> {replay}</Text> : null}
        {report?.exchange?.host ? <Text dimColor> via {report.exchange.host}</Text> : null}
        <Text dimColor> │ </Text>
        <Text>{endpoint}</Text>
        <Text dimColor> {prefix}</Text>
        <Text dimColor> │ </Text>
        {kill !== null ? <Text color="red" bold>KILL SWITCH ON</Text> : <Text>kill: {report ? 'off' : '?'}</Text>}
        <Text dimColor> │ </Text>
        {status ? <Text color={STATUS_COLOR[status]} bold>{status.toUpperCase()}</Text> : <Text dimColor>…</Text>}
        <Text dimColor> │ </Text>
        {reconnecting ? (
          <Text color="yellow" bold>reconnecting…{updatedAt ? ` (data ${age((now - updatedAt) / 1000)} old)` : ''}</Text>
        ) : report ? (
          <Text dimColor>updated {age(Math.max(0, (now - (updatedAt ?? now)) / 1000))} ago</Text>
        ) : (
          <Text dimColor>connecting…</Text>
        )}
      </Text>
      {kill !== null ? <Text wrap="truncate-end" color="red">  kill switch reason: {kill}</Text> : null}
      {banLine(report, now)}
      {reconnecting && error ? <Text wrap="truncate-end" color="yellow">  {error}</Text> : null}
      <Text wrap="truncate-end">
        {VIEWS.map((v, i) => (
          <Text key={v} inverse={v === view} bold={v === view}>
            {` ${i + 1} ${VIEW_TITLES[v]} `}
          </Text>
        ))}
      </Text>
    </Box>
  );
}

/** A red line while the exchange bans this host (418) or asks it to back off (429), from `{prefix}:exchange:limits`. */
function banLine(report: Report | null, now: number) {
  const l = report?.exchange?.limits;
  if (!l) return null;
  if (l.ban_until && l.ban_until > now) {
    return <Text wrap="truncate-end" color="white" backgroundColor="red" bold>  EXCHANGE BAN (418) until {new Date(l.ban_until).toISOString().slice(11, 19)} UTC ({age((l.ban_until - now) / 1000)} left): no requests are sent  </Text>;
  }
  if (l.retry_after_until && l.retry_after_until > now) {
    return <Text wrap="truncate-end" color="yellow" bold>  exchange rate limit (429): backing off until {new Date(l.retry_after_until).toISOString().slice(11, 19)} UTC</Text>;
  }
  return null;
}
