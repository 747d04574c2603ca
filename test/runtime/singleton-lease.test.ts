/**
 * One engine per prefix for singleton stages: `qt up` twice on one prefix, with real
 * processes. The second engine's singletons wait as standby (log, heartbeat), take over
 * after the holder's SIGKILL only once its lease expired, and a holder that was paused
 * past its lease (SIGSTOP) never commits a tick after it resumes (fencing).
 */
import { existsSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { EngineProc } from '../helpers/engine-proc.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

afterAll(closeAll);
const engines: EngineProc[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.kill()));
});

const STAGES = 'market,ai_engine';
function engine(prefix: string): EngineProc {
  const e = new EngineProc(['--stages', STAGES, '--prefix', prefix, '--redis-url', testRedisUrl()], {
    QT_MARKET_TICK_MS: '200',
    QT_SIGNAL_INTERVAL_MS: '500',
    QT_HEARTBEAT_MS: '500',
  });
  engines.push(e);
  return e;
}

describe.runIf(existsSync('dist/cli.js'))('singleton leases (real processes)', () => {
  it('a second engine waits as standby and takes over after a SIGKILL only once the lease expired, without a double tick', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('lease');
    const names = new Names({ prefix });
    const a = engine(prefix);
    await waitFor(async () => (await r.get(names.lease('market'))) === a.id && (await r.get(names.lease('ai_engine'))) === a.id, 60_000, 'engine A holds both leases');
    await waitFor(() => a.ticks('market').length >= 3, 60_000, 'A ticks');

    const b = engine(prefix);
    await b.waitLine('standby: another engine runs this stage', 'market');
    await b.waitLine('standby: another engine runs this stage', 'ai_engine');
    // The standby shows in the holder's heartbeat without hiding it.
    await waitFor(async () => {
      const h = await r.hgetall(names.service('market'));
      return h.status === 'running' && h.pid === String(a.proc.pid) && h.standby === b.id;
    }, 30_000, 'standby mark in the market heartbeat');
    // Both alive: only A ticks.
    const seen = a.ticks('market').length;
    await waitFor(() => a.ticks('market').length >= seen + 10, 60_000, 'A keeps ticking');
    expect(b.ticks('market')).toHaveLength(0);
    expect(b.ticks('ai_engine')).toHaveLength(0);

    const before = Date.now();
    const pttl = await r.pttl(names.lease('market'));
    expect(pttl).toBeGreaterThan(0);
    const killedAt = Date.now();
    await a.kill();
    const took = await b.waitLine('lease acquired: this engine runs the stage now (was standby)', 'market');
    await waitFor(() => b.ticks('market').length >= 3, 60_000, 'B ticks');
    const firstB = b.ticks('market')[0]!;
    const lastA = a.ticks('market').at(-1)!;
    // The new holder ticks only after the old lease ended (its PTTL read before the kill).
    expect(Number(firstB.started_at)).toBeGreaterThanOrEqual(before + pttl);
    expect(Number(firstB.started_at)).toBeGreaterThan(lastA.time);
    expect(await r.get(names.lease('market'))).toBe(b.id);
    await waitFor(async () => (await r.hget(names.service('market'), 'pid')) === String(b.proc.pid), 30_000, 'B beats as the holder');
    console.log(`[measure] standby takeover after SIGKILL: ${took.time - killedAt} ms (lease TTL 4000 ms; old lease had ${pttl} ms left)`);

    // A clean stop gives the lease back.
    b.signal('SIGTERM');
    expect((await b.exit).code).toBe(0);
    expect(b.find('stopped')).toBeTruthy();
    expect(await r.exists(names.lease('market'), names.lease('ai_engine'))).toBe(0);
  });

  it('a holder paused past its lease (SIGSTOP) commits no tick after it resumes, and takes over again when the other stops', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('fence');
    const names = new Names({ prefix });
    const a = engine(prefix);
    await waitFor(async () => (await r.get(names.lease('market'))) === a.id, 60_000, 'engine A holds the lease');
    const b = engine(prefix);
    await b.waitLine('standby: another engine runs this stage', 'market');
    await waitFor(() => a.ticks('market').length >= 3, 60_000, 'A ticks');

    const stoppedAt = Date.now();
    a.signal('SIGSTOP');
    await b.waitLine('lease acquired: this engine runs the stage now (was standby)', 'market');
    await waitFor(() => b.ticks('market').length >= 3, 60_000, 'B ticks');
    a.signal('SIGCONT');
    await a.waitLine('lease lost: the stage stops acting and waits as standby', 'market');
    const lostAt = a.find('lease lost: the stage stops acting and waits as standby', 'market')!.time;
    await waitFor(() => b.ticks('market').filter((t) => t.time > lostAt).length >= 5, 60_000, 'B keeps ticking after A resumed');
    // Every tick A committed was started before it was paused: none after it resumed.
    expect(a.ticks('market').every((t) => Number(t.started_at) < stoppedAt)).toBe(true);
    expect(await r.get(names.lease('market'))).toBe(b.id);

    // B stops cleanly: it releases the lease, and A (now the standby) takes it at once.
    const handover = a.lines.length;
    b.signal('SIGTERM');
    expect((await b.exit).code).toBe(0);
    await waitFor(() => a.lines.slice(handover).some((l) => l.msg === 'lease acquired: this engine runs the stage now (was standby)' && l.stage === 'market'), 60_000, 'A takes the lease back');
    await waitFor(() => a.ticks('market').some((t) => Number(t.started_at) > stoppedAt), 60_000, 'A ticks again');
    expect(await r.get(names.lease('market'))).toBe(a.id);
  });
});
