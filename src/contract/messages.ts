/**
 * One zod schema per stream's message (CONTRACT.md §1). Producers and consumers use
 * the same schema and the same TypeScript type, so a producer that writes a field its
 * consumer does not read (the seeds' Bug #11) does not compile.
 */
// Compiles every schema built below into a specialised parser on first use (the stages
// decode every message they read); must be imported before any schema is constructed.
import 'zod/compile';
import { z } from 'zod';
import { bool, id, num, posNum, nonNegNum, side, symbol, text, tsMs, unitNum, encodeValue } from './fields.js';
import { REASON_CODES } from './codes.js';
import type { StreamName } from './names.js';

export const INTENT_TYPES = ['AUTONOMOUS_ENTRY', 'HARVEST', 'MANUAL', 'RECONCILE'] as const;
export type IntentType = (typeof INTENT_TYPES)[number];

export const SignalSchema = z.object({
  signal_id: id(),
  ts: tsMs(),
  symbol: symbol(),
  side: side(),
  confidence: unitNum(),
  price: posNum(),
  models: text(16384),
  model_version: id(),
});
export type Signal = z.output<typeof SignalSchema>;

/**
 * trade.intent. Sizing is either by money (`position_usd` + `leverage`) or by quantity
 * (`qty`, optionally `price`); which one is present is decided by the bridge, so that
 * both producers' forms are accepted. `action` is kept as written and normalised by the
 * bridge (legacy exit spellings), so an unknown variant is a counted rejection.
 */
export const TradeIntentSchema = z.object({
  intent_id: id(),
  ts: tsMs(),
  intent_type: z.enum(INTENT_TYPES),
  symbol: symbol(),
  action: z.string().trim().min(1, 'must not be empty').max(40),
  source: id(),
  position_usd: posNum().optional(),
  leverage: posNum().optional(),
  qty: nonNegNum().optional(),
  price: posNum().optional(),
  tp_pct: nonNegNum().optional(),
  sl_pct: nonNegNum().optional(),
  confidence: unitNum().optional(),
  reduceOnly: bool().optional(),
  signal_id: id().optional(),
  rl_gate_reason: text(200).optional(),
  reason: text(500).optional(),
  /**
   * (addition) Epoch ms of the oldest fact this intent rests on (an autonomous entry: its
   * signal's `ts`); absent: the intent's own `ts`. Entry age is measured from it.
   */
  origin_ts: tsMs().optional(),
});
export type TradeIntent = z.output<typeof TradeIntentSchema>;

/** What a producer may write: one of the two sizing forms, or an exit. */
type IntentBase = Omit<TradeIntent, 'position_usd' | 'leverage' | 'qty' | 'price'>;
export type MarginSizedIntent = IntentBase & { position_usd: number; leverage: number; qty?: never; price?: number };
export type QtySizedIntent = IntentBase & { qty: number; price?: number; position_usd?: never; leverage?: number };
export type ExitIntent = IntentBase & { reduceOnly: true; qty?: number; position_usd?: never; leverage?: never; price?: number };
export type TradeIntentOut = MarginSizedIntent | QtySizedIntent | ExitIntent;

export const PLAN_ACTIONS = ['OPEN', 'CLOSE', 'PARTIAL'] as const;
export type PlanAction = (typeof PLAN_ACTIONS)[number];

export const ApplyPlanSchema = z.object({
  plan_id: id(),
  intent_id: id(),
  ts: tsMs(),
  symbol: symbol(),
  action: z.enum(PLAN_ACTIONS),
  side: side(),
  qty: posNum(),
  price: posNum(),
  notional: nonNegNum(),
  leverage: posNum(),
  sl_price: nonNegNum(),
  tp_price: nonNegNum(),
  reduceOnly: bool(),
  source: id(),
  // additions (optional)
  intent_ts: tsMs().optional(),
  intent_type: z.enum(INTENT_TYPES).optional(),
  margin_usd: nonNegNum().optional(),
  /** (addition) The intent's `origin_ts` (else its `ts`), carried so every later stage measures the same age. */
  origin_ts: tsMs().optional(),
});
export type ApplyPlan = z.output<typeof ApplyPlanSchema>;

export const ApplyApprovedSchema = ApplyPlanSchema.extend({ permit_id: id() });
export type ApplyApproved = z.output<typeof ApplyApprovedSchema>;

export const ApplyResultSchema = z.object({
  plan_id: id(),
  intent_id: id(),
  ts: tsMs(),
  symbol: symbol(),
  executed: bool(),
  reason: z.union([z.enum(REASON_CODES), z.literal('')]).optional(),
  order_id: text(100).optional(),
  client_order_id: text(100).optional(),
  filled_qty: nonNegNum().optional(),
  avg_price: nonNegNum().optional(),
  fee: num().optional(),
  latency_ms: nonNegNum().optional(),
  // additions (optional)
  detail: text(1000).optional(),
  side: side().optional(),
  action: z.enum(PLAN_ACTIONS).optional(),
  source: text(200).optional(),
  realized_pnl: num().optional(),
  mode: text(10).optional(),
});
export type ApplyResult = z.output<typeof ApplyResultSchema>;

