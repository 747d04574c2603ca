/**
 * Redis-restart suite: the pipeline's stage processes (intent_bridge, apply_layer,
 * intent_executor) run against a redis-server with `appendonly yes`; redis is SIGKILLed
 * mid-run and started again from its AOF on the same port. The stages reconnect by
 * themselves; no client order id reaches the exchange twice; every intent has exactly
 * one outcome; and reconciliation (engine positions vs the paper exchange's, and both
 * vs the fills) finds nothing lost, or reports what was. Variants: appendfsync always
 * and everysec (what each can lose is in docs/reliability.md).
 */
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { removeDir, startRedisServer } from '../../src/redis/server.js';
import { uniquePrefix, waitFor } from '../helpers/redis.js';
import { LONG, Procs, accountIntents, addIntents, duplicateOrders, pending, permissivePolicy, positionsVsFills, writePrices } from './harness.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

const RESTARTS = LONG ? 5 : 1;
const STAGES = ['intent_bridge', 'apply_layer', 'intent_executor'] as const;
const INPUT = { intent_bridge: 'trade.intent', apply_layer: 'apply.plan', intent_executor: 'apply.approved' } as const;

describe.runIf(existsSync('dist/cli.js'))('Redis SIGKILLed and restarted from its AOF', () => {
  it.each(['always', 'everysec'])('appendfsync %s: stages reconnect, no order twice, reconciliation finds the books equal', async (fsync) => {
    const server = await startRedisServer({ appendonly: true, extraArgs: ['--appendfsync', fsync] });
    const procs = new Procs({ redisUrl: server.url, prefix: uniquePrefix('aof') });
    cleanup.push(async () => {
      await procs.killAll();
      await server.stop('SIGKILL');
      removeDir(server.dir);
    });
    const prefix = (procs as unknown as { base: { prefix: string } }).base.prefix;
    const names = new Names({ prefix });
    const r = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    r.on('error', () => undefined);
    cleanup.push(() => void r.disconnect());
    await permissivePolicy(r, names);
    await writePrices(r, names);
    const proc = procs.stage(STAGES.join(','));
    await waitFor(async () => (await r.hget(names.service('intent_executor'), 'pid')) === String(proc.pid), 120_000, 'stages up');

    let sent = 0;
    const batch = async (n: number) => {
      await addIntents(r, names, sent, n, 'a');
      sent += n;
    };
    for (let k = 0; k < RESTARTS; k++) {
      // A burst, and the kill while the stages are still working through it.
      const before = await r.xlen(names.stream('apply.result'));
      await batch(200);
      await waitFor(async () => (await r.xlen(names.stream('apply.result'))) >= before + 10, 20000, 'orders before the kill');
      const inFlight = sent - (await r.xlen(names.stream('apply.result')));
      console.info(`redis restart (appendfsync ${fsync}): SIGKILL with ~${inFlight} intents in flight`);
      await server.restart(); // SIGKILL, then redis-server again on the same port and AOF
      await writePrices(r, names);
    }
    // After the restart: more load; the stage processes must have reconnected by themselves.
    for (let i = 0; i < 15; i++) await batch(4); // written while the stages may still be reconnecting
    expect(proc.exitCode).toBeNull();
    await waitFor(async () => (await accountIntents(r, names)).problems.length === 0, 300_000, 'every intent answered once').catch(() => undefined);
    await waitFor(async () => {
      for (const s of STAGES) if ((await pending(r, names.stream(INPUT[s]), s)) !== 0) return false;
      return true;
    }, 15000, 'nothing pending').catch(() => undefined);
    await procs.kill(proc, 'SIGTERM');

    const acc = await accountIntents(r, names);
    const dups = await duplicateOrders(r, names);
    const pos = await positionsVsFills(r, names);
    const drift = pos.filter((p) => Math.abs(p.engine - p.exchange) > 1e-9 || Math.abs(p.engine - p.fills) > 1e-9);
    console.info(`redis restart (appendfsync ${fsync}): ${acc.intents} intents (sent ${sent}), executed ${acc.executed}, ` +
      `rejected ${acc.rejectedBeforeExecutor}, dead ${acc.dead}, reconciliation drift: ${drift.length ? JSON.stringify(drift) : 'none'}`);

    // What the AOF kept: every intent the producer wrote (each XADD was acknowledged).
    expect(acc.intents).toBe(sent);
    expect(acc.problems.slice(0, 10)).toEqual([]);
    expect(dups).toEqual([]);
    expect(await r.llen(names.paperOrderLog())).toBe(acc.executed);
    if (drift.length) {
      for (const d of drift) {
        const ex = (await r.xrange(names.stream('execution.result'), '-', '+')) as [string, string[]][];
        const rows = ex.map(([id, f]) => { const o: Record<string, string> = {}; for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1]; return { id, ...o }; }).filter((o) => o.symbol === d.symbol);
        console.info('DRIFT', JSON.stringify(d), 'fills', JSON.stringify(rows.map((o) => [o.id, o.side, o.qty, o.client_order_id, o.reduceOnly, o.plan_id])));
        console.info('ENGINE POS', JSON.stringify(await r.hgetall(names.position(d.symbol))), 'PAPER POS', JSON.stringify(await r.hgetall(names.paperPosition(d.symbol))));
        const keys = await r.keys(`${prefix}:order:*`);
        const st: string[] = [];
        for (const k of keys) { const h = await r.hgetall(k); if (h.symbol === d.symbol) st.push(`${k.split(':').pop()}=${h.status}/${h.filled_qty ?? ''}`); }
        console.info('ORDERS', st.join(' '));
      }
    }
    expect(drift).toEqual([]);
    expect(acc.executed).toBeGreaterThan(sent * 0.5);
  });
});
