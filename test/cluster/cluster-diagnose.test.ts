/**
 * Diagnostics on a real 3-primary Redis Cluster (issue 19): REDIS_URL names one node, the
 * deployment's keys (an untagged prefix, as the seed deployment's `quantum`) spread over
 * every node. The lag on another node is seen (CRITICAL), a node down is unknown (exit 3,
 * never OK), and ghost cleanup finds and removes ghosts on every node.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
import { qt } from '../helpers/cli.js';
import { uniquePrefix } from '../helpers/redis.js';
import { Names } from '../../src/contract/names.js';
import { loadConfig } from '../../src/config/config.js';
import { RedisSource } from '../../src/tui/redis-source.js';
import { keySlot, parseClusterSlots, primaryOfSlot, type SlotRange } from '../../src/redis/cluster.js';

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

const nodeOf = (key: string) => primaryOfSlot(slots, keySlot(key))!;
/** The URL of a primary other than the one holding `key`. */
const urlAwayFrom = (key: string) => {
  const away = cl.nodes.map((n) => `${n.host}:${n.port}`).find((n) => n !== nodeOf(key))!;
  return `redis://${away}`;
};

/** An untagged prefix whose apply.plan stream and registry sit on different primaries. */
function spreadPrefix(): Names {
  for (;;) {
    const n = new Names({ prefix: uniquePrefix('cl') });
    if (nodeOf(n.stream('apply.plan')) !== nodeOf(n.registry())) return n;
  }
}

async function seedLag(names: Names, entries: number): Promise<void> {
  const key = names.stream('apply.plan');
  for (let i = 0; i < entries; i += 1000) {
    const p = client.pipeline();
    for (let j = i; j < Math.min(entries, i + 1000); j++) p.xadd(key, '*', 'plan_id', `p-${j}`, 'symbol', 'BTCUSDT', 'ts', String(Date.now()));
    await p.exec();
  }
  await client.xgroup('CREATE', key, 'apply_layer', '0');
}

