/**
 * What a stage is to the runtime: a pure decision per message (or per tick) that
 * returns its outcome. The runtime (stage-runner.ts) owns every Redis mechanic: read
 * group, batch, ack, reclaim, dead-letter, metrics, heartbeat. A stage never calls XACK.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { ReasonCode, ServiceStatus } from '../../contract/codes.js';
import type { MessageOf, OutgoingOf } from '../../contract/messages.js';
import type { Names, StreamName } from '../../contract/names.js';
import type { Logger } from '../../log.js';

/** One message to publish, typed by its stream (a wrong field does not compile). */
export type Output = { [S in StreamName]: { stream: S; message: OutgoingOf<S> } }[StreamName];

export function out<S extends StreamName>(stream: S, message: OutgoingOf<S>): Output {
  return { stream, message } as Output;
}

/**
 * A state change written in the same transaction as the outputs and the ack: a function
 * that adds its commands, or one item of a batched write (below).
 */
export type StateWrite = ((tx: ChainableCommander) => void) | BatchedWrite;

/**
 * Many entries' writes as one command: the runner hands every item of a batch that names
 * the same `WriteBatcher` to its `flush` once, in entry order, ahead of the batch's other
 * effects (the executor's per-order script: one script call per batch, not per order).
 */
export interface WriteBatcher<T = any> {
  flush(tx: ChainableCommander, items: T[]): void;
}
export interface BatchedWrite<T = any> {
  batcher: WriteBatcher<T>;
  item: T;
}

export interface Rejection {
  reason: ReasonCode;
  /** Names the numbers: `notional 70.61 < min 100.00`. */
  detail: string;
  symbol?: string;
  refId?: string;
}

export type Outcome =
  /** Handled: zero or more outputs, state written first. */
  | { kind: 'ok'; outputs?: Output[]; state?: StateWrite[] }
  /** A counted rejection with its reason; may still publish (e.g. a not-executed result). */
  | { kind: 'reject'; rejection: Rejection; outputs?: Output[]; state?: StateWrite[] }
  /** Cannot be handled at all: dead letter. */
  | { kind: 'dead'; error: string };

export const ok = (outputs?: Output[], state?: StateWrite[]): Outcome => ({ kind: 'ok', outputs, state });
export const reject = (reason: ReasonCode, detail: string, extra: Partial<Rejection> & { outputs?: Output[]; state?: StateWrite[] } = {}): Outcome => {
  const { outputs, state, ...rest } = extra;
  return { kind: 'reject', rejection: { reason, detail, ...rest }, outputs, state };
};

export interface StageContext {
  names: Names;
  /** Non-blocking connection for reads and side effects a stage must make before commit. */
  redis: Redis;
  log: Logger;
  now(): number;
  /** Sets the service's heartbeat status (e.g. `degraded` with the reason). */
  setStatus(status: ServiceStatus, detail?: string): void;
}

export interface Delivery<M> {
  entryId: string;
  message: M;
  /** How many times this entry has been delivered (1 on first read). */
  deliveries: number;
}

/** A stage that consumes one stream in its consumer group. */
export interface ConsumerStage<S extends StreamName = StreamName, P = unknown> {
  name: string;
  input: S;
  /** Loads what the batch needs in one round trip (positions, prices, policy). */
  prepare?(batch: Delivery<MessageOf<S>>[], ctx: StageContext): Promise<P>;
  /** Decides one message. Called in entry order; may mutate `prepared` as batch scratch. */
  handle(d: Delivery<MessageOf<S>>, prepared: P, ctx: StageContext): Outcome | Promise<Outcome>;
  /**
   * Optional: while this answers an `until` in the future, the runner reads nothing (new,
   * reclaimed or redone entries), so no entry spends a delivery, and the heartbeat is
   * `degraded` with the reason (the executor: a 418 ban / 429 Retry-After of the exchange).
   */
  holdUntil?(ctx: StageContext): Promise<{ until: number; reason: string } | null>;
  /**
   * Optional: the stage settles an entry itself however often it was delivered (it is
   * idempotent by its own records, as the executor is by its order keys). The runner then
   * never dead-letters it for its delivery count alone; it passes `deliveries` and the
   * stage decides. Without this, an entry past QT_MAX_DELIVERIES is a poison dead letter,
   * which for the executor could drop an order that an earlier delivery already sent.
   */
  resolvesRedelivery?: boolean;
  /** Called once the batch is committed (caches, in-memory state). */
  committed?(outcomes: Outcome[], ctx: StageContext): void;
  /** Starts/stops resources (exchange connections). */
  start?(ctx: StageContext): Promise<void>;
  stop?(): Promise<void>;
}

/** What one tick of a periodic service produced. */
export interface TickResult {
  outputs?: Output[];
  state?: StateWrite[];
  rejections?: Rejection[];
  /** Counted as `in` (things examined) and `out` (things produced). */
  in?: number;
  out?: number;
}

/** A service that works on a timer (market feed, ai_engine, harvest_brain, reconciler…). */
export interface TickerStage {
  name: string;
  everyMs: number;
  tick(ctx: StageContext): Promise<TickResult>;
  start?(ctx: StageContext): Promise<void>;
  stop?(): Promise<void>;
}

export type AnyStage = ConsumerStage<any, any> | TickerStage;
export function isConsumer(s: AnyStage): s is ConsumerStage<any, any> {
  return 'input' in s;
}
