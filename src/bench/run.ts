/**
 * `npm run bench [-- --quick] [-- --json]`: every benchmark against a private
 * redis-server, each figure the median of several runs with min and max.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { Redis } from 'ioredis';
import { Names } from '../contract/names.js';
import { startRedisServer, removeDir } from '../redis/server.js';
import { fillLarge } from './fill.js';
import { firstSignalSeconds } from './first-signal.js';
import { runLatency, runPipeline, runRelay } from './pipeline.js';
import { protectTimes } from './protect.js';
import { figure, table, type Figure } from './stats.js';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const json = args.has('--json');
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

const P = quick
  ? { intents: 20000, runs: 2, latencyRate: 200, latencyS: 5, entries: 100000, keys: 10000, cliRuns: 3 }
  : { intents: 100000, runs: 3, latencyRate: 200, latencyS: 30, entries: 1000000, keys: 100000, cliRuns: 5 };
const BATCH = 100;

function wallMs(argv: string[], env: Record<string, string> = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['dist/cli.js', ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== null && r.status > 3) throw new Error(`qt ${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** `--shards 1,2,4` (or `--shards N`; no value: 1,2,4): the shard counts to run, or null. */
function shardCounts(): number[] | null {
  const argv = process.argv.slice(2);
  const at = argv.findIndex((a) => a === '--shards' || a.startsWith('--shards='));
  if (at < 0) return null;
  const v = argv[at]!.includes('=') ? argv[at]!.split('=')[1]! : argv[at + 1] && !argv[at + 1]!.startsWith('--') ? argv[at + 1]! : '1,2,4';
  const list = v.split(',').map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) throw new Error(`--shards: expected shard counts 1-16, comma list (got ${v})`);
  return list;
}

/** docs/scaling.md's simulation: N hash-tagged pipelines on a 3-primary cluster on loopback. */
async function mainShards(counts: number[]): Promise<void> {
  const { startRedisCluster } = await import('../redis/cluster-server.js');
  const { runShards } = await import('./shards.js');
  const cl = await startRedisCluster();
  const figures: Record<string, Figure> = {};
  const n = quick ? 10000 : 50000;
  try {
    for (const shards of counts) {
      const agg: number[] = [];
      for (let i = 0; i < P.runs; i++) {
        log(`shards run ${i + 1}/${P.runs}: ${shards} pipeline(s) of ${n} intents on a 3-primary cluster`);
        const r = await runShards(cl, shards, n, BATCH);
        agg.push(r.perS);
        log(`  ${Math.round(r.perS)} intents/s together; per shard ${r.perShard.map(Math.round).join(', ')} on ${r.nodes.join(', ')}`);
      }
      figures[`shards_${shards}_intents_per_s`] = figure(agg, 'intents/s');
    }
  } finally {
    await cl.stop();
  }
  const out = { figures, quick, machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }, generated_at: new Date().toISOString() };
  if (json) process.stdout.write(JSON.stringify(out) + '\n');
  else process.stdout.write(table(Object.entries(figures).map(([k, f]) => [k, f, ''])) + '\n');
}