describe('qt health on a Redis Cluster, REDIS_URL naming one node', () => {
  it('sees a lag of 20,000 on apply.plan held by another node: CRITICAL, and says which node holds the stream', async () => {
    const names = spreadPrefix();
    await seedLag(names, 20_000);
    await client.sadd(names.registry(), 'apply_layer');
    const url = urlAwayFrom(names.stream('apply.plan'));
    const h = await qt(['health', '--redis-url', url, '--prefix', names.prefix]);
    expect(h.stdout).toMatch(/^qt health: CRITICAL/);
    expect(h.code).toBe(2);
    const d = await qt(['diagnose', 'pipeline', '--json', '--redis-url', url, '--prefix', names.prefix]);
    const r = JSON.parse(d.stdout) as { status: string; streams: { stream: string; node?: string; groups: { group: string; lag: number }[] }[]; findings: { code: string; subject: string }[]; cluster?: { primaries: { node: string; keys: number | null }[] } };
    expect(r.status).toBe('crit');
    const plan = r.streams.find((s) => s.stream === 'apply.plan')!;
    expect(plan.node).toBe(nodeOf(names.stream('apply.plan')));
    expect(plan.groups.find((g) => g.group === 'apply_layer')!.lag).toBe(20_000);
    expect(r.findings.some((f) => f.code === 'GROUP_LAGGING' && f.subject.includes('apply.plan'))).toBe(true);
    expect(r.cluster!.primaries.map((p) => p.node).sort()).toEqual(cl.nodes.map((n) => `${n.host}:${n.port}`).sort());
    // the registry and the stream were found by SCAN on their own nodes
    expect(r.cluster!.primaries.filter((p) => (p.keys ?? 0) > 0).length).toBeGreaterThanOrEqual(2);
    // a primary that may evict keys is named (INFO answers for one node: each is asked)
    const other = cl.nodes.find((n) => `${n.host}:${n.port}` !== plan.node)!;
    const direct = new Redis(other.port, other.host);
    await direct.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      const d2 = await qt(['diagnose', 'pipeline', '--json', '--redis-url', url, '--prefix', names.prefix]);
      const r2 = JSON.parse(d2.stdout) as { redis: { warnings: string[] } };
      expect(r2.redis.warnings).toContain(`maxmemory-policy is allkeys-lru on ${other.host}:${other.port}: Redis may evict stream entries and keys under memory pressure; set it to noeviction`);
      expect(r2.redis.warnings.filter((w) => /maxmemory-policy/.test(w))).toHaveLength(1);
    } finally {
      await direct.config('SET', 'maxmemory-policy', 'noeviction');
      await direct.quit();
    }
    // sampled over a second, the group's trend comes from the other node too
    const t = await qt(['diagnose', 'streams', '--sample', '1s', '--json', '--redis-url', url, '--prefix', names.prefix]);
    expect(t.code, t.stderr).toBe(2);
    const tj = JSON.parse(t.stdout) as { streams: { stream: string; node?: string }[]; trends?: { stream: string; group: string }[] };
    expect(tj.streams.find((s) => s.stream === 'apply.plan')!.node).toBe(plan.node);
    expect(tj.trends?.some((x) => x.stream === 'apply.plan' && x.group === 'apply_layer')).toBe(true);
  });

  it('cleanup ghosts finds and deletes ghost keys on every node, and keeps real positions and ledgers', async () => {
    const names = new Names({ prefix: uniquePrefix('clg') });
    const symbols = Array.from({ length: 30 }, (_, i) => `S${i}USDT`);
    for (const s of symbols) {
      await client.hset(names.position(s), { symbol: s, qty: '0' });
      await client.hset(names.ledger(s), { realized_pnl: '1', trades: '1' });
    }
    await client.hset(names.position('BTCUSDT'), { symbol: 'BTCUSDT', side: 'LONG', qty: '0.5' });
    const ghostNodes = new Set(symbols.map((s) => nodeOf(names.position(s))));
    expect(ghostNodes.size).toBe(3); // the ghosts lie on every primary
    const dir = mkdtempSync(join(tmpdir(), 'qt-cl-ghosts-'));
    const dry = await qt(['cleanup', 'ghosts', '--dry-run', '--json', '--redis-url', cl.url, '--prefix', names.prefix]);
    expect(dry.code).toBe(0);
    expect((JSON.parse(dry.stdout) as { ghosts: unknown[] }).ghosts).toHaveLength(30);
    const yes = await qt(['cleanup', 'ghosts', '--yes', '--json', '--backup', join(dir, 'b.json'), '--redis-url', cl.url, '--prefix', names.prefix]);
    expect(yes.code).toBe(0);
    expect((JSON.parse(yes.stdout) as { deleted: number }).deleted).toBe(30);
    for (const s of symbols) {
      expect(await client.exists(names.position(s))).toBe(0);
      expect(await client.exists(names.ledger(s))).toBe(1);
    }
    expect(await client.hget(names.position('BTCUSDT'), 'qty')).toBe('0.5');
  });
});

describe('qt cleanup consumers on a Redis Cluster', () => {
  it('finds idle consumers holding nothing on streams of every node, deletes them, keeps one holding an entry', async () => {
    const names = new Names({ prefix: uniquePrefix('clc') });
    const streams = ['trade.intent', 'apply.plan', 'apply.approved', 'ai.signal_generated', 'apply.result', 'execution.result'] as const;
    expect(new Set(streams.map((s) => nodeOf(names.stream(s)))).size).toBeGreaterThanOrEqual(2);
    for (const s of streams) {
      await client.xadd(names.stream(s), '*', 'a', '1');
      await client.xgroup('CREATE', names.stream(s), 'g', '0');
      await client.xgroup('CREATECONSUMER', names.stream(s), 'g', 'idle-one');
    }
    // one consumer holds a pending entry: never deleted
    await client.xreadgroup('GROUP', 'g', 'holder', 'COUNT', 1, 'STREAMS', names.stream('apply.plan'), '>');
    const dry = await qt(['cleanup', 'consumers', '--dry-run', '--idle', '0s', '--json', '--redis-url', cl.url, '--prefix', names.prefix]);
    expect(dry.code, dry.stderr).toBe(0);
    const listed = (JSON.parse(dry.stdout) as { consumers: { stream: string; consumer: string }[] }).consumers;
    expect(listed.filter((c) => c.consumer === 'idle-one').map((c) => c.stream).sort()).toEqual([...streams].sort());
    expect(listed.some((c) => c.consumer === 'holder')).toBe(false);
    const yes = await qt(['cleanup', 'consumers', '--yes', '--idle', '0s', '--json', '--redis-url', cl.url, '--prefix', names.prefix]);
    expect(yes.code, yes.stderr).toBe(0);
    expect((JSON.parse(yes.stdout) as { deleted: number }).deleted).toBe(streams.length);
    const left = (await client.xinfo('CONSUMERS', names.stream('apply.plan'), 'g')) as unknown[][];
    expect(left.map((c) => String(c[1]))).toEqual(['holder']);
  });
});

