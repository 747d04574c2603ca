import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { testNames, waitFor } from '../helpers/redis.js';
import { removeDir, startRedisServer } from '../helpers/redis-server.js';
import { intentIds, relayStage, runnerDeps, signal, startRunner } from './fixtures.js';

describe('stage runner across a Redis restart', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c();
  });

  it('reconnects by itself after redis-server is killed and restarted from its AOF, losing and repeating nothing', async () => {
    const server = await startRedisServer({ appendonly: true });
    cleanup.push(async () => {
      await server.stop('SIGKILL');
      removeDir(server.dir);
    });
    const url = server.url;
    const mk = () => {
      const r = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
      r.on('error', () => undefined);
      cleanup.push(async () => void r.disconnect());
      return r;
    };
    const writer = mk();
    const producer = mk();
    const names = testNames();
    const stage = relayStage();
    const runner = startRunner(stage, runnerDeps(names, writer, { redisUrl: url, reclaimIdleMs: 300, reclaimEveryMs: 300, batchSize: 5 }));
    await runner.start();
    cleanup.push(() => runner.stop());

    const N = 120;
    let sent = 0;
    const base = Date.now();
    const produce = (async () => {
      while (sent < N) {
        // An explicit id per message: if the reply to an XADD is lost in the kill and the
        // client resends it, Redis refuses the copy instead of storing the input twice.
        await producer.xadd(names.stream('ai.signal_generated'), `${base}-${sent + 1}`, ...Object.entries(signal(sent)).flat()).catch((e: Error) => {
          if (!/equal or smaller/.test(e.message)) throw e;
        });
        sent++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await waitFor(() => sent >= 40, 10000, '40 sent');
    await server.restart(); // SIGKILL, then start again on the same port and AOF
    await produce;
    const check = mk();
    await waitFor(async () => (await intentIds(check, names)).length >= N, 20000, `all ${N} relayed`);
    await waitFor(async () => Number(((await check.xpending(names.stream('ai.signal_generated'), 'relay')) as unknown[])[0]) === 0, 10000, 'nothing pending');
    const ids = await intentIds(check, names);
    expect(ids).toHaveLength(N);
    expect(new Set(ids).size).toBe(N);
    expect(runner.totals.dead).toBe(0);
  });
});
