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

/** `host:port` → its node id (CLUSTER MYID). */
async function nodeId(node: string): Promise<string> {
  const r = new Redis(`redis://${node}`);
  try {
    return String(await r.call('CLUSTER', 'MYID'));
  } finally {
    await r.quit();
  }
}

/**
 * Moves one slot and its keys from one primary to another, the way redis-cli --cluster
 * reshard does (https://redis.io/docs/latest/commands/cluster-setslot/): IMPORTING on the
 * target, MIGRATING on the source, MIGRATE the keys, then SETSLOT NODE on every primary.
 */
async function moveSlot(slot: number, from: string, to: string): Promise<void> {
  const [fromId, toId] = [await nodeId(from), await nodeId(to)];
  const src = new Redis(`redis://${from}`);
  const dst = new Redis(`redis://${to}`);
  const [toHost, toPort] = [to.slice(0, to.lastIndexOf(':')), Number(to.slice(to.lastIndexOf(':') + 1))];
  try {
    await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
    await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
    for (;;) {
      const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
      if (keys.length === 0) break;
      await src.call('MIGRATE', toHost, toPort, '', 0, 5000, 'KEYS', ...keys);
    }
    await dst.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
    await src.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId);
    for (const n of cl.nodes) {
      const r = new Redis(n.port, n.host);
      await r.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId).catch(() => undefined);
      await r.quit();
    }
  } finally {
    await src.quit();
    await dst.quit();
  }
  slots = parseClusterSlots(await client.call('CLUSTER', 'SLOTS'));
}

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

  it('when the slot moves to another primary, the engine stops (exit 1) and, started again, runs there: nothing lost, no order twice', async () => {
    const prefix = `{qt-test-${randomBytes(4).toString('hex')}}`;
    const names = new Names({ prefix });
    const slot = keySlot(names.registry());
    const from = primaryOfSlot(slots, slot)!;
    const to = cl.nodes.map((n) => `${n.host}:${n.port}`).find((n) => n !== from)!;
    // an entry the first engine read but could not commit once the slot had moved stays pending
    // for its consumer; the second engine reclaims it after QT_RECLAIM_IDLE_MS
    const env = { REDIS_URL: cl.url, QT_PREFIX: prefix, ...FAST, QT_RECLAIM_IDLE_MS: '1000', QT_RECLAIM_EVERY_MS: '500' };
    const consuming = ['autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor'] as const;
    const pending = async (stage: (typeof consuming)[number]) => Number(((await client.xpending(names.stream(STAGE_INPUT[stage]!), stage)) as [number])[0]);
    const stages = ['--stages', 'market,ai_engine,autonomous_trader,intent_bridge,apply_layer,intent_executor'];
    const executed = async () => (await results(names)).filter((x) => x.executed === 'true');
    const e1 = new EngineProc(stages, env);
    let e2: EngineProc | undefined;
    try {
      await waitFor(async () => (await executed()).length >= 2, 60_000, 'two executed orders before the move');
      await moveSlot(slot, from, to); // as a resharding or a failover would
      const exit1 = await e1.exit;
      expect(exit1.code).toBe(1);
      expect(e1.find(/slot \d+ moved from/)!.msg).toContain(`to ${to}`);
      const before = (await executed()).length;
      expect(before).toBeGreaterThanOrEqual(2);
      e2 = new EngineProc(stages, env);
      await e2.waitLine(/Redis Cluster: the pipeline's keys share slot/);
      expect(e2.find(/Redis Cluster/)!.msg).toContain(to);
      // an operator's close on the new primary (qt close, given another node's URL) becomes an
      // executed order: the pipeline runs there (entries may also be blocked by the position limit)
      const onTo = new Redis(`redis://${to}`);
      const posKeys = await onTo.keys(`${prefix}:position:*`); // KEYS walks one node: the slot's new primary
      await onTo.quit();
      const open = posKeys.map((k) => names.classifyPositionKey(k)).find((c) => c?.kind === 'position')!;
      const c = await qt(['close', open.symbol, '--json', '--redis-url', `redis://${from}`, '--prefix', prefix]);
      expect(c.code, c.stderr).toBe(0);
      const intentId = (JSON.parse(c.stdout) as { intent_id: string }).intent_id;
      await waitFor(async () => (await executed()).find((x) => x.intent_id === intentId), 60_000, `the close ${intentId} executed after the move`);
      expect((await executed()).length).toBeGreaterThan(before);
      await waitFor(async () => (await Promise.all(consuming.map(pending))).every((n) => n === 0), 60_000, 'nothing pending on the new primary');
    } finally {
      e1.proc.kill('SIGTERM');
      e2?.proc.kill('SIGTERM');
    }
    expect((await e2!.exit).code).toBe(0);
    // no order twice: one paper order per client order id, one executed result per order
    const paperOrders = await client.lrange(names.paperOrderLog(), 0, -1);
    expect(new Set(paperOrders).size).toBe(paperOrders.length);
    const done = await executed();
    expect(new Set(done.map((x) => x.client_order_id)).size).toBe(done.length);
    for (const x of done) expect(paperOrders).toContain(x.client_order_id);
    // nothing lost: every consuming stage's input fully acknowledged, in = out + rejected + dead
    const owner = new Redis(`redis://${to}`);
    try {
      for (const stage of consuming) {
        const m = await metricSums(owner, names, stage);
        expect((m.out ?? 0) + (m.rejected ?? 0) + (m.dead ?? 0), `${stage} in = out + rejected + dead`).toBe(m.in);
        expect(await pending(stage), `${stage} pending`).toBe(0);
      }
    } finally {
      await owner.quit();
    }
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

  it('qt kill-switch on an untagged prefix of a cluster is one line saying why (its writes span slots), exit 2, nothing written', async () => {
    const k = await qt(['kill-switch', 'on', '--reason', 'drill', '--redis-url', cl.url, '--prefix', 'qt-untagged-ks']);
    expect(k.code).toBe(2);
    expect(k.stderr.trim().split('\n')).toHaveLength(1);
    expect(k.stderr).toContain('qt kill-switch: QT_PREFIX=qt-untagged-ks has no hash tag');
    expect(k.stderr).not.toContain('EXECABORT');
    expect(await client.get(new Names({ prefix: 'qt-untagged-ks' }).killSwitch())).toBeNull();
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