describe('qt services forget on a Redis Cluster', () => {
  it('reads the heartbeat and edits the registry on the nodes that own them', async () => {
    let names: Names;
    do names = new Names({ prefix: uniquePrefix('cls') });
    while (nodeOf(names.registry()) === nodeOf(names.service('old_stage')));
    await client.sadd(names.registry(), 'old_stage', 'apply_layer');
    await client.hset(names.service('apply_layer'), { service: 'apply_layer', status: 'running' });
    const url = `redis://${nodeOf(names.service('old_stage'))}`; // not the registry's node
    const f = await qt(['services', 'forget', 'old_stage', '--redis-url', url, '--prefix', names.prefix]);
    expect(f.code, f.stderr).toBe(0);
    expect((await client.smembers(names.registry())).sort()).toEqual(['apply_layer']);
    const busy = await qt(['services', 'forget', 'apply_layer', '--redis-url', url, '--prefix', names.prefix]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain('still has a live heartbeat');
  });
});

describe('a cluster node read as a single server', () => {
  it('MOVED replies make the verdict unknown (a cluster blind spot), never OK', async () => {
    const names = spreadPrefix();
    await seedLag(names, 10);
    const url = urlAwayFrom(names.stream('apply.plan'));
    const one = new Redis(url);
    try {
      const r = buildReport(await collectSnapshot(one, names, { windowMs: 3_600_000 }));
      expect(r.blind_spots?.map((b) => b.what)).toContain('cluster');
      expect(r.status).not.toBe('ok');
      expect(r.status).toBe('unknown');
    } finally {
      await one.quit();
    }
  });
});

describe('the console on a Redis Cluster', () => {
  it('its data source reads every primary: the lag on another node, the node of each stream, ghosts there', async () => {
    const names = spreadPrefix();
    await seedLag(names, 12_000);
    await client.hset(names.position('ETHUSDT'), { symbol: 'ETHUSDT', qty: '0' });
    const url = urlAwayFrom(names.stream('apply.plan'));
    const src = new RedisSource(loadConfig({ env: { REDIS_URL: url, QT_PREFIX: names.prefix } }), { windowMs: 3_600_000 });
    try {
      const r = await src.load();
      expect(r.status).toBe('crit');
      const plan = r.streams.find((s) => s.stream === 'apply.plan')!;
      expect(plan.node).toBe(nodeOf(names.stream('apply.plan')));
      expect(plan.groups[0]!.lag).toBe(12_000);
      expect(r.cluster!.primaries).toHaveLength(3);
      expect((await src.cleanupGhostsPreview()).ghosts.map((g) => g.key)).toEqual([names.position('ETHUSDT')]);
    } finally {
      await src.close();
    }
  });
});

describe('a node down', () => {
  it('qt health is UNKNOWN (exit 3), never OK, and names the node; cleanup ghosts refuses', async () => {
    // trade.intent on a node that stays up (the one REDIS_URL names), apply.plan on the one killed
    let names: Names;
    do names = new Names({ prefix: uniquePrefix('cld') });
    while (nodeOf(names.stream('apply.plan')) === nodeOf(names.stream('trade.intent')));
    await client.xadd(names.stream('trade.intent'), '*', 'intent_id', 'i-1', 'ts', String(Date.now()));
    await client.xadd(names.stream('apply.plan'), '*', 'plan_id', 'p-1', 'ts', String(Date.now()));
    const victim = nodeOf(names.stream('apply.plan'));
    const url = `redis://${nodeOf(names.stream('trade.intent'))}`;
    client.disconnect(); // the test's own client has nothing more to do
    await cl.killNode(Number(victim.split(':')[1]));
    const h = await qt(['health', '--redis-url', url, '--prefix', names.prefix]);
    expect(h.code).toBe(3);
    expect(h.stdout).toMatch(/^qt health: UNKNOWN/);
    expect(h.stdout).toContain(victim);
    const g = await qt(['cleanup', 'ghosts', '--dry-run', '--redis-url', url, '--prefix', names.prefix]);
    expect(g.code).toBe(3);
    expect(g.stderr).toMatch(/could not be read/);
  });
});
