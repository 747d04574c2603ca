/**
 * For the README's main job on a fresh machine: when no Redis answers at REDIS_URL and
 * `redis-server` is installed, start a private one (loopback only, data under `.qt/`)
 * for the life of this process, and say so. When there is none, name the one command
 * that installs it (exit 3). Only in PAPER mode: with real orders (DEMO, LIVE) the
 * engine's order keys, positions and groups must live in the deployment's Redis, so a
 * start there is refused instead (`refuseFor`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Socket } from 'node:net';
import { redactUrl } from '../config/redact.js';
import type { Mode } from '../contract/codes.js';
import { UnavailableError } from '../errors.js';
import { isSentinelUrl } from '../redis/sentinel.js';

export const PRIVATE_PORT = 6390;

function answers(host: string, port: number, ms = 700): Promise<boolean> {
  return new Promise((res) => {
    const s = new Socket();
    const done = (v: boolean) => {
      s.destroy();
      res(v);
    };
    s.setTimeout(ms, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => {
      s.write('PING\r\n');
      s.once('data', (d) => done(/^(\+PONG|-NOAUTH|-ERR)/.test(d.toString())));
    });
  });
}

export interface PrivateRedis {
  url: string;
  started: boolean;
  stop(): Promise<void>;
}

/** Why a private Redis is refused in `mode` (null in PAPER, where it is allowed). */
export function privateRedisRefusal(url: string, mode: Mode): string | null {
  if (mode === 'PAPER') return null;
  return `no Redis answers at ${redactUrl(url)}, and qt up --console starts a private Redis only in PAPER mode: in ${mode} mode the orders, ` +
    'positions and consumer groups must live in the deployment\'s Redis (a private one would not know them and could submit an order twice); start that Redis or fix REDIS_URL';
}

/** The loud notice of a PAPER engine on a private Redis (lines for stderr and the engine log). */
export function privateRedisNotice(requested: string, r: PrivateRedis): string[] {
  const bar = '!'.repeat(78);
  return [
    bar,
    `WARNING: no Redis answered at ${redactUrl(requested)}.`,
    r.started
      ? `This PAPER engine runs on a PRIVATE redis-server it just started: ${r.url} (data in .qt/redis).`
      : `This PAPER engine runs on the PRIVATE redis-server already on ${r.url} (data in .qt/redis).`,
    `It is not your deployment's Redis: other qt commands see it only with REDIS_URL=${r.url}`,
    bar,
  ];
}

/**
 * Returns the URL to use: REDIS_URL when something answers there, else a private server.
 * Throws UnavailableError (exit 3) with `refuseFor`'s reason instead of using or starting
 * a private server when one is not allowed (see privateRedisRefusal).
 */
export async function ensureRedis(url: string, projectDir = process.cwd(), refuseFor: string | null = null): Promise<PrivateRedis> {
  // Through Redis Sentinel: the deployment's Redis by definition, never a private one (the connection says if it is unreachable).
  if (isSentinelUrl(url)) return { url, started: false, stop: async () => undefined };
  const u = new URL(url);
  const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname;
  const port = Number(u.port || 6379);
  if (await answers(host, port)) return { url, started: false, stop: async () => undefined };
  if (refuseFor) throw new UnavailableError(refuseFor);
  const privUrl = `redis://127.0.0.1:${PRIVATE_PORT}`;
  if (await answers('127.0.0.1', PRIVATE_PORT)) return { url: privUrl, started: false, stop: async () => undefined };
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    throw new UnavailableError(`no Redis answers at ${u.host} and redis-server is not installed: install it with "sudo apt-get install -y redis-server"`);
  }
  const dir = resolve(projectDir, '.qt', 'redis');
  mkdirSync(dir, { recursive: true });
  const proc: ChildProcess = spawn('redis-server', [
    '--port', String(PRIVATE_PORT), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--dir', dir,
    '--appendonly', 'yes', '--save', '', '--maxmemory-policy', 'noeviction', '--logfile', 'redis.log',
  ], { stdio: 'ignore' });
  const until = Date.now() + 5000;
  while (!(await answers('127.0.0.1', PRIVATE_PORT))) {
    if (proc.exitCode !== null || Date.now() > until) {
      throw new UnavailableError(`could not start a private redis-server on 127.0.0.1:${PRIVATE_PORT} (see ${dir}/redis.log)`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const kill = () => proc.kill('SIGTERM');
  process.once('exit', kill);
  return {
    url: privUrl,
    started: true,
    stop: () =>
      new Promise<void>((res) => {
        process.removeListener('exit', kill);
        if (proc.exitCode !== null) return res();
        proc.once('exit', () => res());
        proc.kill('SIGTERM');
      }),
  };
}
