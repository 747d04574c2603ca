/**
 * `npm run build && node dist/bench/wait.js [intents] [runs]`: what WAIT costs (issue 19,
 * docs/performance.md "WAIT"). A private primary and its replica on loopback; first the
 * order-record write alone (HSET) against HSET + `WAIT 1 1000`, p50/p99 per write; then
 * the pipeline (intent_bridge → apply_layer → intent_executor on the paper exchange, one
 * process per stage) with QT_REDIS_WAIT_REPLICAS=0 and =1, alternating, median of the runs.
 */
import { Redis } from 'ioredis';
import { startRedisServer, removeDir } from '../redis/server.js';
import { runPipeline } from './pipeline.js';

const log = (m: string) => process.stderr.write(`bench-wait: ${m}\n`);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

async function writes(r: Redis, n: number, wait: boolean): Promise<{ p50Ms: number; p99Ms: number }> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await r.hset(`bench-wait:order:${i}`, 'status', 'PENDING', 'phase', 'sending');
    if (wait && Number(await r.call('WAIT', 1, 1000)) < 1) throw new Error('the replica did not acknowledge within 1 s');
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  lat.sort((x, y) => x - y);
  return { p50Ms: lat[Math.floor(n / 2)]!, p99Ms: lat[Math.floor(n * 0.99)]! };
}

async function main(): Promise<void> {
  const intents = Number(process.argv[2] ?? 20000);
  const runs = Number(process.argv[3] ?? 3);
  const primary = await startRedisServer();
  const replica = await startRedisServer({ extraArgs: ['--replicaof', '127.0.0.1', String(primary.port)] });
  const r = new Redis(primary.url, { maxRetriesPerRequest: null });
  const rr = new Redis(replica.url);
  try {
    const until = Date.now() + 30_000;
    while (!/master_link_status:up/.test(await rr.info('replication'))) {
      if (Date.now() > until) throw new Error('the replica did not sync');
      await new Promise((s) => setTimeout(s, 50));
    }
    const plain = await writes(r, 5000, false);
    const waited = await writes(r, 5000, true);
    log(`order record write: p50 ${plain.p50Ms.toFixed(3)} ms, p99 ${plain.p99Ms.toFixed(3)} ms; with WAIT 1: p50 ${waited.p50Ms.toFixed(3)} ms, p99 ${waited.p99Ms.toFixed(3)} ms`);
    await r.flushall();
    const per: Record<'0' | '1', number[]> = { 0: [], 1: [] };
    for (let i = 0; i < runs; i++) {
      for (const w of ['0', '1'] as const) {
        process.env.QT_REDIS_WAIT_REPLICAS = w; // the engines inherit it (pipeline.ts spawns them with process.env)
        const p = await runPipeline(r, primary.url, intents, 100);
        per[w].push(p.perS);
        log(`run ${i + 1}/${runs}, QT_REDIS_WAIT_REPLICAS=${w}: ${Math.round(p.perS)} intents/s (${p.executed} executed)`);
        await r.flushall();
      }
    }
    process.stdout.write(`${JSON.stringify({
      write_p50_ms: { no_wait: plain.p50Ms, wait_1: waited.p50Ms },
      write_p99_ms: { no_wait: plain.p99Ms, wait_1: waited.p99Ms },
      pipeline_intents_per_s: { no_wait: per[0].map(Math.round), wait_1: per[1].map(Math.round), median_no_wait: Math.round(median(per[0])), median_wait_1: Math.round(median(per[1])) },
    })}\n`);
  } finally {
    r.disconnect();
    rr.disconnect();
    await replica.stop();
    await primary.stop();
    removeDir(primary.dir);
    removeDir(replica.dir);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-wait: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
