/**
 * Shared pieces of the reliability suites: spawning stage processes of the built CLI,
 * reading streams and metrics, a permissive policy, fresh prices, intent load, and the
 * accounting checks (every intent answered exactly once, no client order id twice,
 * positions equal to the sum of their fills).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { encode, fieldsFromArray } from '../../src/contract/messages.js';
import type { Names } from '../../src/contract/names.js';
import { policyToHash, DEFAULT_POLICY } from '../../src/contract/state.js';

export const LONG = process.env.QT_CHAOS_LONG === '1';
export const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'];
export const PRICES: Record<string, number> = { BTCUSDT: 70000, ETHUSDT: 3500, SOLUSDT: 150 };

export type Entry = Record<string, string> & { _id: string };

export async function entries(r: Redis, key: string): Promise<Entry[]> {
  const out: Entry[] = [];
  let start = '-';
  for (;;) {
    const e = (await r.xrange(key, start, '+', 'COUNT', 5000)) as [string, string[]][];
    for (const [id, f] of e) out.push({ ...fieldsFromArray(f), _id: id });
    if (e.length < 5000) break;
    start = `(${e[e.length - 1][0]}`;
  }
  return out;
}

export { metricSums } from '../helpers/redis.js';

export async function pending(r: Redis, stream: string, group: string): Promise<number> {
  try {
    return Number(((await r.xpending(stream, group)) as [number])[0]);
  } catch {
    return -1;
  }
}

/** A policy nothing in the suites should hit (the suites test the plumbing, not the gates). */
export async function permissivePolicy(r: Redis, names: Names): Promise<void> {
  await r.hset(names.policy(), policyToHash({
    ...DEFAULT_POLICY,
    version: '99',
    allowlist: SYMBOLS,
    max_open_positions: 1000,
    max_position_usd: 1e6,
    max_leverage: 20,
    min_confidence: 0,
    max_symbol_exposure_usd: 1e12,
    max_total_exposure_usd: 1e12,
    daily_loss_limit_usd: 1e12,
    price_max_age_ms: 600000,
  }));
}

export async function writePrices(r: Redis, names: Names): Promise<void> {
  const p = r.pipeline();
  for (const s of SYMBOLS) p.hset(names.price(s), { price: String(PRICES[s]), mark: String(PRICES[s]), ts: String(Date.now()), source: 'test' });
  await p.exec();
}

/** Mostly entries (BUY, sized by margin), every 8th a PARTIAL_50 exit of the same symbol. */
export function intentFields(i: number, tag: string): Record<string, string> {
  const symbol = SYMBOLS[i % SYMBOLS.length];
  const base = { intent_id: `${tag}-${i}`, ts: Date.now(), intent_type: 'MANUAL' as const, symbol, source: 'reliability' };
  if (i % 8 === 7) return encode('trade.intent', { ...base, action: 'PARTIAL_50', reduceOnly: true });
  return encode('trade.intent', { ...base, action: 'BUY', position_usd: 20 + (i % 7), leverage: 5 });
}

export async function addIntents(r: Redis, names: Names, from: number, n: number, tag: string): Promise<void> {
  const p = r.pipeline();
  for (let i = from; i < from + n; i++) p.xadd(names.stream('trade.intent'), '*', ...Object.entries(intentFields(i, tag)).flat());
  await p.exec();
}

/** Stage processes of the built CLI; all killed in `killAll`. */
export class Procs {
  readonly all = new Set<ChildProcess>();
  readonly output: string[] = [];

  constructor(private readonly base: { redisUrl: string; prefix: string; env?: Record<string, string>; capture?: boolean }) {}

  stage(stages: string, env: Record<string, string> = {}, args: string[] = []): ChildProcess {
    const p = spawn(process.execPath, ['dist/cli.js', 'up', '--stages', stages, '--prefix', this.base.prefix, '--redis-url', this.base.redisUrl, ...args], {
      env: {
        ...process.env,
        QT_BATCH_SIZE: '10',
        QT_BLOCK_MS: '200',
        QT_RECLAIM_IDLE_MS: '300',
        QT_RECLAIM_EVERY_MS: '300',
        QT_HEARTBEAT_MS: '500',
        QT_PAPER_BALANCE: '1000000000',
        QT_SYMBOLS: SYMBOLS.join(','),
        QT_LOG_LEVEL: 'warn',
        QT_LOG_FORMAT: 'json',
        ...this.base.env,
        ...env,
      },
      stdio: this.base.capture ? ['ignore', 'pipe', 'pipe'] : 'ignore',
    });
    if (this.base.capture) {
      p.stdout!.on('data', (d: Buffer) => this.output.push(d.toString()));
      p.stderr!.on('data', (d: Buffer) => this.output.push(d.toString()));
    }
    this.all.add(p);
    p.once('exit', () => this.all.delete(p));
    return p;
  }

