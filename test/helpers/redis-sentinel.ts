/**
 * A real Redis Sentinel deployment on loopback for tests: one primary, one replica and
 * three sentinels (quorum 2), each a redis-server process on a free port, no persistence.
 * The sentinels run as `redis-server <conf> --sentinel` (what the `redis-sentinel` binary
 * is: https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/, "Running
 * Sentinel"); each has its own writable conf file, which Sentinel rewrites with what it
 * learns (replicas, other sentinels, the new primary after a failover).
 * `down-after-milliseconds 1000` and `failover-timeout 5000` keep a failover short.
 *
 * The killed primary must not come back empty while it is still the primary (Redis docs,
 * "Safety of replication when master has persistence turned off": its replica would copy
 * the empty data set): `restart` starts it again only after the sentinels name another.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.js';

export interface SentinelNode {
  port: number;
  proc: ChildProcess;
  args: string[];
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

function launch(args: string[]): ChildProcess {
  const p = spawn('redis-server', args, { stdio: 'ignore' });
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

async function answers(port: number, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const r = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') return;
    } catch {
      /* not yet */
    } finally {
      r.disconnect();
    }
    if (Date.now() > until) throw new Error(`redis-server on port ${port} did not answer within ${ms} ms`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

export class SentinelDeployment {
  readonly masterName = 'mymaster';
  /** `nodes[0]` started as the primary, `nodes[1]` as its replica; roles change on failover. */
  readonly nodes: SentinelNode[] = [];
  readonly sentinels: SentinelNode[] = [];
  private readonly admin = new Map<number, Redis>();

  private constructor(readonly dir: string) {}

  /** Starts the primary, the replica, and three sentinels; resolves once the sentinels see the replica and each other. */
  static async start(o: { downAfterMs?: number; failoverTimeoutMs?: number } = {}): Promise<SentinelDeployment> {
    const d = new SentinelDeployment(mkdtempSync(join(tmpdir(), 'qt-sentinel-')));
    const pPort = await freePort();
    const rPort = await freePort();
    // repl-diskless-sync-delay 0: a replica's full sync starts at once (the default waits 5 s for more replicas).
    const base = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', d.dir, '--dbfilename', `dump-${port}.rdb`, '--repl-diskless-sync-delay', '0'];
    const pArgs = base(pPort);
    d.nodes.push({ port: pPort, proc: launch(pArgs), args: pArgs });
    await answers(pPort);
    const rArgs = [...base(rPort), '--replicaof', '127.0.0.1', String(pPort)];
    d.nodes.push({ port: rPort, proc: launch(rArgs), args: rArgs });
    await answers(rPort);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(d.dir, `sentinel-${port}.conf`);
      writeFileSync(conf, [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${d.dir}`,
        `sentinel monitor ${d.masterName} 127.0.0.1 ${pPort} 2`,
        `sentinel down-after-milliseconds ${d.masterName} ${o.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${d.masterName} ${o.failoverTimeoutMs ?? 5000}`,
        `sentinel parallel-syncs ${d.masterName} 1`,
        '',
      ].join('\n'));
      const args = [conf, '--sentinel'];
      d.sentinels.push({ port, proc: launch(args), args });
      await answers(port);
    }
    // Ready: the replica is in sync, and every sentinel knows the replica and the two other sentinels.
    await d.until(async () => {
      const info = await d.client(rPort).info('replication');
      return /master_link_status:up/.test(info);
    }, 'the replica in sync with the primary');
    await d.until(async () => {
      for (const s of d.sentinels) {
        const c = d.client(s.port);
        const m = (await c.call('SENTINEL', 'MASTER', d.masterName)) as string[];
        const f = fields(m);
        if (Number(f['num-slaves']) < 1 || Number(f['num-other-sentinels']) < 2) return false;
      }
      return true;
    }, 'the sentinels to discover the replica and each other');
    return d;
  }

  /** `redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mymaster` (db appended when given). */
  url(db = 0): string {
    return `redis+sentinel://${this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${this.masterName}${db ? `/${db}` : ''}`;
  }

  /** `127.0.0.1:S1,…` for QT_REDIS_SENTINELS. */
  sentinelList(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  /** A plain connection to one port (admin use: INFO, SENTINEL). */
  client(port: number): Redis {
    let r = this.admin.get(port);
    if (!r) {
      r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 100, lazyConnect: false });
      r.on('error', () => undefined);
      this.admin.set(port, r);
    }
    return r;
  }

  /** The port the first sentinel that answers names as the primary. */
  async masterPort(): Promise<number> {
    for (const s of this.sentinels) {
      try {
        const a = (await this.client(s.port).call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName)) as [string, string] | null;
        if (a) return Number(a[1]);
      } catch {
        /* the next one */
      }
    }
    throw new Error('no sentinel named a primary');
  }

  node(port: number): SentinelNode {
    const n = this.nodes.find((x) => x.port === port);
    if (!n) throw new Error(`no node on port ${port}`);
    return n;
  }

  /** SIGKILLs the node on `port`; resolves when the process is gone. */
  async kill(port: number): Promise<void> {
    const n = this.node(port);
    if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
    await new Promise<void>((res) => {
      n.proc.once('exit', () => res());
      n.proc.kill('SIGKILL');
    });
  }

  /**
   * Cuts the replica on `replicaPort` off its primary: SIGSTOP (it cannot reconnect), then
   * the primary drops its replication link (`CLIENT KILL TYPE replica`). From here on the
   * primary acknowledges writes the replica never receives, as across a network partition
   * (the case of Sentinel's documented data loss). `resume` SIGCONTs it.
   */
  async cutReplica(replicaPort: number, primaryPort: number): Promise<void> {
    this.node(replicaPort).proc.kill('SIGSTOP');
    await this.client(primaryPort).call('CLIENT', 'KILL', 'TYPE', 'replica');
  }

  resume(port: number): void {
    this.node(port).proc.kill('SIGCONT');
  }

  /**
   * Starts a killed node again, empty: refuses while the sentinels still name it the
   * primary. With `replicaOf` (the current primary's port) it starts as that one's replica,
   * as an operator would start it; without, as a primary, and the sentinels then make it a
   * replica (Sentinel's `+convert-to-slave`, ~10 s later). Resolves when it is an in-sync replica.
   */
  async restart(port: number, replicaOf?: number): Promise<void> {
    if ((await this.masterPort()) === port) throw new Error(`port ${port} is still the primary for the sentinels: restarting it empty would wipe its replica`);
    const n = this.node(port);
    const i = n.args.indexOf('--replicaof');
    if (i >= 0) n.args.splice(i, 3);
    if (replicaOf !== undefined) n.args.push('--replicaof', '127.0.0.1', String(replicaOf));
    n.proc = launch(n.args);
    await answers(port);
    await this.until(async () => /role:slave[\s\S]*master_link_status:up/.test(await this.client(port).info('replication')), `port ${port} to become an in-sync replica`);
  }

  private async until(cond: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    let last: unknown;
    for (;;) {
      try {
        if (await cond()) return;
      } catch (e) {
        last = e;
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits (polling every 50 ms, at most `ms`) until the sentinels name a primary other than `port`; returns its port. */
  async awaitFailoverFrom(port: number, ms = 60_000): Promise<number> {
    let now = port;
    await this.until(async () => (now = await this.masterPort()) !== port, `the sentinels to promote a replica in place of port ${port}`, ms);
    return now;
  }

  async stop(): Promise<void> {
    for (const r of this.admin.values()) r.disconnect();
    this.admin.clear();
    for (const n of [...this.sentinels, ...this.nodes]) {
      if (n.proc.exitCode === null && n.proc.signalCode === null) {
        await new Promise<void>((res) => {
          n.proc.once('exit', () => res());
          n.proc.kill('SIGKILL');
        });
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A flat [k, v, …] reply as a map. */
function fields(flat: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
  return o;
}
