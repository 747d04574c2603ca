/** A minimal relay stage and helpers for runtime tests (real Redis, real runner). */
import type { Redis } from 'ioredis';
import { encode, type Signal } from '../../src/contract/messages.js';
import type { Names } from '../../src/contract/names.js';
import { createLogger } from '../../src/log.js';
import { StageRunner, type RunnerDeps } from '../../src/engine/runtime/stage-runner.js';
import { ok, out, reject, type ConsumerStage, type Outcome } from '../../src/engine/runtime/types.js';
import { testRedisUrl } from '../helpers/redis.js';

export function signal(i: number, over: Partial<Record<keyof Signal, string>> = {}): Record<string, string> {
  return {
    ...encode('ai.signal_generated', {
      signal_id: `sig-${i}`,
      ts: Date.now(),
      symbol: 'BTCUSDT',
      side: i % 2 ? 'SELL' : 'BUY',
      confidence: 0.8,
      price: 70000,
      models: '{}',
      model_version: 't1',
    }),
    ...over,
  };
}

export async function addSignals(r: Redis, names: Names, n: number, from = 0): Promise<string[]> {
  const p = r.pipeline();
  for (let i = from; i < from + n; i++) p.xadd(names.stream('ai.signal_generated'), '*', ...Object.entries(signal(i)).flat());
  const res = await p.exec();
  return (res ?? []).map(([, id]) => String(id));
}

export interface RelayOptions {
  name?: string;
  /** throw for these signal ids (handler failure) */
  failIds?: Set<string>;
  /** reject these signal ids with `confidence_below_min` */
  rejectIds?: Set<string>;
  /** called for every handled message, before it returns */
  onHandle?: (signalId: string) => Promise<void> | void;
}

/** Relays each signal to one trade.intent whose intent_id is the signal id. */
export function relayStage(o: RelayOptions = {}): ConsumerStage<'ai.signal_generated'> & { handled: string[] } {
  const handled: string[] = [];
  return {
    name: o.name ?? 'relay',
    input: 'ai.signal_generated',
    handled,
    async handle(d): Promise<Outcome> {
      const m = d.message;
      await o.onHandle?.(m.signal_id);
      if (o.failIds?.has(m.signal_id)) throw new Error(`boom on ${m.signal_id}`);
      handled.push(m.signal_id);
      if (o.rejectIds?.has(m.signal_id)) return reject('confidence_below_min', `confidence 0.80 < min 0.90`, { symbol: m.symbol, refId: m.signal_id });
      return ok([
        out('trade.intent', {
          intent_id: m.signal_id,
          ts: m.ts,
          intent_type: 'AUTONOMOUS_ENTRY',
          symbol: m.symbol,
          action: m.side,
          source: 'relay',
          position_usd: 100,
          leverage: 2,
        }),
      ]);
    },
  };
}

export function runnerDeps(names: Names, writer: Redis, over: Partial<RunnerDeps> = {}): RunnerDeps {
  return {
    redisUrl: testRedisUrl(),
    names,
    writer,
    caps: { streamMaxLen: 100000, toolStreamMaxLen: 10000 },
    batchSize: 10,
    blockMs: 100,
    reclaimIdleMs: 60000,
    reclaimEveryMs: 60000,
    maxDeliveries: 3,
    heartbeatMs: 500,
    mode: 'PAPER',
    log: createLogger({ level: 'silent' }),
    ...over,
  };
}

export function startRunner(stage: ConsumerStage<any, any>, deps: RunnerDeps): StageRunner {
  const r = new StageRunner(stage, deps);
  return r;
}

export async function intentIds(r: Redis, names: Names): Promise<string[]> {
  const entries = (await r.xrange(names.stream('trade.intent'), '-', '+')) as [string, string[]][];
  return entries.map(([, f]) => f[f.indexOf('intent_id') + 1]);
}

export async function pendingCount(r: Redis, names: Names, group: string): Promise<number> {
  const s = (await r.xpending(names.stream('ai.signal_generated'), group)) as [number, ...unknown[]];
  return Number(s[0]);
}