  async kill(p: ChildProcess, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((res) => {
      p.once('exit', () => res());
      p.kill(sig);
    });
  }

  async killAll(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await Promise.all([...this.all].map((p) => this.kill(p, sig)));
  }
}

export interface Accounting {
  intents: number;
  executed: number;
  notExecuted: number;
  rejectedBeforeExecutor: number;
  dead: number;
  problems: string[];
}

const payloadOf = (e: Entry): Record<string, string> => {
  try {
    const p = JSON.parse(e.payload ?? '{}') as unknown;
    return p && typeof p === 'object' ? (p as Record<string, string>) : {};
  } catch {
    return {};
  }
};

/**
 * Joins every intent of `trade.intent` to its one outcome: an `apply.result` (by
 * intent_id), a rejection by intent_bridge (ref_id = intent_id) or apply_layer
 * (ref_id = plan_id), or a dead letter (payload intent_id / plan_id).
 */
export async function accountIntents(r: Redis, names: Names): Promise<Accounting> {
  const intents = await entries(r, names.stream('trade.intent'));
  const plans = await entries(r, names.stream('apply.plan'));
  const results = await entries(r, names.stream('apply.result'));
  const rejected = await entries(r, names.stream('stage.rejected'));
  const dead = await entries(r, names.stream('dead.letter'));
  const planToIntent = new Map<string, string>();
  const plansPerIntent = new Map<string, number>();
  for (const p of plans) {
    planToIntent.set(p.plan_id, p.intent_id);
    plansPerIntent.set(p.intent_id, (plansPerIntent.get(p.intent_id) ?? 0) + 1);
  }
  const outcomes = new Map<string, string[]>();
  const add = (intent: string | undefined, what: string) => {
    if (!intent) return;
    const l = outcomes.get(intent) ?? [];
    l.push(what);
    outcomes.set(intent, l);
  };
  let executed = 0;
  let notExecuted = 0;
  for (const x of results) {
    add(x.intent_id, `apply.result executed=${x.executed} ${x.reason ?? ''}`);
    if (x.executed === 'true') executed++;
    else notExecuted++;
  }
  let before = 0;
  for (const x of rejected) {
    if (x.stage === 'intent_bridge') add(x.ref_id, `rejected by intent_bridge: ${x.reason}`);
    else if (x.stage === 'apply_layer') add(planToIntent.get(x.ref_id), `rejected by apply_layer: ${x.reason}`);
    else continue; // the executor's refusals are also apply.results (not executed)
    before++;
  }
  for (const x of dead) {
    const p = payloadOf(x);
    add(p.intent_id ?? planToIntent.get(p.plan_id), `dead letter at ${x.stage}: ${x.error}`);
  }
  const problems: string[] = [];
  for (const i of intents) {
    const o = outcomes.get(i.intent_id) ?? [];
    if (o.length !== 1) problems.push(`${i.intent_id}: ${o.length} outcomes${o.length ? ` (${o.join('; ')})` : ''}`);
    if ((plansPerIntent.get(i.intent_id) ?? 0) > 1) problems.push(`${i.intent_id}: ${plansPerIntent.get(i.intent_id)} plans`);
  }
  return { intents: intents.length, executed, notExecuted, rejectedBeforeExecutor: before, dead: dead.length, problems };
}

/** Every client order id at most once in the paper exchange's order log. */
export async function duplicateOrders(r: Redis, names: Names): Promise<string[]> {
  const log = await r.lrange(names.paperOrderLog(), 0, -1);
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const c of log) {
    if (seen.has(c)) dups.push(c);
    seen.add(c);
  }
  return dups;
}

const signedQty = (h: Record<string, string>): number => {
  const q = Number(h.qty);
  if (!(q > 0)) return 0;
  return h.side === 'SHORT' ? -q : q;
};

export interface PositionCheck {
  symbol: string;
  fills: number;
  engine: number;
  exchange: number;
}

/** Per symbol: the sum of its fills (execution.result, signed by side), the engine's position and the exchange's. */
export async function positionsVsFills(r: Redis, names: Names): Promise<PositionCheck[]> {
  const fills = await entries(r, names.stream('execution.result'));
  const out: PositionCheck[] = [];
  for (const s of SYMBOLS) {
    let sum = 0;
    for (const f of fills) if (f.symbol === s) sum += (f.side === 'SELL' ? -1 : 1) * Number(f.qty);
    out.push({
      symbol: s,
      fills: round(sum),
      engine: round(signedQty(await r.hgetall(names.position(s)))),
      exchange: round(signedQty(await r.hgetall(names.paperPosition(s)))),
    });
  }
  return out;
}

const round = (x: number) => Math.round(x * 1e8) / 1e8;

export const rand = (lo: number, hi: number) => lo + Math.random() * (hi - lo);
