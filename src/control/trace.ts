/**
 * `qt trace ID [--json]`: given a signal, intent, plan, client order id (or a stream entry
 * id of a dead letter), the chain signal → intent → plan → approval → order → fill and
 * where it stopped, with the stage and reason code. Bounded: the newest `--scan` entries
 * of each stream (XREVRANGE), plus the order keys.
 */
import type { Redis } from 'ioredis';
import { fieldsFromArray, type Fields } from '../contract/messages.js';
import type { Names, StreamName } from '../contract/names.js';
import { QtError, UsageError } from '../errors.js';

export const TRACE_STEPS = ['signal', 'intent', 'plan', 'approval', 'order', 'fill'] as const;
export type TraceStep = (typeof TRACE_STEPS)[number];

/** Which stream holds each step, the stage that writes it, and the fields that link it. */
const LINKS: { stream: StreamName; step: TraceStep | null; by: string; fields: string[] }[] = [
  { stream: 'ai.signal_generated', step: 'signal', by: 'ai_engine', fields: ['signal_id'] },
  { stream: 'trade.intent', step: 'intent', by: 'source', fields: ['intent_id', 'signal_id'] },
  { stream: 'apply.plan', step: 'plan', by: 'intent_bridge', fields: ['plan_id', 'intent_id'] },
  { stream: 'apply.approved', step: 'approval', by: 'apply_layer', fields: ['plan_id', 'intent_id', 'permit_id'] },
  { stream: 'apply.result', step: null, by: 'intent_executor', fields: ['plan_id', 'intent_id', 'client_order_id', 'order_id'] },
  { stream: 'execution.result', step: 'fill', by: 'intent_executor', fields: ['plan_id', 'client_order_id', 'order_id'] },
];
/** The stage expected to produce each step (for "stopped before …"). */
const NEXT_STAGE: Record<TraceStep, string> = {
  signal: 'ai_engine', intent: 'autonomous_trader', plan: 'intent_bridge', approval: 'apply_layer', order: 'intent_executor', fill: 'intent_executor',
};

export interface TraceEntry {
  stream: string;
  entry_id: string;
  fields: Fields;
}

export interface TraceResult {
  id: string;
  found: boolean;
  steps: { step: TraceStep; found: boolean; entries: TraceEntry[] }[];
  results: TraceEntry[];
  rejections: TraceEntry[];
  dead_letters: TraceEntry[];
  orders: { client_order_id: string; fields: Fields }[];
  /** `executed`, `rejected`, `not_executed`, `dead_letter`, `in_flight` or `not_found`. */
  outcome: string;
  stopped_at: { stage: string; reason: string; detail: string } | null;
  summary: string;
  scanned: number;
}

async function newest(redis: Redis, key: string, count: number): Promise<TraceEntry[]> {
  const rows = (await redis.xrevrange(key, '+', '-', 'COUNT', count)) as [string, string[]][];
  return rows.map(([id, a]) => ({ stream: key, entry_id: id, fields: fieldsFromArray(a) }));
}

