/**
 * A closed log pipe does not kill the engine: `qt up … 2>&1 | head -1` closes the reader
 * after one line. The engine runs as a real process whose stdout and stderr are pipes this
 * test closes after the first line; it must keep beating (its heartbeats advance in Redis),
 * then stop cleanly on SIGTERM or at the end of `--for` (exit 0, heartbeats say `stopping`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});
afterAll(closeAll);

const STAGES = 'market,ai_engine,autonomous_trader';

/** Starts `qt up` with both output streams on one pipe (`2>&1`); resolves its exit. */
function startEngine(prefix: string, extra: string[]) {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('QT_') || k === 'REDIS_URL') delete base[k];
  const p = spawn(process.execPath, ['dist/cli.js', 'up', '--stages', STAGES, '--prefix', prefix, '--redis-url', testRedisUrl(), ...extra], {
    env: { ...base, QT_MARKET_TICK_MS: '200', QT_HEARTBEAT_MS: '300', QT_BLOCK_MS: '200', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(p);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.once('exit', (code, signal) => r({ code, signal })));
  // `| head -1`: read the first line, then close the pipe's read end.
  const firstLine = new Promise<void>((resolve) => {
    const close = () => {
      p.stdout!.destroy();
      p.stderr!.destroy();
      resolve();
    };
    p.stdout!.once('data', close);
    p.stderr!.once('data', close);
  });
  return { p, exit, firstLine };
}

describe.runIf(existsSync('dist/cli.js'))('a closed stdout/stderr pipe (real process)', () => {
  it('keeps running with its log pipe closed and stops cleanly on SIGTERM', async () => {
    const prefix = uniquePrefix('epipe');
    const names = testNames(prefix);
    const r = testRedis();
    const e = startEngine(prefix, []);
    await e.firstLine;
    // Beats after the pipe closed: the engine keeps logging (info lines every tick), so
    // each later write meets EPIPE; it must survive them.
    const first = await waitFor(async () => Number(await r.hget(names.service('market'), 'beat_at')) || undefined, 60_000, 'a market heartbeat');
    await waitFor(async () => Number(await r.hget(names.service('market'), 'beat_at')) > first + 1000 || undefined, 60_000, 'heartbeats advancing 1 s after the pipe closed');
    expect(e.p.exitCode).toBeNull();
    expect(e.p.kill('SIGTERM')).toBe(true);
    const x = await waitFor(() => Promise.race([e.exit, new Promise<undefined>((r2) => setTimeout(r2, 50))]), 60_000, 'exit after SIGTERM');
    expect(x).toEqual({ code: 0, signal: null });
    for (const s of STAGES.split(',')) expect(await r.hget(names.service(s), 'status'), s).toBe('stopping');
  });

  it('with its log pipe closed, still stops at the end of --for', async () => {
    const prefix = uniquePrefix('epipe');
    const names = testNames(prefix);
    const r = testRedis();
    const e = startEngine(prefix, ['--for', '4s']);
    await e.firstLine;
    const x = await waitFor(() => Promise.race([e.exit, new Promise<undefined>((r2) => setTimeout(r2, 50))]), 60_000, 'exit after --for');
    expect(x).toEqual({ code: 0, signal: null });
    for (const s of STAGES.split(',')) expect(await r.hget(names.service(s), 'status'), s).toBe('stopping');
  });
});
