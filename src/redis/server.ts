/**
 * Starts a private redis-server from PATH on a free loopback port (no persistence
 * unless asked), and stops it by its pid. Used by the test global setup, tests that
 * must stop and restart their own server, and the benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  port?: number;
  appendonly?: boolean;
  dir?: string;
  extraArgs?: string[];
}

export interface RedisServerHandle {
  port: number;
  url: string;
  dir: string;
  proc: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<void>;
}

async function waitReady(port: number, ms = 10000): Promise<void> {
  const { Socket } = await import('node:net');
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const okay = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1', () => {
        s.write('PING\r\n');
        s.once('data', (d) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
      });
    });
    if (okay) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not become ready`);
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export async function startRedisServer(o: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const port = o.port ?? (await freePort());
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'qt-redis-'));
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
    '--appendonly', o.appendonly ? 'yes' : 'no', '--appendfsync', 'always',
    ...(o.extraArgs ?? []),
  ];
  const launch = () => {
    const p = spawn('redis-server', args, { stdio: 'ignore' });
    live.add(p);
    p.once('exit', () => live.delete(p));
    return p;
  };
  const h: RedisServerHandle = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    proc: launch(),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const p = h.proc;
      if (p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill(signal);
      });
    },
    async restart() {
      await h.stop('SIGKILL');
      h.proc = launch();
      await waitReady(port);
    },
  };
  await waitReady(port);
  return h;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