function payloadOf(e: TraceEntry): Record<string, unknown> {
  try {
    const p = JSON.parse(e.fields.payload ?? '');
    return p && typeof p === 'object' ? (p as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export async function trace(redis: Redis, names: Names, idIn: string, scan = 10_000): Promise<TraceResult> {
  const id = idIn.trim();
  if (!id) throw new UsageError('ID: expected a signal, intent, plan or client order id');
  const data = new Map<StreamName, TraceEntry[]>();
  let scanned = 0;
  for (const s of [...LINKS.map((l) => l.stream), 'stage.rejected', 'dead.letter'] as StreamName[]) {
    const rows = await newest(redis, names.stream(s), scan);
    scanned += rows.length;
    data.set(s, rows);
  }
  const { clientOrderIdFor } = await import('../engine/stages/executor-position.js');

  // Grow the set of linked ids until nothing new is found.
  const ids = new Set([id]);
  const matched = new Set<TraceEntry>();
  const linkIds = ['signal_id', 'intent_id', 'plan_id', 'client_order_id', 'order_id', 'permit_id'];
  for (let round = 0; round < 8; round++) {
    const before = ids.size;
    for (const l of LINKS) {
      for (const e of data.get(l.stream)!) {
        if (e.entry_id === id || l.fields.some((f) => e.fields[f] && ids.has(e.fields[f]))) {
          matched.add(e);
          for (const f of l.fields) if (e.fields[f]) ids.add(e.fields[f]);
        }
      }
    }
    for (const s of ['stage.rejected', 'dead.letter'] as StreamName[]) {
      for (const e of data.get(s)!) {
        const p = payloadOf(e);
        const hit = e.entry_id === id || ids.has(e.fields.ref_id ?? '') || ids.has(e.fields.entry_id ?? '') ||
          linkIds.some((f) => typeof p[f] === 'string' && ids.has(p[f] as string));
        if (!hit) continue;
        matched.add(e);
        for (const f of linkIds) if (typeof p[f] === 'string' && (p[f] as string).trim()) ids.add((p[f] as string).trim());
      }
    }
    if (ids.size === before) break;
  }
  const pick = (s: StreamName) => data.get(s)!.filter((e) => matched.has(e)).reverse();

  // Order keys: by the ids found, and as derived from each plan id.
  const coids = new Set<string>([id]);
  for (const e of [...pick('apply.result'), ...pick('execution.result')]) if (e.fields.client_order_id) coids.add(e.fields.client_order_id);
  for (const e of [...pick('apply.plan'), ...pick('apply.approved')]) {
    try {
      coids.add(clientOrderIdFor(e.fields.plan_id));
    } catch {
      /* not a plan id the executor can derive from */
    }
  }
  const orders: TraceResult['orders'] = [];
  for (const c of coids) {
    const h = await redis.hgetall(names.order(c));
    if (Object.keys(h).length) orders.push({ client_order_id: c, fields: h });
  }

  const results = pick('apply.result');
  const fills = pick('execution.result');
  const steps: TraceResult['steps'] = TRACE_STEPS.map((step) => {
    let entries: TraceEntry[] = [];
    if (step === 'order') entries = results;
    else if (step === 'fill') entries = fills.length ? fills : results.filter((r) => r.fields.executed === 'true');
    else entries = pick(LINKS.find((l) => l.step === step)!.stream);
    return { step, found: entries.length > 0 || (step === 'order' && orders.length > 0), entries };
  });
  const rejections = pick('stage.rejected');
  const dead = pick('dead.letter');
  const found = matched.size > 0 || orders.length > 0;

  let outcome = 'in_flight';
  let stopped: TraceResult['stopped_at'] = null;
  const notExec = results.find((r) => r.fields.executed === 'false');
  const last = [...steps].reverse().find((s) => s.found);
  if (!found) outcome = 'not_found';
  else if (steps[5].found) outcome = 'executed';
  else if (rejections.length) {
    const r = rejections[rejections.length - 1].fields;
    outcome = 'rejected';
    stopped = { stage: r.stage, reason: r.reason, detail: r.detail ?? '' };
  } else if (notExec) {
    outcome = 'not_executed';
    stopped = { stage: 'intent_executor', reason: notExec.fields.reason || 'exchange_rejected', detail: notExec.fields.detail ?? '' };
  } else if (dead.length) {
    const d = dead[dead.length - 1].fields;
    outcome = 'dead_letter';
    stopped = { stage: d.stage, reason: 'dead_letter', detail: `${d.error} (stream ${names.shortStreamName(d.stream ?? '')}, entry ${d.entry_id})` };
  }
  const next = last ? TRACE_STEPS[TRACE_STEPS.indexOf(last.step) + 1] : undefined;
  const summary =
    outcome === 'not_found' ? `${id}: not found in the newest ${scan} entries of each stream, nor as an order key` :
    outcome === 'executed' ? `executed: filled ${fills[0]?.fields.qty ?? results.find((r) => r.fields.executed === 'true')?.fields.filled_qty ?? '?'} ${steps[1].entries[0]?.fields.symbol ?? ''}`.trim() :
    outcome === 'in_flight' ? `no record after ${last?.step}: waiting for ${next ? NEXT_STAGE[next] : '?'} (still in flight, or that stage is down: qt diagnose pipeline)` :
    `stopped at ${stopped!.stage}: ${stopped!.reason}${stopped!.detail ? ` (${stopped!.detail})` : ''}`;
  return { id, found, steps, results, rejections, dead_letters: dead, orders, outcome, stopped_at: stopped, summary, scanned };
}

const tsOf = (f: Fields) => (Number(f.ts) > 0 ? new Date(Number(f.ts)).toISOString().replace('T', ' ').slice(0, 23) : '');

function describe(step: TraceStep, f: Fields): string {
  switch (step) {
    case 'signal': return `${f.signal_id} ${f.symbol} ${f.side} confidence ${f.confidence}`;
    case 'intent': return `${f.intent_id} ${f.intent_type} ${f.symbol} ${f.action}${f.qty ? ` qty ${f.qty}` : ''}${f.position_usd ? ` ${f.position_usd} USD x${f.leverage}` : ''} from ${f.source}${f.reason ? ` (${f.reason})` : ''}`;
    case 'plan': return `${f.plan_id} ${f.action} ${f.side} ${f.qty} ${f.symbol} @ ${f.price}`;
    case 'approval': return `${f.plan_id} permit ${f.permit_id}`;
    case 'order': return `${f.client_order_id || ''} ${f.executed === 'true' ? 'executed' : `not executed: ${f.reason}`} order ${f.order_id || '-'}`;
    case 'fill': return `${f.client_order_id || f.plan_id} ${f.status ?? 'FILLED'} ${f.qty ?? f.filled_qty} @ ${f.price ?? f.avg_price}`;
  }
}

export function formatTrace(t: TraceResult): string {
  const lines = [`trace ${t.id}`];
  for (const s of t.steps) {
    const e = s.entries[s.entries.length - 1];
    if (e) lines.push(`  ${s.step.padEnd(9)} ✓ ${describe(s.step, e.fields)}  ${tsOf(e.fields)}`);
    else if (s.step === 'order' && t.orders.length) lines.push(`  ${'order'.padEnd(9)} ✓ ${t.orders[0].client_order_id} ${t.orders[0].fields.state ?? t.orders[0].fields.status ?? ''}`);
    else lines.push(`  ${s.step.padEnd(9)} · none`);
  }
  for (const r of t.rejections) lines.push(`  rejected  ✗ ${r.fields.stage}: ${r.fields.reason} ${r.fields.detail ?? ''}  ${tsOf(r.fields)}`);
  for (const d of t.dead_letters) lines.push(`  dead      ✗ ${d.fields.stage}: ${d.fields.error}  ${tsOf(d.fields)}`);
  lines.push(`  → ${t.summary}`);
  return lines.join('\n');
}
