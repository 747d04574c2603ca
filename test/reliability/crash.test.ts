/**
 * Crash suite: intent_bridge, apply_layer and intent_executor run as separate
 * processes under steady intent load on the paper exchange; a driver SIGKILLs a random
 * one at random moments (≥ 20 times; 100 with QT_CHAOS_LONG=1) and restarts it. At the
 * end every intent has exactly one outcome, the exchange saw no client order id twice,
 * and every position equals the sum of its fills, on the engine's side and the exchange's.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';
import { seeded } from '../helpers/seed.js';
import {
  LONG, Procs, accountIntents, addIntents, duplicateOrders, pending, permissivePolicy, positionsVsFills, writePrices,
} from './harness.js';

const STAGES = ['intent_bridge', 'apply_layer', 'intent_executor'] as const;
const INPUT = { intent_bridge: 'trade.intent', apply_layer: 'apply.plan', intent_executor: 'apply.approved' } as const;
const KILLS = Number(process.env.QT_CHAOS_KILLS ?? (LONG ? 100 : 20));
const t0 = Date.now();
const trace = (m: string) => process.env.QT_CHAOS_TRACE && console.error(`${Date.now() - t0} ms: ${m}`);

let procs: Procs | undefined;
afterAll(async () => {
  await procs?.killAll();
  await closeAll();
});

describe.runIf(existsSync('dist/cli.js'))('crash: stage processes SIGKILLed under load', () => {
  it(`accounts for every intent exactly once across ${KILLS} random SIGKILLs`, async () => {
    const { rand, random } = seeded(`crash (${KILLS} kills${LONG ? ', QT_CHAOS_LONG=1' : ''})`, 'QT_CRASH_SEED');
    const r = testRedis();
    const prefix = uniquePrefix('crash');
    const names = new Names({ prefix });
    await permissivePolicy(r, names);
    await writePrices(r, names);
    procs = new Procs({ redisUrl: testRedisUrl(), prefix });
    const running: Record<string, ChildProcess> = {};
    const up = async (s: string) => {
      const p = procs!.stage(s);
      running[s] = p;
      // Ready when its heartbeat carries the new pid; a process that exited first is an error
      // at once (not a wait until the deadline, which only bounds a slow start on a loaded machine).
      const exited = new Promise<never>((_, reject) => p.once('exit', (code, sig) => reject(new Error(`${s} (pid ${p.pid}) exited ${code ?? sig} before its heartbeat`))));
      exited.catch(() => undefined); // a later kill settles it after the race: not an error
      await Promise.race([waitFor(async () => (await r.hget(names.service(s), 'pid')) === String(p.pid), 120_000, `${s} up`), exited]);
    };
    for (const s of STAGES) await up(s);

    // Steady load: two intents every 40 ms, fresh prices alongside.
    let sent = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        await addIntents(r, names, sent, 2, 'c');
        sent += 2;
        if (sent % 40 === 0) await writePrices(r, names);
        await new Promise((res) => setTimeout(res, 40));
      }
    })();

    const kills: Record<string, number> = { intent_bridge: 0, apply_layer: 0, intent_executor: 0 };
    // Kills overlap: a random stage among those up is killed while others restart.
    const ready: Record<string, Promise<void>> = {};
    const isUp: Record<string, boolean> = { intent_bridge: true, apply_layer: true, intent_executor: true };
    for (let k = 0; k < KILLS; k++) {
      await new Promise((res) => setTimeout(res, rand(50, 300)));
      let candidates = STAGES.filter((s) => isUp[s]);
      if (!candidates.length) {
        await Promise.race(Object.values(ready));
        candidates = STAGES.filter((s) => isUp[s]);
      }
      const s = candidates[Math.floor(random() * candidates.length)];
      await procs.kill(running[s], 'SIGKILL');
      kills[s]++;
      isUp[s] = false;
      ready[s] = up(s).then(() => void (isUp[s] = true));
      trace(`kill ${k} ${s}, sent ${sent}`);
    }
    await Promise.all(Object.values(ready));
    stop = true;
    trace('load stopped');
    await load;

    // Drain: every intent answered and nothing pending in any group.
    await waitFor(async () => {
      const done = (await r.xlen(names.stream('apply.result'))) + (await r.xlen(names.stream('stage.rejected'))) + (await r.xlen(names.stream('dead.letter')));
      return done >= sent;
    }, 30000, 'every intent answered').catch(() => undefined);
    await waitFor(async () => {
      for (const s of STAGES) if ((await pending(r, names.stream(INPUT[s]), s)) !== 0) return false;
      return true;
    }, 20000, 'nothing pending').catch(() => undefined);
    trace('drained');
    await procs.killAll('SIGTERM');

    const acc = await accountIntents(r, names);
    const dups = await duplicateOrders(r, names);
    const pos = await positionsVsFills(r, names);
    const log = await r.llen(names.paperOrderLog());
    const reasons: Record<string, number> = {};
    for (const x of (await r.xrange(names.stream('stage.rejected'), '-', '+')) as [string, string[]][]) {
      const f = Object.fromEntries(x[1].reduce<string[][]>((a, v, i) => (i % 2 ? a[a.length - 1].push(v) : a.push([v]), a), []));
      reasons[`${f.stage}:${f.reason}`] = (reasons[`${f.stage}:${f.reason}`] ?? 0) + 1;
    }
    console.info(`crash: reasons ${JSON.stringify(reasons)}`);
    console.info(`crash: ${sent} intents, kills ${JSON.stringify(kills)}, executed ${acc.executed}, not executed ${acc.notExecuted}, ` +
      `rejected before executor ${acc.rejectedBeforeExecutor}, dead ${acc.dead}, exchange orders ${log}`);

    expect(acc.intents).toBe(sent);
    expect(acc.problems.slice(0, 10)).toEqual([]);
    expect(dups).toEqual([]);
    expect(log).toBe(acc.executed);
    for (const p of pos) {
      expect(p.engine, `${p.symbol} engine position = sum of fills`).toBeCloseTo(p.fills, 6);
      expect(p.exchange, `${p.symbol} exchange position = sum of fills`).toBeCloseTo(p.fills, 6);
    }
    expect(acc.executed).toBeGreaterThan(sent * 0.5);
    for (const s of STAGES) expect(await pending(r, names.stream(INPUT[s]), s), `${s} pending`).toBe(0);
  }, LONG ? 1_800_000 : 600_000);
});
