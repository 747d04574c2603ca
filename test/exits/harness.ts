/** Runs real stages (real runner, real Redis, the paper exchange) for exit/risk tests. */
import type { Redis } from 'ioredis';
import { fieldsFromArray } from '../../src/contract/messages.js';
import type { Names } from '../../src/contract/names.js';
import { DEFAULT_POLICY, policyToHash } from '../../src/contract/state.js';
import { PaperExchange } from '../../src/engine/exchange/paper.js';
import { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import type { AnyStage } from '../../src/engine/runtime/types.js';
import { createApplyLayer } from '../../src/engine/stages/apply-layer.js';
import { createIntentBridge } from '../../src/engine/stages/intent-bridge.js';
import { createIntentExecutor } from '../../src/engine/stages/intent-executor.js';
import { PolicyCache } from '../../src/engine/state/policy.js';
import { runnerDeps } from '../runtime/fixtures.js';

export function runnerFor(stage: AnyStage, names: Names, writer: Redis): StageRunner {
  return new StageRunner(stage, runnerDeps(names, writer, { heartbeatMs: 200 }));
}

export async function setPrice(r: Redis, names: Names, sym: string, price: number): Promise<void> {
  await r.hset(names.price(sym), { price: String(price), mark: String(price), ts: String(Date.now()), source: 'test' });
}

export async function writePolicy(r: Redis, names: Names, over: Partial<typeof DEFAULT_POLICY> = {}): Promise<void> {
  await r.hset(names.policy(), policyToHash({ ...DEFAULT_POLICY, version: '1', allowlist: ['BTCUSDT', 'ETHUSDT'], min_confidence: 0, ...over }));
}

export async function entries(r: Redis, names: Names, stream: Parameters<Names['stream']>[0]): Promise<Record<string, string>[]> {
  const rows = (await r.xrange(names.stream(stream), '-', '+')) as [string, string[]][];
  return rows.map(([, a]) => fieldsFromArray(a));
}

/** intent_bridge → apply_layer → intent_executor on the paper exchange. */
export async function startPipeline(r: Redis, names: Names): Promise<{ exchange: PaperExchange; runners: StageRunner[] }> {
  const exchange = new PaperExchange({ redis: r, names, balance: 100000, slippageBps: 0, takerFee: 0 });
  await exchange.start();
  const policy = () => new PolicyCache(names, DEFAULT_POLICY, 100);
  const stages: AnyStage[] = [
    createIntentBridge({ names, rules: (s) => exchange.rules(s), policy: policy() }),
    createApplyLayer({ names, policy: policy(), pendingTtlMs: 1000 }),
    createIntentExecutor({ exchange, names, mode: 'PAPER' }),
  ];
  const runners = stages.map((s) => runnerFor(s, names, r));
  for (const x of runners) await x.start();
  return { exchange, runners };
}

export async function stopAll(runners: StageRunner[]): Promise<void> {
  await Promise.all(runners.map((x) => x.stop()));
}

/** Sends an entry through the pipeline (sizing by quantity, stop loss in %). */
export async function openEntry(r: Redis, names: Names, sym: string, side: 'BUY' | 'SELL', qty: number, slPct: number, price: number): Promise<string> {
  const id = `entry-${sym}-${Date.now()}`;
  await r.xadd(names.stream('trade.intent'), '*',
    'intent_id', id, 'ts', String(Date.now()), 'intent_type', 'MANUAL', 'symbol', sym, 'action', side, 'source', 'test',
    'qty', String(qty), 'price', String(price), 'leverage', '5', 'sl_pct', String(slPct));
  return id;
}
