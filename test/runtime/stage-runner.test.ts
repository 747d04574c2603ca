import { afterAll, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { Redis } from 'ioredis';
import { closeAll, testNames, testRedis, testRedisUrl, waitFor } from '../helpers/redis.js';
import { addSignals, intentIds, pendingCount, relayStage, runnerDeps, signal, startRunner } from './fixtures.js';

afterAll(closeAll);

describe('stage runner', () => {
  it('acknowledges an entry only together with its output, and leaves failed entries pending', async () => {
    const r = testRedis();
    const names = testNames();
    const stage = relayStage({ failIds: new Set(['sig-3', 'sig-7']) });
    const runner = startRunner(stage, runnerDeps(names, r));
    await runner.start();
    await addSignals(r, names, 10);
    await waitFor(async () => (await intentIds(r, names)).length === 8, 10000, '8 outputs');
    await runner.stop();
    const ids = await intentIds(r, names);
    expect(ids.sort()).toEqual(['sig-0', 'sig-1', 'sig-2', 'sig-4', 'sig-5', 'sig-6', 'sig-8', 'sig-9']);
    // The two failures are still pending (not acked), the rest are acked.
    expect(await pendingCount(r, names, 'relay')).toBe(2);
    const pend = (await r.xpending(names.stream('ai.signal_generated'), 'relay', '-', '+', 10)) as [string, string, number, number][];
    const pendingEntries = await Promise.all(pend.map(async ([id]) => (await r.xrange(names.stream('ai.signal_generated'), id, id))[0][1]));
    expect(pendingEntries.map((f) => f[f.indexOf('signal_id') + 1]).sort()).toEqual(['sig-3', 'sig-7']);
  });

  it('reclaims entries a dead consumer left pending and processes each once', async () => {
    const r = testRedis();
    const names = testNames();
    const key = names.stream('ai.signal_generated');
    await r.xgroup('CREATE', key, 'relay', '$', 'MKSTREAM');
    await addSignals(r, names, 5);
    // A consumer reads them and dies without acking.
    const got = (await r.xreadgroup('GROUP', 'relay', 'deadhost:1', 'COUNT', 10, 'STREAMS', key, '>')) as [string, unknown[]][];
    expect(got[0][1]).toHaveLength(5);
    expect(await pendingCount(r, names, 'relay')).toBe(5);
    const runner = startRunner(relayStage(), runnerDeps(names, r, { reclaimIdleMs: 100, reclaimEveryMs: 100 }));
    await runner.start();
    await waitFor(async () => (await intentIds(r, names)).length === 5, 10000, 'reclaimed outputs');
    await waitFor(async () => (await pendingCount(r, names, 'relay')) === 0, 5000, 'pending list empty');
    await runner.stop();
    expect((await intentIds(r, names)).sort()).toEqual(['sig-0', 'sig-1', 'sig-2', 'sig-3', 'sig-4']);
  });

  it('keeps a slow batch its own: a second consumer does not reclaim entries still being worked on', async () => {
    const r = testRedis();
    const names = testNames();
    await r.xgroup('CREATE', names.stream('ai.signal_generated'), 'relay', '$', 'MKSTREAM');
    // Each message takes 150 ms: a batch of 5 takes 750 ms, 2.5 times the reclaim idle time.
    const slow = relayStage({ onHandle: () => new Promise((z) => setTimeout(z, 150)) });
    const other = relayStage();
    const deps = { reclaimIdleMs: 300, reclaimEveryMs: 50, batchSize: 5 };
    const a = startRunner(slow, runnerDeps(names, r, { ...deps, consumerName: 'host:slow' }));
    await a.start();
    await addSignals(r, names, 10);
    await waitFor(() => slow.handled.length >= 1, 5000, 'the slow consumer working');
    const b = startRunner(other, runnerDeps(names, r, { ...deps, consumerName: 'host:idle' }));
    await b.start();
    await waitFor(async () => (await intentIds(r, names)).length >= 10, 15000, '10 outputs');
    await waitFor(async () => (await pendingCount(r, names, 'relay')) === 0, 5000, 'nothing pending');
    await Promise.all([a.stop(), b.stop()]);
    const ids = await intentIds(r, names);
    expect(ids).toHaveLength(10);
    expect(new Set(ids).size).toBe(10);
    expect([...slow.handled, ...other.handled].sort()).toEqual([...new Set([...slow.handled, ...other.handled])].sort());
    expect(a.totals.in + b.totals.in).toBe(10);
  });

  it('after a lost connection, handles its own pending entries (a read whose reply was lost) before new ones', async () => {
    const r = testRedis();
    const names = testNames();
    const key = names.stream('ai.signal_generated');
    const stage = relayStage();
    const runner = startRunner(stage, runnerDeps(names, r, { consumerName: 'host:lost', reclaimIdleMs: 60000, reclaimEveryMs: 60000 }));
    await runner.start();
    await addSignals(r, names, 2);
    await waitFor(async () => (await intentIds(r, names)).length === 2, 5000, 'first two');
    // Three entries delivered to this consumer whose reply never reached it: added and read
    // in its name in one transaction, so the runner's blocked read does not get them first.
    const lost = new Redis(testRedisUrl());
    const tx = lost.multi();
    for (let i = 2; i < 5; i++) tx.xadd(key, '*', ...Object.entries(signal(i)).flat());
    tx.xreadgroup('GROUP', 'relay', 'host:lost', 'COUNT', 3, 'STREAMS', key, '>');
    await tx.exec();
    lost.disconnect();
    expect(await pendingCount(r, names, 'relay')).toBe(3);
    // The runner's reading connection is cut; newer entries arrive meanwhile.
    const clients = String(await r.call('CLIENT', 'LIST'));
    const id = /id=(\d+) [^\n]*name=qt:relay:block/.exec(clients)?.[1];
    expect(id).toBeDefined();
    await r.call('CLIENT', 'KILL', 'ID', id!);
    await addSignals(r, names, 2, 5);
    // Reclaim is a minute away: only the redo handles the three, and before the two newer.
    await waitFor(async () => (await intentIds(r, names)).length === 7, 5000, 'all seven');
    await runner.stop();
    expect(await intentIds(r, names)).toEqual(['sig-0', 'sig-1', 'sig-2', 'sig-3', 'sig-4', 'sig-5', 'sig-6']);
    expect(await pendingCount(r, names, 'relay')).toBe(0);
  });

  it('redoes each own pending entry once per lost connection: one that fails again waits for the reclaim, it is not retried in a loop', async () => {
    const r = testRedis();
    const names = testNames();
    const key = names.stream('ai.signal_generated');
    const stage = relayStage({ failIds: new Set(['sig-1']) });
    const runner = startRunner(stage, runnerDeps(names, r, { consumerName: 'host:once', reclaimIdleMs: 60000, reclaimEveryMs: 60000, maxDeliveries: 3 }));
    await runner.start();
    await addSignals(r, names, 3);
    await waitFor(async () => (await intentIds(r, names)).length === 2, 5000, 'two of three');
    const clients = String(await r.call('CLIENT', 'LIST'));
    const id = /id=(\d+) [^\n]*name=qt:relay:block/.exec(clients)?.[1];
    await r.call('CLIENT', 'KILL', 'ID', id!);
    await waitFor(() => runner.totals.errors >= 2, 5000, 'the redo tried sig-1 again');
    // the runner went on to new entries (a loop on sig-1 would never get there)
    await addSignals(r, names, 1, 3);
    await waitFor(async () => (await intentIds(r, names)).length === 3, 5000, 'a new entry after the redo');
    await runner.stop();
    const [[, , , deliveries]] = (await r.xpending(key, 'relay', '-', '+', 10)) as [string, string, number, number][];
    expect(deliveries).toBe(2); // the first read and one redo; no dead letter, no loop
    expect(runner.totals.errors).toBe(2);
    expect(await r.xlen(names.stream('dead.letter'))).toBe(0);
  });

  it('dead-letters a poison message after the maximum deliveries and keeps processing', async () => {
    const r = testRedis();
    const names = testNames();
    const stage = relayStage({ failIds: new Set(['sig-1']) });
    const runner = startRunner(stage, runnerDeps(names, r, { reclaimIdleMs: 50, reclaimEveryMs: 50, maxDeliveries: 3 }));
    await runner.start();
    await addSignals(r, names, 3);
    const dl = await waitFor(async () => {
      const e = (await r.xrange(names.stream('dead.letter'), '-', '+')) as [string, string[]][];
      return e.length ? e : null;
    }, 10000, 'a dead letter');
    expect(dl).toHaveLength(1);
    const f = dl[0][1];
    expect(f[f.indexOf('error') + 1]).toMatch(/delivered 4 times .*poison/);
    expect(f[f.indexOf('stage') + 1]).toBe('relay');
    expect(f[f.indexOf('payload') + 1]).toContain('sig-1');
    await waitFor(async () => (await pendingCount(r, names, 'relay')) === 0, 5000, 'poison acked');
    await runner.stop();
    expect((await intentIds(r, names)).sort()).toEqual(['sig-0', 'sig-2']);
    expect(runner.totals.dead).toBe(1);
  });

  it('turns a malformed entry into a dead letter naming the bad fields, and processes the next good one', async () => {
    const r = testRedis();
    const names = testNames();
    const runner = startRunner(relayStage(), runnerDeps(names, r));
    await runner.start();
    const key = names.stream('ai.signal_generated');
    await r.xadd(key, '*', ...Object.entries(signal(1, { confidence: 'NaN', symbol: '' })).flat());
    await r.xadd(key, '*', 'garbage', '1');
    await addSignals(r, names, 1, 2);
    await waitFor(async () => (await intentIds(r, names)).length === 1, 10000, 'good message relayed');
    await waitFor(async () => (await r.xlen(names.stream('dead.letter'))) === 2, 5000, 'two dead letters');
    await runner.stop();
    const dl = (await r.xrange(names.stream('dead.letter'), '-', '+')) as [string, string[]][];
    const first = dl[0][1];
    expect(first[first.indexOf('error') + 1]).toMatch(/confidence: .*number/);
    expect(first[first.indexOf('error') + 1]).toMatch(/symbol/);
    expect(first[first.indexOf('stream') + 1]).toBe(key);
    expect(await pendingCount(r, names, 'relay')).toBe(0);
  });

  it('writes per-minute metrics with reasons, rejections to stage.rejected, and the heartbeat', async () => {
    const r = testRedis();
    const names = testNames();
    const runner = startRunner(relayStage({ rejectIds: new Set(['sig-0', 'sig-1']) }), runnerDeps(names, r));
    await runner.start();
    await addSignals(r, names, 5);
    await r.xadd(names.stream('ai.signal_generated'), '*', 'bad', 'entry');
    await waitFor(async () => runner.totals.in === 6, 10000, '6 processed');
    const minute = Names.minuteOf(Date.now());
    const m = { ...(await r.hgetall(names.metrics('relay', minute))), ...(await r.hgetall(names.metrics('relay', minute - 1))) };
    const sum = async (f: string) => Number((await r.hget(names.metrics('relay', minute), f)) ?? 0) + Number((await r.hget(names.metrics('relay', minute - 1), f)) ?? 0);
    expect(await sum('in')).toBe(6);
    expect(await sum('out')).toBe(3);
    expect(await sum('rejected')).toBe(2);
    expect(await sum('dead')).toBe(1);
    expect(await sum('rej:confidence_below_min')).toBe(2);
    expect(Object.keys(m)).toContain('in');
    expect(await r.ttl(names.metrics('relay', minute))).toBeGreaterThan(26 * 3600);
    const rej = (await r.xrange(names.stream('stage.rejected'), '-', '+')) as [string, string[]][];
    expect(rej).toHaveLength(2);
    const f = rej[0][1];
    const field = (k: string) => f[f.indexOf(k) + 1];
    expect(field('stage')).toBe('relay');
    expect(field('reason')).toBe('confidence_below_min');
    expect(field('ref_id')).toBe('sig-0');
    expect(field('detail')).toBe('confidence 0.80 < min 0.90');
    expect(JSON.parse(field('payload')).signal_id).toBe('sig-0');
    const hb = await waitFor(async () => {
      const h = await r.hgetall(names.service('relay'));
      return Number(h.processed) >= 6 ? h : null;
    }, 5000, 'heartbeat with processed 6');
    expect(hb.status).toBe('running');
    expect(hb.pid).toBe(String(process.pid));
    expect(hb.mode).toBe('PAPER');
    expect(Number(hb.last_msg_at)).toBeGreaterThan(0);
    expect(await r.pttl(names.service('relay'))).toBeLessThanOrEqual(1500);
    expect(await r.sismember(names.registry(), 'relay')).toBe(1);
    await runner.stop();
    expect((await r.hgetall(names.service('relay'))).status).toBe('stopping');
  });

  it('stops gracefully mid-batch: the batch in hand is finished and acked, nothing is processed twice after a restart', async () => {
    const r = testRedis();
    const names = testNames();
    let n = 0;
    const slow = relayStage({ onHandle: () => new Promise((res) => setTimeout(res, 20 + (n++ % 3))) });
    const runner = startRunner(slow, runnerDeps(names, r, { batchSize: 10 }));
    await runner.start();
    await addSignals(r, names, 40);
    await waitFor(() => slow.handled.length >= 5, 10000, 'processing under way');
    await runner.stop();
    const afterStop = await intentIds(r, names);
    expect(afterStop.length).toBe(slow.handled.length);
    expect(afterStop.length % 10).toBe(0);
    expect(await pendingCount(r, names, 'relay')).toBe(0);
    // A new runner (new process) takes the rest; no entry is processed twice.
    const second = startRunner(relayStage(), runnerDeps(names, r, { consumerName: 'host:second' }));
    await second.start();
    await waitFor(async () => (await intentIds(r, names)).length === 40, 10000, 'all 40');
    await second.stop();
    const all = await intentIds(r, names);
    expect(new Set(all).size).toBe(40);
  });
});
