/**
 * The executor killed (SIGKILL) in the middle of a batch and restarted: every plan is
 * answered exactly once and the exchange saw no client order id twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { encode, fieldsFromArray } from '../../src/contract/messages.js';
import { Names } from '../../src/contract/names.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

afterAll(closeAll);
const procs: ChildProcess[] = [];
afterAll(() => procs.forEach((p) => p.kill('SIGKILL')));

function executor(prefix: string): ChildProcess {
  const p = spawn(process.execPath, ['dist/cli.js', 'up', '--stages', 'intent_executor', '--prefix', prefix, '--redis-url', testRedisUrl()], {
    env: { ...process.env, QT_BATCH_SIZE: '20', QT_RECLAIM_IDLE_MS: '300', QT_RECLAIM_EVERY_MS: '300', QT_LOG_LEVEL: 'error', QT_BLOCK_MS: '200' },
    stdio: 'ignore',
  });
  procs.push(p);
  return p;
}

describe.runIf(existsSync('dist/cli.js'))('intent_executor crash and restart', () => {
  it('answers every plan exactly once and never sends one client order id twice across a SIGKILL mid-batch', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('crash');
    const names = new Names({ prefix });
    const now = Date.now();
    await r.hset(names.price('ETHUSDT'), { price: '3500', mark: '3500', ts: String(now), source: 'test' });
    await r.xgroup('CREATE', names.stream('apply.approved'), 'intent_executor', '$', 'MKSTREAM');
    const N = 300;
    const pipe = r.pipeline();
    for (let i = 0; i < N; i++) {
      const fields = encode('apply.approved', {
        plan_id: `plan-${i}`, intent_id: `int-${i}`, ts: now, symbol: 'ETHUSDT', action: 'OPEN', side: i % 2 ? 'SELL' : 'BUY',
        qty: 0.05, price: 3500, notional: 175, leverage: 10, sl_price: 0, tp_price: 0, reduceOnly: false, source: 'test',
        permit_id: `permit-${i}`, intent_ts: now,
      });
      pipe.xadd(names.stream('apply.approved'), '*', ...Object.entries(fields).flat());
    }
    await pipe.exec();

    const first = executor(prefix);
    await waitFor(async () => (await r.xlen(names.stream('apply.result'))) >= 40, 30000, '40 results before the kill');
    first.kill('SIGKILL');
    await new Promise((res) => first.once('exit', res));
    const afterKill = await r.xlen(names.stream('apply.result'));
    expect(afterKill).toBeLessThan(N);

    const second = executor(prefix);
    await waitFor(async () => (await r.xlen(names.stream('apply.result'))) >= N, 60000, 'all plans answered');
    await waitFor(async () => Number(((await r.xpending(names.stream('apply.approved'), 'intent_executor')) as [number])[0]) === 0, 20000, 'nothing pending');
    second.kill('SIGTERM');
    await new Promise((res) => second.once('exit', res));

    const results = ((await r.xrange(names.stream('apply.result'), '-', '+')) as [string, string[]][]).map(([, f]) => fieldsFromArray(f));
    const byPlan = new Map<string, number>();
    for (const x of results) byPlan.set(x.plan_id, (byPlan.get(x.plan_id) ?? 0) + 1);
    expect(byPlan.size).toBe(N);
    expect([...byPlan.values()].every((n) => n === 1)).toBe(true);
    const orders = await r.lrange(names.paperOrderLog(), 0, -1);
    expect(new Set(orders).size).toBe(orders.length);
    const executed = results.filter((x) => x.executed === 'true');
    expect(orders.length).toBe(executed.length);
    expect(executed.length).toBeGreaterThan(N * 0.9);
  });
});
