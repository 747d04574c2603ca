/**
 * Security suite: the engine against Redis with requirepass, with an ACL user, with a
 * read-only ACL user (diagnose), and over TLS with a self-signed certificate made here;
 * a wrong password is one clear line and exit 3 without the password; secrets (API key,
 * secret, Redis password) appear nowhere in a run's output, heartbeats, streams or
 * `qt config show`; live trading is refused without both switches.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { freePort, startRedisServer, type RedisServerHandle } from '../../src/redis/server.js';
import { uniquePrefix, waitFor } from '../helpers/redis.js';

const PASSWORD = 'pw-Zq8rT3vLx91';
const USER_PW = 'upw-Hk27sQp04';
const VIEW_PW = 'vpw-Mm55aa31';
const API_KEY = 'AKEY-7f3c9d1e2b4a6c8e0f1a3b5c7d9e1f2a';
const API_SECRET = 'SSEC-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b';

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to completion (env: only what is given, plus PATH). */
function qt(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['dist/cli.js', ...args], {
      env: { PATH: process.env.PATH ?? '', QT_LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

const mustNotContain = (text: string, what: string) => {
  for (const s of [PASSWORD, USER_PW, VIEW_PW, API_KEY, API_SECRET]) expect(text.includes(s), `${what} contains a secret (${s.slice(0, 4)}…)`).toBe(false);
};

let server: RedisServerHandle;
async function authServer(): Promise<RedisServerHandle> {
  if (server) return server;
  server = await startRedisServer();
  cleanup.push(async () => {
    await server.stop('SIGKILL');
    rmSync(server.dir, { recursive: true, force: true });
  });
  const admin = new Redis(server.port, '127.0.0.1');
  admin.on('error', () => undefined);
  await admin.config('SET', 'requirepass', PASSWORD); // after start: the helper's readiness check is an unauthenticated PING
  await admin.call('ACL', 'SETUSER', 'qt', 'on', `>${USER_PW}`, '~*', '&*', '+@all');
  await admin.call('ACL', 'SETUSER', 'viewer', 'on', `>${VIEW_PW}`, '~*', '&*', '-@all', '+@read', '+@connection', '+info', '+xinfo', '+xpending', '+scan', '+config|get', '+client|setname', '+ttl', '+pttl', '+type');
  admin.disconnect();
  return server;
}

const url = (auth: string) => `redis://${auth}@127.0.0.1:${server.port}`;

describe.runIf(existsSync('dist/cli.js'))('security', () => {
  it('runs with requirepass and with an ACL user; a wrong password is one line, exit 3, no password', async () => {
    await authServer();
    const prefix = uniquePrefix('sec');
    for (const auth of [`:${PASSWORD}`, `qt:${USER_PW}`]) {
      const ok = await qt(['up', '--stages', 'intent_bridge', '--for', '1s', '--prefix', prefix], { REDIS_URL: url(auth) });
      expect(ok.code, ok.stderr).toBe(0);
      mustNotContain(ok.stdout + ok.stderr, 'engine output');
    }
    const check = new Redis(server.port, '127.0.0.1', { username: 'qt', password: USER_PW });
    cleanup.push(() => void check.disconnect());
    expect((await check.hgetall(new Names({ prefix }).service('intent_bridge'))).status).toBe('stopping');

    for (const auth of [':wrong-pw-123', 'qt:wrong-pw-123', `nobody:${USER_PW}`]) {
      const bad = await qt(['up', '--stages', 'intent_bridge', '--for', '1s', '--prefix', prefix], { REDIS_URL: url(auth) });
      expect(bad.code, bad.stderr).toBe(3);
      const lines = bad.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/authentication failed/);
      expect(bad.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack
      expect(bad.stderr).not.toContain('wrong-pw-123');
      mustNotContain(bad.stdout + bad.stderr, 'auth failure output');
    }
  });

  it('diagnose runs as a read-only ACL user, which cannot run the engine', async () => {
    await authServer();
    const prefix = uniquePrefix('ro');
    const seed = await qt(['up', '--stages', 'intent_bridge,apply_layer', '--for', '1s', '--prefix', prefix], { REDIS_URL: url(`qt:${USER_PW}`) });
    expect(seed.code, seed.stderr).toBe(0);
    const d = await qt(['diagnose', 'pipeline', '--json', '--prefix', prefix], { REDIS_URL: url(`viewer:${VIEW_PW}`) });
    expect([0, 1, 2], d.stderr).toContain(d.code);
    const report = JSON.parse(d.stdout) as { status: string; stages: unknown[] };
    expect(report.status).toBeDefined();
    mustNotContain(d.stdout + d.stderr, 'diagnose output');
    const h = await qt(['health', '--prefix', prefix], { REDIS_URL: url(`viewer:${VIEW_PW}`) });
    expect([0, 1, 2], h.stdout + h.stderr).toContain(h.code);
    // The viewer cannot write: the engine refuses to start (not silently running).
    const up = await qt(['up', '--stages', 'intent_bridge', '--for', '1s', '--prefix', prefix], { REDIS_URL: url(`viewer:${VIEW_PW}`) });
    expect(up.code).not.toBe(0);
    expect(up.stderr).toMatch(/NOPERM|permission/i);
    mustNotContain(up.stdout + up.stderr, 'read-only engine output');
  });

  it('never shows the API key, secret or Redis password: output, heartbeats, streams, keys, config show', async () => {
    await authServer();
    const prefix = uniquePrefix('secret');
    const env = {
      REDIS_URL: url(`:${PASSWORD}`), BINANCE_API_KEY: API_KEY, BINANCE_API_SECRET: API_SECRET, QT_LOG_LEVEL: 'debug',
      QT_MARKET_TICK_MS: '100', QT_SIGNAL_INTERVAL_MS: '300', QT_TRADER_COOLDOWN_MS: '300', QT_HEARTBEAT_MS: '300', QT_BLOCK_MS: '100',
    };
    const run = await qt(['up', '--for', '4s', '--prefix', prefix], env);
    expect(run.code, run.stderr).toBe(0);
    let all = run.stdout + run.stderr;
    for (const args of [['config', 'show'], ['config', 'show', '--json'], ['health', '--json'], ['diagnose', 'pipeline', '--json']]) {
      const o = await qt([...args, '--prefix', prefix], env);
      all += o.stdout + o.stderr;
    }
    // Everything the run left in Redis: every key of every type.
    const r = new Redis(server.port, '127.0.0.1', { password: PASSWORD });
    cleanup.push(() => void r.disconnect());
    const keys = await r.keys(`${prefix}:*`);
    expect(keys.length).toBeGreaterThan(5);
    for (const k of keys) {
      const t = await r.type(k);
      if (t === 'stream') all += JSON.stringify(await r.xrange(k, '-', '+'));
      else if (t === 'hash') all += JSON.stringify(await r.hgetall(k));
      else if (t === 'string') all += String(await r.get(k));
      else if (t === 'list') all += JSON.stringify(await r.lrange(k, 0, -1));
      else if (t === 'set') all += JSON.stringify(await r.smembers(k));
      else if (t === 'zset') all += JSON.stringify(await r.zrange(k, '0', '-1'));
    }
    expect(all.length).toBeGreaterThan(1000);
    expect(all).toContain('***'); // config show masks, rather than omits
    mustNotContain(all, 'the run');
  });

  it('refuses live trading without both --live and QT_LIVE_CONFIRM', async () => {
    const base = { REDIS_URL: 'redis://127.0.0.1:1', BINANCE_API_KEY: API_KEY, BINANCE_API_SECRET: API_SECRET };
    const a = await qt(['up', '--exchange', 'binance', '--live', '--for', '1s'], base);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('QT_LIVE_CONFIRM');
    expect(a.stderr).not.toMatch(/\bat .*\.js:\d+/);
    mustNotContain(a.stdout + a.stderr, 'live refusal');
    const b = await qt(['up', '--exchange', 'binance', '--live', '--for', '1s'], { ...base, QT_LIVE_CONFIRM: 'yes' });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('QT_LIVE_CONFIRM');
    const c = await qt(['up', '--exchange', 'binance', '--for', '1s'], { ...base, QT_BINANCE_MODE: 'live' });
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('--live');
  });

  it('runs over TLS (rediss://) with a self-signed certificate and REDIS_TLS_CA_FILE; refuses an unknown CA', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-tls-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const [key, cert] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    expect(gen.status).toBe(0);
    const port = await freePort();
    const p: ChildProcess = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
      '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no', '--requirepass', PASSWORD], { stdio: 'ignore' });
    cleanup.push(() => void p.kill('SIGKILL'));
    const tlsUrl = `rediss://:${PASSWORD}@127.0.0.1:${port}`;
    const r = new Redis(tlsUrl, { tls: { ca: (await import('node:fs')).readFileSync(cert), servername: 'localhost' }, maxRetriesPerRequest: null, retryStrategy: () => 100 });
    r.on('error', () => undefined);
    cleanup.push(() => void r.disconnect());
    await waitFor(async () => (await r.ping()) === 'PONG', 10000, 'TLS redis up');

    const prefix = uniquePrefix('tls');
    const ok = await qt(['up', '--stages', 'intent_bridge', '--for', '1s', '--prefix', prefix], { REDIS_URL: tlsUrl, REDIS_TLS_CA_FILE: cert });
    expect(ok.code, ok.stderr).toBe(0);
    expect((await r.hgetall(new Names({ prefix }).service('intent_bridge'))).status).toBe('stopping');
    mustNotContain(ok.stdout + ok.stderr, 'TLS run');
    // Without the CA the certificate is not trusted: one line, exit 3.
    const bad = await qt(['up', '--stages', 'intent_bridge', '--for', '1s', '--prefix', prefix], { REDIS_URL: tlsUrl });
    expect(bad.code).toBe(3);
    expect(bad.stderr.trim().split('\n'), bad.stderr).toHaveLength(1);
    mustNotContain(bad.stdout + bad.stderr, 'TLS refusal');
    // Plain redis:// to the TLS port does not work either.
    const plain = await qt(['health', '--prefix', prefix], { REDIS_URL: `redis://:${PASSWORD}@127.0.0.1:${port}` });
    expect(plain.code).toBe(3);
    mustNotContain(plain.stdout + plain.stderr, 'plain-to-TLS output');
  });
});