async function main(): Promise<void> {
  const counts = shardCounts();
  if (counts) return mainShards(counts);
  const server = await startRedisServer();
  const r = new Redis(server.url, { maxRetriesPerRequest: null });
  const figures: Record<string, Figure> = {};
  try {
    const pipe: number[] = [], relay: number[] = [], rss: number[] = [], pipe1: number[] = [], relay1: number[] = [];
    for (let i = 0; i < P.runs; i++) {
      log(`pipeline run ${i + 1}/${P.runs}: ${P.intents} intents, one process per stage`);
      const p = await runPipeline(r, server.url, P.intents, BATCH);
      pipe.push(p.perS);
      rss.push(p.rssMb);
      log(`  ${Math.round(p.perS)} intents/s, ${p.executed} results, peak RSS ${p.rssMb.toFixed(0)} MB`);
      log(`relay run ${i + 1}/${P.runs}`);
      const rl = await runRelay(r, server.url, P.intents, BATCH);
      relay.push(rl);
      log(`  ${Math.round(rl)} entries/s`);
      await r.flushall();
      const p1 = await runPipeline(r, server.url, P.intents, BATCH, false);
      const r1 = await runRelay(r, server.url, P.intents, BATCH, false);
      pipe1.push(p1.perS);
      relay1.push(r1);
      log(`  one process: pipeline ${Math.round(p1.perS)} intents/s, relay ${Math.round(r1)} entries/s`);
      await r.flushall();
    }
    figures.pipeline_intents_per_s = figure(pipe, 'intents/s');
    figures.relay_intents_per_s = figure(relay, 'entries/s');
    figures.pipeline_vs_relay = figure(pipe.map((p, i) => p / relay[i]), 'ratio');
    figures.engine_rss_mb = figure(rss, 'MB');
    figures.pipeline_one_process_intents_per_s = figure(pipe1, 'intents/s');
    figures.relay_one_process_per_s = figure(relay1, 'entries/s');
    figures.pipeline_vs_relay_one_process = figure(pipe1.map((p, i) => p / relay1[i]), 'ratio');

    log(`latency: ${P.latencyRate} intents/s for ${P.latencyS} s`);
    const lat = await runLatency(r, server.url, P.latencyRate, P.latencyS);
    figures.latency_p50_ms = figure([lat.p50], 'ms');
    figures.latency_p99_ms = figure([lat.p99], 'ms');
    await r.flushall();

    const first: number[] = [];
    for (let i = 0; i < (quick ? 1 : P.runs); i++) {
      log(`first signal with the default clock, run ${i + 1}`);
      first.push(await firstSignalSeconds(r, server.url, `bench-first-${i}`));
      log(`  ${first[i]!.toFixed(1)} s`);
    }
    figures.first_signal_s = figure(first, 's');
    await r.flushall();

    log('protective stops: fill → stop resting, and crossing → fill with the market stage alone');
    const rest: number[] = [], cross: number[] = [];
    for (let i = 0; i < (quick ? 1 : P.runs); i++) {
      const pt = await protectTimes(r, server.url, `bench-protect-${i}`);
      rest.push(...pt.restMs);
      cross.push(pt.crossToFillMs);
      log(`  fill → resting ${pt.restMs.join(', ')} ms; crossing → fill ${pt.crossToFillMs} ms (tick ${pt.tickMs} ms)`);
    }
    figures.stop_resting_after_fill_ms = figure(rest, 'ms');
    figures.stop_cross_to_fill_ms = figure(cross, 'ms');
    await r.flushall();

    log(`filling ${P.entries} stream entries and ${P.keys} keys`);
    const names = new Names({ prefix: 'quantum' });
    await fillLarge(r, names, P.entries, P.keys);
    const env = { REDIS_URL: server.url };
    const times = (argv: string[]) => Array.from({ length: P.cliRuns }, () => wallMs(argv, env));
    figures.diagnose_ms = figure(times(['diagnose', 'pipeline', '--json']), 'ms');
    figures.health_ms = figure(times(['health']), 'ms');
    figures.help_ms = figure(times(['--help']), 'ms');

    const tui = await tuiRefresh(r, names).catch((e) => {
      log(`tui refresh not measured: ${(e as Error).message}`);
      return null;
    });
    if (tui) {
      figures.tui_refresh_commands = figure(tui.commands, 'commands');
      figures.tui_refresh_ms = figure(tui.ms, 'ms');
    }
  } finally {
    r.disconnect();
    await server.stop();
    removeDir(server.dir);
  }

  const flat: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(figures)) flat[k] = f.median;
  const out = {
    ...flat,
    figures,
    quick,
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, mem_gb: Math.round(totalmem() / 2 ** 30), node: process.version },
    generated_at: new Date().toISOString(),
  };
  if (json) process.stdout.write(JSON.stringify(out) + '\n');
  else {
    const T: Record<string, string> = {
      pipeline_intents_per_s: '>= 5000', pipeline_vs_relay: '>= 0.5', latency_p99_ms: '<= 10', engine_rss_mb: '<= 250',
      diagnose_ms: '<= 1000', first_signal_s: '<= 15', stop_resting_after_fill_ms: '<= 100', stop_cross_to_fill_ms: '<= one market tick (100)', health_ms: '<= 500', help_ms: '<= 300', tui_refresh_commands: 'independent of length',
    };
    process.stdout.write(table(Object.entries(figures).map(([k, f]) => [k, f, T[k] ?? ''])) + '\n');
  }
}

/**
 * One console refresh: the collector's Redis commands (INFO's total_commands_processed
 * before and after, less the INFO itself), and its time: collect + report + render of the
 * pipeline view to a 120×40 frame.
 */
async function tuiRefresh(r: Redis, names: Names): Promise<{ commands: number[]; ms: number[] }> {
  const { collectSnapshot } = await import('../diagnose/collect.js');
  const { buildReport } = await import('../diagnose/report.js');
  const framePath = '../tui/bench.js';
  const { renderConsoleFrame } = (await import(framePath)) as { renderConsoleFrame: (r: unknown, v: string) => string };
  const commands: number[] = [], ms: number[] = [];
  const total = async () => Number(/total_commands_processed:(\d+)/.exec(await r.info('stats'))![1]);
  for (let i = 0; i < 5; i++) {
    const before = await total();
    const t0 = performance.now();
    const snap = await collectSnapshot(r, names, { windowMs: 15 * 60_000 });
    renderConsoleFrame(buildReport(snap), 'pipeline');
    ms.push(performance.now() - t0);
    commands.push((await total()) - before - 1);
  }
  return { commands, ms };
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
