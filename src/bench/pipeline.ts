/**
 * Throughput and latency of intent_bridge → apply_layer → intent_executor on the paper
 * exchange, with the engine in its own process (`qt up --stages …`), and the bare relay
 * baseline moving the same number of entries through the same Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { encode } from '../contract/messages.js';
import { Names } from '../contract/names.js';
import { policyToHash, DEFAULT_POLICY } from '../contract/state.js';
import { percentile } from './stats.js';

export const BENCH_SYMBOLS: Record<string, number> = {
  BTCUSDT: 70000, ETHUSDT: 3500, SOLUSDT: 150, BNBUSDT: 600, LINKUSDT: 15, AVAXUSDT: 30,
  LTCUSDT: 80, DOTUSDT: 6, NEARUSDT: 5, XRPUSDT: 0.6, ADAUSDT: 0.45, SUIUSDT: 1.5,
};
const SYMS = Object.keys(BENCH_SYMBOLS);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const PIPELINE_STAGES = ['intent_bridge', 'apply_layer', 'intent_executor'] as const;

export async function seedState(r: Redis, names: Names): Promise<void> {
  await r.hset(names.policy(), policyToHash({
    ...DEFAULT_POLICY, version: '1', allowlist: SYMS, max_open_positions: 1000, max_position_usd: 1e6,
    max_leverage: 20, min_confidence: 0, allow_upsize: true, max_symbol_exposure_usd: 1e12, max_total_exposure_usd: 1e13,
    daily_loss_limit_usd: 1e12, price_max_age_ms: 3_600_000,
    // a preloaded backlog takes longer than the default 60 s to drain: measure trading, not expiry
    entry_max_age_ms: 3_600_000,
  }));
  await refreshPrices(r, names);
}

export async function refreshPrices(r: Redis, names: Names): Promise<void> {
  const p = r.pipeline();
  const ts = String(Date.now());
  for (const [s, px] of Object.entries(BENCH_SYMBOLS)) p.hset(names.price(s), { price: String(px), mark: String(px), ts, source: 'bench' });
  await p.exec();
}

/** An entry intent sized by margin (all BUY: one-way mode refuses an entry against an open opposite position). */
export function intentFields(i: number, ts = Date.now()): Record<string, string> {
  const symbol = SYMS[i % SYMS.length];
  const side = 'BUY';
  return encode('trade.intent', {
    intent_id: `bench-${i}`, ts, intent_type: 'AUTONOMOUS_ENTRY', symbol, action: side, source: 'bench',
    position_usd: 25, leverage: 10, reduceOnly: false,
  });
}

export async function prefill(r: Redis, key: string, n: number, make: (i: number) => Record<string, string>): Promise<void> {
  for (let i = 0; i < n; i += 5000) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(n, i + 5000); j++) p.xadd(key, 'MAXLEN', '~', String(n * 2), '*', ...Object.entries(make(j)).flat());
    await p.exec();
  }
}

/** The pipeline's stages as engine processes: one process for all three, or one per stage. */
export function spawnEngines(url: string, prefix: string, batch: number, perStage: boolean): ChildProcess[] {
  return perStage ? PIPELINE_STAGES.map((s) => spawnEngine(url, prefix, batch, s)) : [spawnEngine(url, prefix, batch, PIPELINE_STAGES.join(','))];
}

