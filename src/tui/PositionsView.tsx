/**
 * Positions: engine positions beside the exchange snapshots, drift marked; open count against the limit; ghosts;
 * each position's protective stop on the exchange and its state (issue 18: `49500 ok`, `none 12s`, `49500 WRONG SIDE`).
 */
import { Box, Text } from 'ink';
import { DetailLines, type DetailScroll } from './DetailLines.js';
import { age, cell, qty, signed, windowOf } from './format.js';
import type { ViewProps } from './PipelineView.js';
import { itemsOf, type PositionItem } from './view-model.js';
import { unprotectedReason, type StopView } from '../diagnose/findings-protect.js';
import type { Report } from '../diagnose/read-model.js';

/** The stop column: the resting stop's price and state; red when POSITION_UNPROTECTED would report it. */
export function stopCell(report: Report, symbol: string, side: 'LONG' | 'SHORT'): { text: string; color: string | undefined } {
  const v: StopView | undefined = report.protect?.stops[symbol];
  if (!v) return { text: '?', color: undefined };
  const bad = unprotectedReason(symbol, side, v, report.generated_at, report.protect!.grace_ms);
  const price = v.stop_price !== null ? qty(v.stop_price) : '-';
  if (bad) {
    if (bad.includes('wrong side')) return { text: `${price} WRONG SIDE`, color: 'red' };
    return { text: v.status === 'NONE' ? 'NONE' : `${price} ${v.exchange_status && v.exchange_status !== 'NEW' ? v.exchange_status : v.status}`, color: 'red' };
  }
  if (v.status === 'ACTIVE') return { text: `${price} ok`, color: 'green' };
  if (v.status === 'REPLACING') return { text: `${price} moving`, color: 'yellow' };
  return { text: v.status === 'NONE' ? 'placing' : `${price} ${v.status.toLowerCase()}`, color: 'yellow' };
}

export function PositionsView({ report, filter, selected, detail, scroll, width, height }: ViewProps) {
  const p = report.positions;
  const items = itemsOf('positions', report, filter);
  if (detail && items[selected]) return <PositionDetail item={items[selected]} report={report} now={report.generated_at} width={width} height={height} scroll={scroll} />;
  const atLimit = p.limit !== null && p.open >= p.limit;
  const drifted = p.rows.filter((r) => r.drift).length + p.exchange_only.length;
  const wide = width >= 100;
  const unprotected = p.rows.filter((r) => stopCell(report, r.symbol, r.side).color === 'red').length;
  const { start, rows } = windowOf(items, selected, height - 3);
  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate-end">
        open <Text bold color={atLimit ? 'red' : undefined}>{p.open}</Text>/{p.limit ?? '?'}
        {atLimit ? <Text color="red" bold> AT LIMIT</Text> : null}
        <Text dimColor>  keys: {p.position_keys} position, {p.snapshot_keys} snapshot, {p.ledger_keys} ledger  </Text>
        ghosts <Text color={p.ghosts.length ? 'yellow' : 'green'} bold>{p.ghosts.length}</Text>
        {p.ghosts.length ? <Text dimColor> (G to clean up)</Text> : null}
        {drifted ? <Text color="red" bold>  DRIFT {drifted}</Text> : null}
        {unprotected ? <Text color="red" bold>  UNPROTECTED {unprotected}</Text> : null}
      </Text>
      <Text wrap="truncate-end" bold>
        {' '}{cell('symbol', 10)} {cell('side', 5)} {cell('qty', 9, 'right')} {cell('entry', 10, 'right')} {cell('mark', 10, 'right')} {cell('uPnL', 8, 'right')} {cell('R', 5, 'right')} {wide ? cell('exchange', 18) + ' ' : ''}drift / stop on the exchange
      </Text>
      {items.length === 0 ? <Text dimColor>{filter ? `no position matches "${filter}"` : 'no open positions'}</Text> : null}
      {rows.map((it, i) => {
        const sel = start + i === selected;
        if (it.kind === 'exchange') {
          return (
            <Text key={'x' + it.symbol} wrap="truncate-end" inverse={sel}>
              {(sel) ? '›' : ' '}{cell(it.symbol, 10)} {cell('-', 5)} {cell('-', 9, 'right')} {cell('', 10)} {cell('', 10)} {cell('', 8)} {cell('', 5)} {wide ? cell(`${it.side} ${qty(it.qty)}`, 18) + ' ' : ''}
              <Text color="red" bold>DRIFT exchange only</Text>
            </Text>
          );
        }
        const r = it.row;
        const snap = r.snapshot ? `${r.snapshot.side} ${qty(r.snapshot.qty)}` : 'no snapshot';
        const pnlColor = r.unrealized_pnl === null ? undefined : r.unrealized_pnl >= 0 ? 'green' : 'red';
        const st = stopCell(report, r.symbol, r.side);
        return (
          <Text key={r.symbol} wrap="truncate-end" inverse={sel}>
            {(sel) ? '›' : ' '}{cell(r.symbol, 10)} <Text color={r.side === 'LONG' ? 'green' : 'magenta'}>{cell(r.side, 5)}</Text> {cell(qty(r.qty), 9, 'right')} {cell(qty(r.entry_price), 10, 'right')}{' '}
            {cell(qty(r.mark_price), 10, 'right')} <Text color={pnlColor}>{cell(signed(r.unrealized_pnl), 8, 'right')}</Text> {cell(signed(r.r_multiple, 1), 5, 'right')} {wide ? cell(snap, 18) + ' ' : ''}
            {r.drift ? <Text color="red" bold>DRIFT {r.drift}</Text> : <Text color="green">ok</Text>}
            {'  stop '}<Text color={st.color} bold={st.color === 'red'}>{st.text}</Text>
          </Text>
        );
      })}
    </Box>
  );
}

