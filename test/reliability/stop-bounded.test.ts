/**
 * Stops that end whatever Redis does, and a connection loss that is said: a real
 * redis-server started here on its own port, the engine as a real process. Redis is
 * killed (SIGKILL: gone) or frozen (SIGSTOP: like a network cut, the connection stays
 * open and nothing answers), then the engine gets SIGTERM and must exit with its
 * `stopped` line, saying what it could not commit. SIGHUP stops it like SIGTERM.
 */
import { existsSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { removeDir, startRedisServer, type RedisServerHandle } from '../../src/redis/server.js';
import { EngineProc } from '../helpers/engine-proc.js';
import { testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

const servers: RedisServerHandle[] = [];
const engines: EngineProc[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.kill()));
});
afterAll(async () => {
  for (const s of servers) {
    s.proc.kill('SIGCONT');
    await s.stop('SIGKILL');
    removeDir(s.dir);
  }
});

const STOP_MS = 6000;
function engine(url: string, stages: string, env: Record<string, string> = {}): EngineProc {
  const e = new EngineProc(['--stages', stages, '--prefix', uniquePrefix('stop'), '--redis-url', url], {
    QT_MARKET_TICK_MS: '200',
    QT_HEARTBEAT_MS: '500',
    QT_BLOCK_MS: '200',
    QT_STOP_TIMEOUT_MS: String(STOP_MS),
    QT_LOG_LEVEL: 'info',
    ...env,
  });
  engines.push(e);
  return e;
}

/** Waits for the process to exit; far longer than the stop bound, so only a hang fails it. */
async function exited(e: EngineProc): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let done: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void e.exit.then((x) => (done = x));
  return waitFor(() => done, STOP_MS + 30_000, `engine exit after SIGTERM\n${e.tail()}`);
}

describe.runIf(existsSync('dist/cli.js'))('stops and connection loss with Redis gone (real processes)', () => {
  it('says when Redis is lost and when it is back, then stops with Redis gone (SIGKILL) with a stopped line', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const e = engine(server.url, 'market,ai_engine,autonomous_trader,intent_bridge,apply_layer,intent_executor');
    await e.waitLine(/^qt engine up/);

    await server.stop('SIGKILL');
    const lost = await e.waitLine('lost the Redis connection; reconnecting');
    expect(lost.level).toBe(40); // warn
    expect(String(lost.connection)).toMatch(/^qt:/);
    expect(String(lost.address)).toContain(String(server.port));

    await server.restart();
    const back = await e.waitLine('Redis connection back');
    expect(back.level).toBe(30); // info
    expect(typeof back.after_s).toBe('number');
    expect(Number(back.retries)).toBeGreaterThanOrEqual(1);

    await server.stop('SIGKILL');
    await waitFor(() => e.lines.filter((l) => l.msg === 'lost the Redis connection; reconnecting').length >= 2, 60_000, 'second loss logged');
    const sentAt = Date.now();
    e.signal('SIGTERM');
    const x = await exited(e);
    expect(x.code).toBe(0);
    const stopped = e.find('stopped');
    expect(stopped, e.tail()).toBeTruthy();
    expect(e.find('stopping (SIGTERM)')).toBeTruthy();
    console.log(`[measure] stop with Redis gone (SIGKILL): ${Number(stopped!.took_ms)} ms by the engine's clock, exit ${Date.now() - sentAt} ms after SIGTERM (bound ${STOP_MS} ms)`);
  });

  it('stops with Redis frozen (SIGSTOP, a network cut) and logs the tick it could not commit', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const e = engine(server.url, 'market', { QT_LOG_LEVEL: 'debug' });
    await waitFor(() => e.ticks('market').length >= 3, 60_000, 'market ticks');

    server.proc.kill('SIGSTOP');
    // Ticks every 200 ms while Redis answers: a second without one means a tick is stuck in hand.
    await waitFor(() => Date.now() - (e.ticks('market').at(-1)?.time ?? 0) > 1500, 60_000, 'market stuck on frozen Redis');
    const sentAt = Date.now();
    e.signal('SIGTERM');
    const x = await exited(e);
    expect(x.code).toBe(0);
    const stopped = e.find('stopped');
    expect(stopped, e.tail()).toBeTruthy();
    const lost = e.find('not committed at stop (Redis did not answer in time)', 'market');
    expect(lost, e.tail()).toBeTruthy();
    expect(String(lost!.what)).toContain('the tick of market');
    console.log(`[measure] stop with Redis frozen (SIGSTOP): ${Number(stopped!.took_ms)} ms by the engine's clock, exit ${Date.now() - sentAt} ms after SIGTERM (bound ${STOP_MS} ms)`);
    server.proc.kill('SIGCONT');
  });

  it('SIGHUP (a closed SSH session) stops the engine cleanly, like SIGTERM', async () => {
    const e = engine(testRedisUrl(), 'market,autonomous_trader');
    await e.waitLine(/^qt engine up/);
    e.signal('SIGHUP');
    const x = await exited(e);
    expect(x).toEqual({ code: 0, signal: null });
    expect(e.find('stopping (SIGHUP)')).toBeTruthy();
    expect(e.find('stopped')).toBeTruthy();
  });
});