export function spawnEngine(url: string, prefix: string, batch: number, stages: string = PIPELINE_STAGES.join(',')): ChildProcess {
  return spawn(process.execPath, ['dist/cli.js', 'up', '--stages', stages, '--redis-url', url, '--prefix', prefix], {
    env: { ...process.env, QT_BATCH_SIZE: String(batch), QT_LOG_LEVEL: 'warn', QT_PAPER_BALANCE: '1000000000', QT_BLOCK_MS: '100', QT_LOG_FORMAT: 'json', QT_STREAM_MAXLEN: '10000000' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export function peakRssMb(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(s);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Intents accounted for: results (executed or not) plus the bridge's and apply layer's
 * rejections and dead letters, from the per-minute metrics (exact; the tool streams are capped).
 */
async function accounted(r: Redis, names: Names, sinceMs: number): Promise<number> {
  const p = r.pipeline();
  p.xlen(names.stream('apply.result'));
  for (let m = Names.minuteOf(sinceMs) - 1; m <= Names.minuteOf(Date.now()); m++) {
    for (const s of ['intent_bridge', 'apply_layer']) p.hmget(names.metrics(s, m), 'rejected', 'dead');
  }
  const res = (await p.exec()) ?? [];
  let n = Number(res[0][1]);
  for (const [, v] of res.slice(1)) for (const x of v as (string | null)[]) n += Number(x ?? 0);
  return n;
}

async function waitRunning(r: Redis, names: Names, stages: readonly string[], timeoutMs = 20000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const st = await Promise.all(stages.map((s) => r.hget(names.service(s), 'status')));
    if (st.every((x) => x === 'running')) return;
    await sleep(20);
  }
  throw new Error('engine did not start');
}

async function stopAll(ps: ChildProcess[]): Promise<void> {
  await Promise.all(ps.map((p) => new Promise((res) => {
    if (p.exitCode !== null) return res(null);
    p.once('exit', res);
    p.kill('SIGTERM');
  })));
}

/**
 * `n` intents through the bridge, apply layer and executor (one process per stage, or one for
 * all); `r` reaches the prefix's keys (on a Redis Cluster: the primary of its hash tag's slot).
 * Returns intents/s and the measured span (epoch ms).
 */
export async function runPipeline(r: Redis, url: string, n: number, batch: number, perStage = true, prefix = `bench-p-${Date.now()}`): Promise<{ perS: number; rssMb: number; executed: number; t0: number; t1: number }> {
  const names = new Names({ prefix });
  await seedState(r, names);
  for (const s of PIPELINE_STAGES) {
    const input = s === 'intent_bridge' ? 'trade.intent' : s === 'apply_layer' ? 'apply.plan' : 'apply.approved';
    await r.xgroup('CREATE', names.stream(input), s, '0', 'MKSTREAM');
  }
  await prefill(r, names.stream('trade.intent'), n, (i) => intentFields(i));
  // Tool streams must not cap below n for the count to be exact.
  const engines = spawnEngines(url, prefix, batch, perStage);
  try {
    await waitRunning(r, names, PIPELINE_STAGES);
    const t0 = Date.now();
    let last = 0;
    while ((last = await accounted(r, names, t0)) < n) {
      await sleep(25);
      if (Date.now() - t0 > 600000) throw new Error(`pipeline stalled at ${last}/${n}`);
    }
    const t1 = Date.now();
    const secs = (t1 - t0) / 1000;
    const rss = Math.max(...engines.map((e) => peakRssMb(e.pid!)));
    const executed = await r.xlen(names.stream('apply.result'));
    return { perS: n / secs, rssMb: rss, executed, t0, t1 };
  } finally {
    await stopAll(engines);
  }
}

export async function runRelay(r: Redis, url: string, n: number, batch: number, perHop = true): Promise<number> {
  const prefix = `bench-r-${Date.now()}`;
  const names = new Names({ prefix });
  const key = (i: number) => names.extraStream(`relay.${i}`);
  for (const i of [0, 1, 2]) await r.xgroup('CREATE', key(i), `relay${i}`, '0', 'MKSTREAM');
  await prefill(r, key(0), n, (i) => intentFields(i));
  const args = (hop?: number) => ['dist/bench/relay.js', url, prefix, String(batch), ...(hop === undefined ? [] : [String(hop)])];
  const procs = (perHop ? [0, 1, 2] : [undefined]).map((h) => spawn(process.execPath, args(h), { stdio: ['ignore', 'ignore', 'inherit'] }));
  try {
    await sleep(150); // process start, comparable to the engine's wait for 'running'
    const t0 = Date.now();
    while ((await r.xlen(key(3))) < n) {
      await sleep(25);
      if (Date.now() - t0 > 600000) throw new Error('relay stalled');
    }
    return n / ((Date.now() - t0) / 1000);
  } finally {
    await stopAll(procs);
  }
}

/** Steady `rate` intents/s for `seconds`; latency = intent ts → exchange acknowledgement (apply.result latency_ms). */
export async function runLatency(r: Redis, url: string, rate: number, seconds: number): Promise<{ p50: number; p99: number; n: number }> {
  const prefix = `bench-l-${Date.now()}`;
  const names = new Names({ prefix });
  await seedState(r, names);
  const engines = spawnEngines(url, prefix, 100, true);
  try {
    await waitRunning(r, names, PIPELINE_STAGES);
    const total = rate * seconds;
    const t0 = Date.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      await r.xadd(names.stream('trade.intent'), '*', ...Object.entries(intentFields(i, Date.now())).flat());
      if (i % rate === 0) await refreshPrices(r, names);
    }
    while ((await accounted(r, names, t0)) < total) await sleep(20);
    const res = (await r.xrange(names.stream('apply.result'), '-', '+')) as [string, string[]][];
    const lat = res.map(([, f]) => Number(f[f.indexOf('latency_ms') + 1])).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    return { p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length };
  } finally {
    await stopAll(engines);
  }
}
