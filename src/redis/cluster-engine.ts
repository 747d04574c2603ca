/**
 * The engine on a Redis Cluster (docs/redis-cluster.md). A stage commits its input's ack,
 * its outputs, state and metrics in one MULTI or script, which a cluster runs only when every
 * key is in one slot (else CROSSSLOT): the prefix must hold a hash tag (`{quantum}`), so the
 * whole pipeline lives in that tag's slot, on the one primary that serves it.
 *
 * The engine connects straight to that primary (plain connections: blocking reads, MULTI and
 * scripts behave exactly as on a single server), and a watch reads the slot map every few
 * seconds, from that primary or, when it does not answer, from the other nodes. When the slot
 * has moved (a failover promoted a replica, or the slot was resharded), the engine is stopped
 * with a non-zero exit so its supervisor (systemd `Restart=on-failure`) starts it again on
 * the new primary: every commit is atomic and an order's key is written before it is sent,
 * so a restart loses no acknowledged work and submits no order twice.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import { redactUrl } from '../config/redact.js';
import type { Names } from '../contract/names.js';
import { clusterEnginePlan, isClusterEnabled, keySlot, nodeConnection, nodeUrl, prefixHashTag, primaryOfSlot, readSlotMap, type SlotRange } from './cluster.js';
import { connectRedis, type ConnectOptions } from './connect.js';
import { UsageError } from '../errors.js';

export interface EnginePlacement {
  /** the configuration to run with: REDIS_URL pointed at the primary serving the pipeline's slot */
  config: Config;
  writer: Redis;
  /** set on a cluster: the slot, its primary, and every node known at start */
  cluster?: { slot: number; primary: string; nodes: string[] };
}

function nodeOfUrl(url: string): string {
  const u = new URL(url);
  return `${u.hostname.replace(/^\[|\]$/g, '')}:${u.port || 6379}`;
}

/**
 * On a cluster (`cluster_enabled:1`): checks the prefix (UsageError, one line, on a prefix
 * without a hash tag or a key leaving its slot) and moves the writer to the primary that
 * serves the pipeline's slot. On one server: returns what it was given.
 */
export async function placeEngine(config: Config, writer: Redis): Promise<EnginePlacement> {
  if (!(await isClusterEnabled(writer))) return { config, writer };
  const plan = await clusterEnginePlan(writer, config.names);
  const nodes = [...new Set((await readSlotMap(writer)).map((r) => r.primary))];
  if (nodeOfUrl(config.redisUrl) === plan.primary) return { config, writer, cluster: { slot: plan.slot, primary: plan.primary, nodes } };
  const url = nodeUrl(config.redisUrl, plan.primary);
  const moved = await connectRedis({ url, tls: config.redisTls, role: 'cli', name: 'qt:engine' });
  await writer.quit().catch(() => writer.disconnect());
  return { config: { ...config, redisUrl: url }, writer: moved, cluster: { slot: plan.slot, primary: plan.primary, nodes } };
}

/**
 * Reads the slot map every `everyMs` and resolves `moved` with one line once the pipeline's
 * slot is served by another primary than the one the engine runs on. A node that does not
 * answer is skipped; when none answers, nothing is concluded (the engine's own connections
 * keep retrying, and the link monitor logs it).
 */
export class SlotWatch {
  readonly moved: Promise<string>;
  private timer: NodeJS.Timeout | undefined;
  private resolve!: (why: string) => void;
  private nodes: string[];

  constructor(private readonly url: string, private readonly tls: Config['redisTls'], private readonly slot: number, private readonly primary: string, nodes: string[], private readonly everyMs = 3000) {
    this.nodes = [primary, ...nodes.filter((n) => n !== primary)];
    this.moved = new Promise((r) => (this.resolve = r));
  }

  start(): void {
    const tick = async () => {
      const owner = await this.owner();
      if (owner && owner !== this.primary) {
        this.resolve(`the pipeline's slot ${this.slot} moved from ${this.primary} to ${owner} (failover or resharding): stopping so the supervisor starts the engine again on ${owner}`);
        return;
      }
      this.timer = setTimeout(() => void tick(), this.everyMs);
      this.timer.unref();
    };
    this.timer = setTimeout(() => void tick(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** The primary serving the slot per the first node that answers, or null. */
  private async owner(): Promise<string | null> {
    for (const n of this.nodes) {
      const r = nodeConnection(this.url, n, { tls: this.tls, name: 'qt:slot-watch' });
      try {
        await r.connect();
        const map: SlotRange[] = await readSlotMap(r);
        const owner = primaryOfSlot(map, this.slot);
        for (const x of map) if (!this.nodes.includes(x.primary)) this.nodes.push(x.primary);
        if (owner) return owner;
      } catch {
        // this node does not answer: ask the next
      } finally {
        r.disconnect();
      }
    }
    return null;
  }
}

/** The log line of an engine placed on a cluster. */
export function placementLine(p: EnginePlacement): string {
  return p.cluster ? `Redis Cluster: the pipeline's keys share slot ${p.cluster.slot}, served by ${p.cluster.primary}; the engine runs there (${redactUrl(p.config.redisUrl)})` : '';
}

/**
 * A command's connection for the pipeline's keys (kill switch, policy, close, trace): on one
 * server, that server; on a cluster with a hash-tagged prefix, the primary serving the
 * prefix's slot (so a MULTI over the pipeline's keys runs there). Throws UnavailableError as
 * connectRedis does, and UsageError (one line) on a cluster with a prefix without a hash tag:
 * those commands write several of the pipeline's keys in one transaction, which a cluster
 * refuses across slots (CROSSSLOT; REDIS-STREAMS-FACTS.md, "Clusters").
 */
export async function connectPipelineRedis(o: ConnectOptions & { names: Names }): Promise<Redis> {
  const r = await connectRedis(o);
  const tag = prefixHashTag(o.names.prefix);
  if (tag === null) {
    let cluster = false;
    try {
      cluster = await isClusterEnabled(r);
    } catch (e) {
      r.disconnect();
      throw e;
    }
    if (!cluster) return r;
    r.disconnect();
    const what = (o.name ?? 'qt').replace(/^qt:/, 'qt ');
    throw new UsageError(`${what}: QT_PREFIX=${o.names.prefix} has no hash tag and Redis at REDIS_URL is a cluster, so this pipeline's keys lie in several slots and cannot be written in one transaction; only the read-only tools (qt health, qt diagnose, qt tui, qt cleanup) work on such a prefix — see docs/redis-cluster.md`);
  }
  if (!(await isClusterEnabled(r))) return r;
  try {
    const owner = primaryOfSlot(await readSlotMap(r), keySlot(o.names.registry()));
    if (!owner || owner === nodeOfUrl(o.url)) return r;
    const moved = await connectRedis({ ...o, url: nodeUrl(o.url, owner) });
    await r.quit().catch(() => r.disconnect());
    return moved;
  } catch (e) {
    r.disconnect();
    throw e;
  }
}
