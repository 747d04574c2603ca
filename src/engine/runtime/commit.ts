/**
 * Builds the one transaction that carries a batch's effects: state first, then the
 * announcements (outputs, rejections, dead letters), the metrics, and last the XACKs,
 * so an entry is acknowledged only together with its effects.
 */
import type { ChainableCommander } from 'ioredis';
import { encode, payloadJson, type Fields } from '../../contract/messages.js';
import { Names, type StreamName, TOOL_STREAMS } from '../../contract/names.js';
import type { Output, Rejection, StateWrite, WriteBatcher } from './types.js';

export interface Caps {
  streamMaxLen: number;
  toolStreamMaxLen: number;
}

export interface MetricCounts {
  in: number;
  out: number;
  rejected: number;
  dead: number;
  errors: number;
  reasons: Record<string, number>;
}

export const emptyCounts = (): MetricCounts => ({ in: 0, out: 0, rejected: 0, dead: 0, errors: 0, reasons: {} });

export const METRICS_TTL_S = 27 * 3600;

export function xadd(tx: ChainableCommander, names: Names, caps: Caps, stream: StreamName, fields: Fields): void {
  const cap = TOOL_STREAMS.includes(stream) ? caps.toolStreamMaxLen : caps.streamMaxLen;
  const args: string[] = [];
  for (const k in fields) args.push(k, fields[k]);
  tx.xadd(names.stream(stream), 'MAXLEN', '~', String(cap), '*', ...args);
}

export function addOutputs(tx: ChainableCommander, names: Names, caps: Caps, outputs: Output[] | undefined): void {
  if (!outputs) return;
  for (const o of outputs) xadd(tx, names, caps, o.stream, encode(o.stream, o.message as never));
}

/** Adds plain state writes; batched ones are left for `flushBatched` (see `WriteBatcher`). */
export function addState(tx: ChainableCommander, state: StateWrite[] | undefined): void {
  if (state) for (const w of state) if (typeof w === 'function') w(tx);
}

/** The batched writes of many outcomes' state, one `flush` per batcher, items in entry order. */
export function flushBatched(tx: ChainableCommander, states: (StateWrite[] | undefined)[]): void {
  const groups = new Map<WriteBatcher, unknown[]>();
  for (const state of states) {
    if (!state) continue;
    for (const w of state) {
      if (typeof w === 'function') continue;
      const items = groups.get(w.batcher);
      if (items) items.push(w.item);
      else groups.set(w.batcher, [w.item]);
    }
  }
  for (const [b, items] of groups) b.flush(tx, items);
}

export function addRejection(tx: ChainableCommander, names: Names, caps: Caps, stage: string, r: Rejection, payload: unknown, now: number): void {
  xadd(tx, names, caps, 'stage.rejected', {
    stage,
    reason: r.reason,
    symbol: r.symbol ?? '',
    ref_id: r.refId ?? '',
    detail: r.detail.slice(0, 2048),
    payload: payloadJson(payload),
    ts: String(now),
  });
}

export function addDeadLetter(
  tx: ChainableCommander, names: Names, caps: Caps, stage: string,
  stream: string, entryId: string, error: string, payload: unknown, now: number,
): void {
  xadd(tx, names, caps, 'dead.letter', {
    stage,
    stream,
    entry_id: entryId,
    error: error.slice(0, 2048),
    payload: payloadJson(payload),
    ts: String(now),
  });
}

export function addMetrics(tx: ChainableCommander, names: Names, stage: string, now: number, c: MetricCounts): void {
  const key = names.metrics(stage, Names.minuteOf(now));
  let any = false;
  const inc = (f: string, n: number) => {
    if (n) {
      tx.hincrby(key, f, n);
      any = true;
    }
  };
  inc('in', c.in);
  inc('out', c.out);
  inc('rejected', c.rejected);
  inc('dead', c.dead);
  inc('errors', c.errors);
  for (const [r, n] of Object.entries(c.reasons)) inc(`rej:${r}`, n);
  if (any) tx.expire(key, METRICS_TTL_S);
}
