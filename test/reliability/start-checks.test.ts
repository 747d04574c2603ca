/**
 * Starts that must be refused with one line instead of doing the wrong thing: a Redis
 * database the server does not have (every command that connects), `--for 0s`, and a
 * private Redis for a DEMO or LIVE engine.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { privateRedisNotice, privateRedisRefusal } from '../../src/engine/private-redis.js';
import { freePort } from '../../src/redis/server.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

afterAll(closeAll);
const CLI = resolve('dist/cli.js');

function run(args: string[], env: Record<string, string> = {}, cwd = process.cwd()): Promise<{ code: number | null; out: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const k of Object.keys(base)) if (k.startsWith('QT_') || k === 'REDIS_URL' || k.startsWith('BINANCE_')) delete base[k];
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env }, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', rej);
    p.on('close', (code) => res({ code, out }));
  });
}

describe.runIf(existsSync('dist/cli.js'))('start checks', () => {
  it('a database the server does not have stops every command that connects with one line naming it, and nothing goes to db 0', async () => {
    const prefix = uniquePrefix('db');
    const url = `${testRedisUrl()}/99`;
    const cmds: string[][] = [['up', '--stages', 'market', '--for', '5s'], ['health'], ['health', '--format', 'nagios'], ['diagnose', 'pipeline'], ['tui']];
    for (const args of cmds) {
      const r = await run([...args, '--prefix', prefix], { REDIS_URL: url });
      expect(r.code, `${args.join(' ')}: ${r.out}`).toBe(3);
      expect(r.out, args.join(' ')).toMatch(/database 99 .*refused: ERR DB index is out of range/);
      expect(r.out, args.join(' ')).not.toMatch(/\n\s+at /); // no stack
    }
    const r = testRedis();
    expect(await r.keys(`${prefix}:*`)).toEqual([]);
  });

  it('--for 0s is refused with a clear message instead of running forever', async () => {
    for (const v of ['0s', '0', '0ms']) {
      const r = await run(['up', '--for', v, '--redis-url', testRedisUrl(), '--prefix', uniquePrefix('for0')]);
      expect(r.code, r.out).toBe(2);
      expect(r.out.trim().split('\n')).toHaveLength(1);
      expect(r.out).toContain('--for: expected a duration longer than 0');
    }
  });

  it('qt up --console never starts a private Redis for a DEMO or LIVE engine, and says why', async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`;
    const cwd = mkdtempSync(join(tmpdir(), 'qt-console-'));
    try {
      // API keys given: without them qt up refuses before it gets this far (src/config/preconnect.ts).
      const keys = { BINANCE_API_KEY: 'k', BINANCE_API_SECRET: 's' };
      const demo = await run(['up', '--console', '--exchange', 'binance', '--demo', '--for', '5s'], { REDIS_URL: dead, ...keys }, cwd);
      expect(demo.code, demo.out).toBe(3);
      expect(demo.out).toContain('starts a private Redis only in PAPER mode: in DEMO mode');
      const live = await run(['up', '--console', '--exchange', 'binance', '--live', '--for', '5s'], { REDIS_URL: dead, ...keys, QT_LIVE_CONFIRM: 'I_UNDERSTAND_THIS_TRADES_REAL_MONEY' }, cwd);
      expect(live.code, live.out).toBe(3);
      expect(live.out).toContain('in LIVE mode');
      expect(existsSync(join(cwd, '.qt', 'redis'))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('in PAPER mode a private Redis is allowed and announced loudly', () => {
    expect(privateRedisRefusal('redis://127.0.0.1:6379', 'PAPER')).toBeNull();
    expect(privateRedisRefusal('redis://u:secretpw@10.0.0.5:6379', 'LIVE')).not.toContain('secretpw');
    const lines = privateRedisNotice('redis://127.0.0.1:6379', { url: 'redis://127.0.0.1:6390', started: true, stop: async () => undefined });
    const text = lines.join('\n');
    expect(text).toContain('WARNING: no Redis answered at redis://127.0.0.1:6379');
    expect(text).toContain('PRIVATE redis-server it just started: redis://127.0.0.1:6390');
    expect(text).toContain('REDIS_URL=redis://127.0.0.1:6390');
  });
});
