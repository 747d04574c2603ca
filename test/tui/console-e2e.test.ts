/**
 * End to end: the real `qt tui` under tmux (120×40, then 80×24 and a resize) against a
 * private redis-server holding a small pipeline state; kills and restarts that server
 * and sees "reconnecting…" and then the recovery.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { startRedisServer, removeDir, type RedisServerHandle } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/redis.js';
import { seedPipeline } from './seed.js';

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
if (!hasTmux) console.warn('console-e2e: tmux is not installed, skipping the tmux end-to-end test (apt-get install -y tmux)');

const ROOT = join(import.meta.dirname, '..', '..');
const SOCKET = `qt-tui-e2e-${process.pid}`;
const PREFIX = `qt-e2e-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });

function cliCommand(url: string): string {
  const dist = join(ROOT, 'dist', 'cli.js');
  const useDist = process.env.QT_E2E_DIST === '1' && existsSync(dist);
  const bin = useDist ? `node ${dist}` : `${join(ROOT, 'node_modules', '.bin', 'tsx')} ${join(ROOT, 'src', 'cli.ts')}`;
  return `cd ${ROOT} && ${bin} tui --refresh 500ms --redis-url ${url} --prefix ${PREFIX}; echo QT_EXITED $?; sleep 30`;
}

function capture(session: string): string {
  return tmux('capture-pane', '-p', '-t', session);
}

async function screen(session: string, cond: (s: string) => boolean, what: string, ms = 30000): Promise<string> {
  let last = '';
  try {
    return await waitFor(() => {
      last = capture(session);
      return cond(last) ? last : false;
    }, ms, what);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- pane ---\n${last}`);
  }
}

async function key(session: string, k: string, cond: (s: string) => boolean, what: string): Promise<string> {
  tmux('send-keys', '-t', session, k);
  return screen(session, cond, what, 10000);
}

describe.skipIf(!hasTmux)('qt tui under tmux', () => {
  let server: RedisServerHandle;
  let redis: Redis;
  const names = new Names({ prefix: PREFIX });

  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    await seedPipeline(redis, names);
  });

  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      /* already gone */
    }
    redis?.disconnect();
    await server?.stop();
    if (server) removeDir(server.dir);
  });

  it('shows live data at 120×40, survives a Redis restart, and quits on q', async () => {
    tmux('new-session', '-d', '-s', 'wide', '-x', '120', '-y', '40', cliCommand(server.url));
    let s = await screen('wide', (s) => s.includes('intent_bridge') && s.includes('PAPER'), 'the pipeline view');
    expect(s).toContain(server.url.replace(/\/$/, ''));
    expect(s).toMatch(/intent_bridge.*80%.*invalid_quantity ×8/);
    s = await key('wide', '2', (s) => s.includes('stream / group'), 'the streams view');
    expect(s).toMatch(/intent_executor.*STARVING/);
    s = await key('wide', '4', (s) => s.includes('drift'), 'the positions view');
    expect(s).toMatch(/BTCUSDT\s+LONG.*DRIFT/);
    s = await key('wide', '5', (s) => s.includes('last error'), 'the services view');
    expect(s).toMatch(/ai_engine\s+running/);

    await server.restart(); // SIGKILL, then a new empty server on the same port
    await redis.ping().catch(() => undefined);
    // the restarted server is empty until we write the state again; the console may see either
    s = await screen('wide', (s) => s.includes('reconnecting') || s.includes('MODE ?'), 'reconnecting or the empty restarted Redis');
    await waitFor(async () => (await redis.ping()) === 'PONG', 10000, 'redis back');
    await seedPipeline(redis, names);
    s = await screen('wide', (s) => !s.includes('reconnecting') && /ai_engine\s+running/.test(s), 'recovery');
    tmux('send-keys', '-t', 'wide', 'q');
    await screen('wide', (s) => s.includes('QT_EXITED 0'), 'the console exits 0');
  });

  it('shows Redis down as reconnecting, keeping the last data, then recovers', async () => {
    tmux('new-session', '-d', '-s', 'down', '-x', '100', '-y', '30', cliCommand(server.url));
    await screen('down', (s) => s.includes('PAPER') && s.includes('intent_bridge'), 'first data');
    await server.stop('SIGKILL');
    const s = await screen('down', (s) => s.includes('reconnecting…'), 'reconnecting');
    expect(s).toContain('intent_bridge'); // the last data stays
    expect(s).toMatch(/connection refused|connection lost/);
    await server.restart();
    await waitFor(async () => (await redis.ping()) === 'PONG', 10000, 'redis back');
    await seedPipeline(redis, names);
    await screen('down', (s) => !s.includes('reconnecting') && s.includes('PAPER'), 'recovery');
    tmux('send-keys', '-t', 'down', 'q');
    await screen('down', (s) => s.includes('QT_EXITED 0'), 'the console exits 0');
  });

  it('fits 80×24 and survives a resize from 120×40', async () => {
    tmux('new-session', '-d', '-s', 'narrow', '-x', '80', '-y', '24', cliCommand(server.url));
    let s = await screen('narrow', (s) => s.includes('intent_bridge') && s.includes('PAPER'), 'the pipeline at 80×24');
    const width = (x: string) => Math.max(...x.split('\n').map((l) => [...l.replace(/\s+$/, '')].length));
    expect(width(s)).toBeLessThanOrEqual(80);
    s = await key('narrow', '4', (s) => s.includes('drift'), 'positions at 80×24');
    expect(s).toMatch(/BTCUSDT\s+LONG/);
    tmux('resize-window', '-t', 'narrow', '-x', '120', '-y', '40');
    s = await screen('narrow', (s) => s.includes('terminal 120×40'), 'the wider frame');
    tmux('resize-window', '-t', 'narrow', '-x', '80', '-y', '24');
    s = await screen('narrow', (s) => s.includes('terminal 80×24'), 'the narrower frame');
    expect(width(s)).toBeLessThanOrEqual(80);
    // one header, one tab line: nothing of the wider frame left behind
    expect(s.split('\n').filter((l) => l.includes('1 Pipeline')).length).toBe(1);
    tmux('send-keys', '-t', 'narrow', 'q');
    await screen('narrow', (s) => s.includes('QT_EXITED 0'), 'the console exits 0');
  });
});