export const ORDER_STATUSES = ['NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED'] as const;
export const ExecutionResultSchema = z.object({
  order_id: text(100),
  client_order_id: id(),
  plan_id: id(),
  symbol: symbol(),
  side: side(),
  qty: nonNegNum(),
  price: nonNegNum(),
  fee: num(),
  status: z.enum(ORDER_STATUSES),
  reduceOnly: bool(),
  realized_pnl: num(),
  ts: tsMs(),
});
export type ExecutionResult = z.output<typeof ExecutionResultSchema>;

export const RiskProposalSchema = z.object({
  proposal_id: id(),
  ts: tsMs(),
  kind: z.enum(['exposure', 'leverage', 'daily_loss', 'kill_switch', 'ok']),
  decision: z.enum(['allow', 'reduce', 'block', 'kill_switch_on', 'kill_switch_off']),
  symbol: text(30).optional(),
  detail: text(1000),
  value: num().optional(),
  limit: num().optional(),
});
export type RiskProposal = z.output<typeof RiskProposalSchema>;

export const PolicyUpdatedSchema = z.object({
  version: id(),
  ts: tsMs(),
  changed: text(8192),
  by: text(200),
});
export type PolicyUpdated = z.output<typeof PolicyUpdatedSchema>;

export const StageRejectedSchema = z.object({
  stage: id(),
  reason: id(),
  symbol: text(30),
  ref_id: text(200),
  detail: text(2048),
  payload: text(4096),
  ts: tsMs(),
});
export type StageRejected = z.output<typeof StageRejectedSchema>;

export const DeadLetterSchema = z.object({
  stage: id(),
  stream: text(300),
  entry_id: text(64),
  error: text(2048),
  payload: text(4096),
  ts: tsMs(),
});
export type DeadLetter = z.output<typeof DeadLetterSchema>;

export const RlProposalSchema = z.object({
  proposal_id: id(),
  ts: tsMs(),
  model: id(),
  symbol: text(30),
  trust: num(),
  previous_trust: num(),
  samples: nonNegNum(),
  applied: bool(),
  detail: text(1000),
});
export type RlProposal = z.output<typeof RlProposalSchema>;

export const SCHEMAS = {
  'ai.signal_generated': SignalSchema,
  'trade.intent': TradeIntentSchema,
  'apply.plan': ApplyPlanSchema,
  'apply.approved': ApplyApprovedSchema,
  'apply.result': ApplyResultSchema,
  'execution.result': ExecutionResultSchema,
  'risk.proposal': RiskProposalSchema,
  'policy.updated': PolicyUpdatedSchema,
  'stage.rejected': StageRejectedSchema,
  'dead.letter': DeadLetterSchema,
  'rl.proposal': RlProposalSchema,
} as const satisfies Record<StreamName, z.ZodType>;

/** The decoded (typed) message of each stream. */
export type MessageOf<S extends StreamName> = z.output<(typeof SCHEMAS)[S]>;
/** What a producer writes to each stream (trade.intent: one of its sizing forms). */
export type OutgoingOf<S extends StreamName> = S extends 'trade.intent' ? TradeIntentOut : MessageOf<S>;

export type Fields = Record<string, string>;

/** Flat Redis field/value pairs from a typed message (undefined fields are left out). */
export function encode<S extends StreamName>(_stream: S, msg: OutgoingOf<S>): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(msg as Record<string, unknown>)) {
    const s = encodeValue(v);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** A typed message from flat fields, or an error naming every bad field. */
export function decode<S extends StreamName>(stream: S, fields: Fields): Decoded<MessageOf<S>> {
  const schema = SCHEMAS[stream] as unknown as z.ZodType<MessageOf<S>>;
  const r = schema.safeParse(fields);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, error: formatZodError(r.error) };
}

/**
 * Compiles `stream`'s validator now: zod/compile builds each schema's parser on its first
 * parse (a few tens of ms for the larger ones), and a stage that warms its input's at start
 * does not make its first entries wait for it. The throwaway parse's result is ignored.
 */
export function warmDecoder(stream: StreamName): void {
  (SCHEMAS[stream] as unknown as z.ZodType).safeParse({});
}

export function formatZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(message)'}: ${i.message}`)
    .slice(0, 8)
    .join('; ');
}

/** Field list [k1, v1, k2, v2, …] → object. Later duplicates win. */
export function fieldsFromArray(arr: readonly string[]): Fields {
  const o: Fields = {};
  for (let i = 0; i + 1 < arr.length; i += 2) o[arr[i]] = arr[i + 1];
  return o;
}

/** JSON of a payload, cut at `max` bytes (contract: payload cut at 2 KiB). */
export function payloadJson(fields: Fields | unknown, max = 2048): string {
  let s: string;
  try {
    s = JSON.stringify(fields);
  } catch {
    s = String(fields);
  }
  if (Buffer.byteLength(s) <= max) return s;
  return Buffer.from(s).subarray(0, max - 3).toString('utf8').replace(/\uFFFD$/, '') + '...';
}