function PositionDetail({ item, report, now, width, height, scroll }: { item: PositionItem; report: Report; now: number; width: number; height: number; scroll?: DetailScroll }) {
  const lines: string[] = [];
  if (item.kind === 'exchange') {
    lines.push(`${item.symbol}: exchange only  (esc to go back)`, `the exchange reports ${item.side} ${qty(item.qty)}; the engine has no position`, 'DRIFT: the engine and the exchange disagree');
  } else {
    const r = item.row;
    lines.push(
      `${r.symbol} ${r.side}  (esc to go back)`,
      `engine:   qty ${qty(r.qty)}  entry ${qty(r.entry_price)}  leverage ${r.leverage}x`,
      `mark ${qty(r.mark_price)}  unrealised PnL ${signed(r.unrealized_pnl)}  R ${signed(r.r_multiple, 2)}`,
      r.snapshot
        ? `exchange: ${r.snapshot.side} qty ${qty(r.snapshot.qty)}  entry ${qty(r.snapshot.entry_price)}  mark ${qty(r.snapshot.mark_price)}  (${age((now - r.snapshot.ts) / 1000)} ago)`
        : 'exchange: no snapshot',
      r.drift ? `DRIFT: ${r.drift}` : 'no drift',
      stopLine(report, r.symbol, r.side, now),
      '',
      r.history?.length ? 'latest fills (newest first):' : 'no fills in the newest execution.result entries',
      ...(r.history ?? []).map(
        (f) => `  ${new Date(f.ts).toISOString().slice(11, 19)}  ${f.side.padEnd(4)} ${qty(f.qty).padStart(10)} @ ${qty(f.price)}${f.reduce_only ? '  reduce-only' : ''}  ${f.status}${f.realized_pnl ? `  pnl ${signed(f.realized_pnl)}` : ''}`,
      ),
    );
  }
  return <DetailLines lines={lines} width={width} height={height} scroll={scroll} colorOf={(l) => (l.startsWith('DRIFT') || l.startsWith('UNPROTECTED') ? 'red' : undefined)} />;
}

function stopLine(report: Report, symbol: string, side: 'LONG' | 'SHORT', now: number): string {
  const v = report.protect?.stops[symbol];
  if (!v) return 'stop on the exchange: unknown (no protect data in this report)';
  const bad = unprotectedReason(symbol, side, v, now, report.protect!.grace_ms);
  const what = v.status === 'NONE' ? 'none' : `${v.status} ${v.stop_price ?? '-'} (${v.client_algo_id}${v.exchange_status ? `, exchange ${v.exchange_status}` : ''}${v.rest_ms !== null && v.rest_ms >= 0 ? `, fill → resting ${v.rest_ms} ms` : ''})`;
  return bad ? `UNPROTECTED: ${bad}` : `stop on the exchange: ${what}`;
}
