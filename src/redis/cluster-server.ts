/**
 * A real 3-primary Redis Cluster on free loopback ports for the cluster tests and the shards
 * benchmark: three
 * `redis-server --cluster-enabled yes` (no persistence), joined by
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, ready once every node's
 * `CLUSTER INFO` says `cluster_state:ok` (https://redis.io/docs/latest/operate/oss_and_stack/management/scaling/).
 * `stop()` ends the servers it started (by their pids) and removes their directory.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './server.js';

const run = promisify(execFile);

export interface ClusterNode {
  host: string;
  port: number;
}

export interface RedisClusterHandle {
  nodes: ClusterNode[];
  /** `redis://127.0.0.1:{port of the first node}`: one node, as a deployment's REDIS_URL names it */
  url: string;
  dir: string;
  /** ends one node with SIGKILL (a node down); the others keep running */
  killNode(port: number): Promise<void>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

async function ping(port: number): Promise<boolean> {
  const r = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function clusterInfo(port: number): Promise<string> {
  const r = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return String(await r.call('CLUSTER', 'INFO'));
  } catch {
    return '';
  } finally {
    r.disconnect();
  }
}

/** Polls `cond` every 50 ms until true, or throws naming `what` after `ms`. */
async function until(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis cluster: timed out after ${ms} ms waiting for ${what}`);
}

/** Starts the 3-primary cluster; throws (naming the step) when a server or the create fails. */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'qt-cluster-'));
  const ports: number[] = [];
  while (ports.length < 3) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const procs = new Map<number, ChildProcess>();
  for (const port of ports) {
    const p = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
      // a node down is seen as failed within 2 s (default 15 s), so the down-node test does not wait long
      '--cluster-node-timeout', '2000',
      '--save', '', '--appendonly', 'no',
    ], { stdio: 'ignore' });
    live.add(p);
    p.once('exit', () => live.delete(p));
    procs.set(port, p);
  }
  const stopProc = async (p: ChildProcess, sig: NodeJS.Signals) => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(sig);
    });
  };
  const handle: RedisClusterHandle = {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    url: `redis://127.0.0.1:${ports[0]}`,
    dir,
    async killNode(port) {
      const p = procs.get(port);
      if (p) await stopProc(p, 'SIGKILL');
    },
    async stop() {
      await Promise.all([...procs.values()].map((p) => stopProc(p, 'SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const port of ports) await until(() => ping(port), 10000, `redis-server on ${port}`);
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30000 });
    for (const port of ports) await until(async () => /cluster_state:ok/.test(await clusterInfo(port)), 30000, `cluster_state:ok on ${port}`);
  } catch (e) {
    await handle.stop();
    throw e;
  }
  return handle;
}
