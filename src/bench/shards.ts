/**
 * `npm run bench -- --shards 1,2,4`: N hash-tagged pipelines (`{bench-s0-…}`, `{bench-s1-…}`…)
 * at once on a real 3-primary Redis Cluster on loopback, each shard's tag chosen so the shards
 * spread over the primaries (shard i on primary i mod 3). Each shard gets `n` intents and its
 * own engine processes (given the first node's URL: each places itself on its shard's primary,
 * docs/redis-cluster.md). Figures: intents/s of all shards together (every intent over the
 * span from the first shard's start to the last shard's end) and of each shard.
 * The simulation of docs/scaling.md: on one machine the engines' CPU, not Redis, is the limit.
 */
import { Redis } from 'ioredis';
import { Names } from '../contract/names.js';
import { keySlot, nodeUrl, primaryOfSlot, readSlotMap } from '../redis/cluster.js';
import type { RedisClusterHandle } from '../redis/cluster-server.js';
import { runPipeline } from './pipeline.js';

export interface ShardsRun {
  shards: number;
  /** all shards' intents over the span from the first start to the last end (intents/s) */
  perS: number;
  perShard: number[];
  /** the primary (`host:port`) of each shard */
  nodes: string[];
}

/** Runs `shards` pipelines of `n` intents each at once; throws when one stalls. */
export async function runShards(cl: RedisClusterHandle, shards: number, n: number, batch: number): Promise<ShardsRun> {
  const seed = new Redis(cl.url);
  const map = await readSlotMap(seed);
  await seed.quit();
  const primaries = [...new Set(map.map((m) => m.primary))];
  const stamp = Date.now().toString(36);
  const prefixes: string[] = [];
  const nodes: string[] = [];
  for (let i = 0; i < shards; i++) {
    const want = primaries[i % primaries.length]!;
    // the first tag of this shard whose slot the wanted primary serves
    for (let k = 0; ; k++) {
      const p = `{bench-s${i}-${stamp}-${k}}`;
      if (primaryOfSlot(map, keySlot(new Names({ prefix: p }).registry())) === want) {
        prefixes.push(p);
        nodes.push(want);
        break;
      }
    }
  }
  const conns = nodes.map((n) => new Redis(nodeUrl(cl.url, n), { maxRetriesPerRequest: null }));
  try {
    const runs = await Promise.all(prefixes.map((p, i) => runPipeline(conns[i]!, cl.url, n, batch, true, p)));
    const t0 = Math.min(...runs.map((r) => r.t0));
    const t1 = Math.max(...runs.map((r) => r.t1));
    return { shards, perS: (n * shards) / ((t1 - t0) / 1000), perShard: runs.map((r) => r.perS), nodes };
  } finally {
    await Promise.all(conns.map((c) => c.quit().catch(() => c.disconnect())));
  }
}
