/**
 * `qt up` on a real 3-primary Redis Cluster (issue 19): with a hash-tagged prefix
 * (`{qt-test-…}`) every key of the pipeline shares one slot, and the engine, given the URL of
 * another node, runs on the primary serving that slot and trades end to end on the paper
 * exchange. An untagged prefix is refused at start with one line saying what to set.
 * Spawns dist/cli.js: build first (npm test does).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { EngineProc } from '../helpers/engine-proc.js';
import { qt } from '../helpers/cli.js';
import { metricSums, waitFor } from '../helpers/redis.js';
import { Names, STAGE_INPUT } from '../../src/contract/names.js';
import { fieldsFromArray } from '../../src/contract/messages.js';
import { engineKeySamples, keySlot, prefixHashTag, parseClusterSlots, primaryOfSlot, type SlotRange } from '../../src/redis/cluster.js';

let cl: RedisClusterHandle;
let client: Cluster;
let slots: SlotRange[];

beforeAll(async () => {
  cl = await startRedisCluster();
  client = new Cluster(cl.nodes, { redisOptions: { maxRetriesPerRequest: 3 } });
  client.on('error', () => undefined);
  slots = parseClusterSlots(await client.call('CLUSTER', 'SLOTS'));
});

afterAll(async () => {
  await client?.quit().catch(() => client.disconnect());
  await cl?.stop();
});

const FAST = {
  QT_MARKET_TICK_MS: '100', QT_SIGNAL_INTERVAL_MS: '300', QT_TRADER_COOLDOWN_MS: '500', QT_HEARTBEAT_MS: '500', QT_BLOCK_MS: '200',
};

async function results(names: Names): Promise<Record<string, string>[]> {
  const e = (await client.xrange(names.stream('apply.result'), '-', '+')) as [string, string[]][];
  return e.map(([, f]) => fieldsFromArray(f));
}

describe('slots and hash tags (Redis Cluster spec)', () => {
  it('keySlot agrees with CLUSTER KEYSLOT, with and without hash tags', async () => {
    const keys = ['quantum:stream:apply.plan', '{quantum}:stream:apply.plan', '{quantum}:position:BTCUSDT', 'a{b}c', '{}x', '{x', 'x}{y}', 'héllo', '', ...Array.from({ length: 50 }, () => randomBytes(6).toString('hex'))];
    for (const k of keys) expect(keySlot(k), k).toBe(Number(await client.call('CLUSTER', 'KEYSLOT', k)));
  });

  it('a prefix holds a hash tag only when it closes one: {quantum} and a{b}c do, quantum, {} and {x do not', () => {
    expect(prefixHashTag('{quantum}')).toBe('quantum');
    expect(prefixHashTag('qt-{eu}-1')).toBe('eu');
    expect(prefixHashTag('quantum')).toBeNull();
    expect(prefixHashTag('{}quantum')).toBeNull();
    expect(prefixHashTag('{quantum')).toBeNull();
  });
});

describe('qt up on a Redis Cluster', () => {
  it('with a hash-tagged prefix: every engine key shares the slot, the engine runs on its primary and trades end to end', async () => {
    const prefix = `{qt-test-${randomBytes(4).toString('hex')}}`;
    const names = new Names({ prefix });
    const slot = keySlot(names.registry());
    expect(new Set(engineKeySamples(names).map(keySlot))).toEqual(new Set([slot]));
    const owner = primaryOfSlot(slots, slot)!;
    const other = cl.nodes.map((n) => `${n.host}:${n.port}`).find((n) => n !== owner)!;
    const e = new EngineProc(['--stages', 'market,ai_engine,autonomous_trader,intent_bridge,apply_layer,intent_executor'], {
      REDIS_URL: `redis://${other}`, QT_PREFIX: prefix, ...FAST,
    });
    try {
      await e.waitLine(/Redis Cluster: the pipeline's keys share slot/);
      expect(e.find(/Redis Cluster/)!.msg).toContain(owner);
      await waitFor(async () => (await results(names)).filter((x) => x.executed === 'true').length >= 3, 60_000, 'three executed orders on the cluster');
    } finally {
      e.proc.kill('SIGTERM');
    }
    expect((await e.exit).code).toBe(0);
    // nothing unaccounted: in = out + rejected + dead for every consuming stage, nothing pending
    const ownerConn = new Redis(`redis://${owner}`);
    try {
      for (const stage of ['autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor']) {
        const m = await metricSums(ownerConn, names, stage);
        expect(m.in ?? 0, `${stage} in`).toBeGreaterThan(0);
        expect((m.out ?? 0) + (m.rejected ?? 0) + (m.dead ?? 0), `${stage} in = out + rejected + dead`).toBe(m.in);
        const pend = (await client.xpending(names.stream(STAGE_INPUT[stage as keyof typeof STAGE_INPUT]!), stage)) as [number];
        expect(Number(pend[0]), `${stage} pending`).toBe(0);
      }
      // every key of the pipeline is on the owner; the other primaries hold none of it
      const [, onOwner] = await ownerConn.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 100000);
      expect(onOwner.length).toBeGreaterThan(10);
      for (const n of cl.nodes.filter((x) => `${x.host}:${x.port}` !== owner)) {
        const r = new Redis(n.port, n.host);
        const [, there] = await r.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 100000);
        await r.quit();
        expect(there).toEqual([]);
      }
    } finally {
      await ownerConn.quit();
    }
    // and the diagnostics, given a node that holds nothing of it, find it all on the owner
    const d = await qt(['diagnose', 'pipeline', '--json', '--redis-url', `redis://${other}`, '--prefix', prefix]);
    const r = JSON.parse(d.stdout) as { streams: { stream: string; node?: string; length: number }[]; blind_spots?: { what: string }[] };
    expect(r.blind_spots ?? []).toEqual([]);
    const res = r.streams.find((s) => s.stream === 'apply.result')!;
    expect(res.length).toBeGreaterThanOrEqual(3);
    expect(res.node).toBe(owner);
  });

  it('qt kill-switch, given another node, writes on the primary of a hash-tagged prefix', async () => {
    const prefix = `{qt-test-${randomBytes(4).toString('hex')}}`;
    const names = new Names({ prefix });
    const owner = primaryOfSlot(slots, keySlot(names.registry()))!;
    const other = cl.nodes.map((n) => `${n.host}:${n.port}`).find((n) => n !== owner)!;
    const k = await qt(['kill-switch', 'on', '--reason', 'cluster drill', '--redis-url', `redis://${other}`, '--prefix', prefix]);
    expect(k.code, k.stderr).toBe(0);
    expect(await client.get(names.killSwitch())).toContain('cluster drill');
  });

  it('refuses a prefix without a hash tag at start, with one line naming QT_PREFIX and what to set', async () => {
    const e = new EngineProc(['--stages', 'intent_bridge'], { REDIS_URL: cl.url, QT_PREFIX: 'qt-untagged' });
    const { code } = await e.exit;
    expect(code).not.toBe(0);
    const out = e.raw + e.lines.map((l) => l.msg).join('\n');
    expect(out).toContain('QT_PREFIX=qt-untagged has no hash tag');
    expect(out).toContain('set QT_PREFIX={qt-untagged}');
    expect(out).not.toMatch(/\n\s+at /); // no stack trace
    // and it wrote nothing
    for (const n of cl.nodes) {
      const r = new Redis(n.port, n.host);
      const [, keys] = await r.scan('0', 'MATCH', 'qt-untagged:*', 'COUNT', 100000);
      await r.quit();
      expect(keys).toEqual([]);
    }
  });

  it('refuses a stream override naming a full key outside the slot', async () => {
    const e = new EngineProc(['--stages', 'intent_bridge'], { REDIS_URL: cl.url, QT_PREFIX: '{qt-test-o}', QT_STREAM_APPLY_PLAN: 'elsewhere:stream:apply.plan' });
    const { code } = await e.exit;
    expect(code).not.toBe(0);
    expect(e.raw + e.lines.map((l) => l.msg).join('\n')).toContain('elsewhere:stream:apply.plan');
  });
});
