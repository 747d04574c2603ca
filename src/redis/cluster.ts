/**
 * Redis Cluster: discovery (`INFO cluster` → `cluster_enabled:1`), key slots and hash tags,
 * the slot map (`CLUSTER SLOTS`), the ioredis Cluster client for tools, and the engine's
 * rule that a pipeline lives in one slot.
 *
 * The rules implemented here are the Redis Cluster specification's
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/): 16384 slots,
 * `HASH_SLOT = CRC16(key) mod 16384` with CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0);
 * a key's hash tag is what lies between its first `{` and the first `}` after it, when that is
 * not empty, and only the tag is hashed; multi-key commands, MULTI and scripts must keep their
 * keys in one slot (else CROSSSLOT); SCAN walks one node only.
 */
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { STREAMS, type Names } from '../contract/names.js';
import { redactUrl } from '../config/redact.js';
import { UnavailableError, UsageError } from '../errors.js';
import { describeRedisError, redisOptions, type ConnectOptions } from './connect.js';
import calculateSlot from 'cluster-key-slot';

/** Slots of a Redis Cluster (cluster spec: 16384). */
export const CLUSTER_SLOTS = 16384;

/**
 * The hash tag of a key (the part Redis hashes), or null when the key has none: the bytes
 * between the first `{` and the first `}` after it, when there is at least one (cluster spec,
 * "Hash tags").
 */
export function hashTagOf(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return null;
  return key.slice(open + 1, close);
}

/**
 * The slot (0..16383) of a key, as `CLUSTER KEYSLOT` computes it (CRC16 of the hash tag or
 * the key, mod 16384): `cluster-key-slot`, the function ioredis's Cluster client routes with,
 * so our check and the client's routing cannot disagree.
 */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

/**
 * The hash tag that a prefix fixes for every key built on it (`{quantum}` → `quantum`,
 * `qt-{eu}` → `eu`), or null when keys under the prefix may land in any slot (`quantum`,
 * `{}x`, `{quantum` whose `}` would come from the rest of the key).
 */
export function prefixHashTag(prefix: string): string | null {
  const open = prefix.indexOf('{');
  if (open < 0) return null;
  const close = prefix.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return null;
  return prefix.slice(open + 1, close);
}

/** The line that refuses an engine start on a cluster with an untagged prefix (UsageError). */
export function untaggedPrefixMessage(prefix: string): string {
  const tag = prefix.replace(/[{}]/g, '') || 'quantum';
  return `QT_PREFIX=${prefix} has no hash tag, and Redis at REDIS_URL is a cluster: the engine commits each message with its stream, state and metrics keys in one transaction, which a cluster allows only within one slot; set QT_PREFIX={${tag}} (every key then starts with {${tag}}: and shares one slot) — see docs/redis-cluster.md`;
}

/**
 * Every kind of key the engine builds (Names), with sample arguments: the keys a stage's
 * transaction or script may touch together. Streams include configured overrides (a full
 * key given in QT_STREAM_* may leave the prefix).
 */
export function engineKeySamples(names: Names): string[] {
  return [
    ...STREAMS.map((s) => names.stream(s)),
    names.extraStream('x'),
    names.position('BTCUSDT'), names.ledger('BTCUSDT'), names.snapshot('BTCUSDT'),
    names.service('intent_executor'), names.registry(),
    names.metrics('intent_executor', 29_000_000),
    names.policy(), names.killSwitch(), names.price('BTCUSDT'), names.order('qt-1'), names.lease('market'),
    names.permit('p-1'), names.paperAccount(), names.paperPosition('BTCUSDT'), names.paperOrder('qt-1'), names.paperOrderLog(),
    names.exitState('BTCUSDT'), names.dailyPnl('2026-01-01'), names.rlState(), names.replayReport(), names.candles('BTCUSDT'),
    names.exchangeLimits(), names.exchangeResync(),
  ];
}
/** Keys the engine would build outside the prefix's slot (empty when the pipeline is one slot). */
export function keysOutsideSlot(names: Names): { key: string; slot: number }[] {
  const want = keySlot(names.registry());
  return engineKeySamples(names).map((key) => ({ key, slot: keySlot(key) })).filter((k) => k.slot !== want);
}

/** `cluster_enabled:1` in `INFO cluster` (a server without the section is not a cluster). */
export async function isClusterEnabled(r: Redis): Promise<boolean> {
  try {
    const info = await r.info('cluster');
    return /cluster_enabled:1/.test(info);
  } catch {
    return false; // INFO denied or renamed: treated as a single server, as before
  }
}

export interface SlotRange {
  from: number;
  to: number;
  /** the primary serving the range: `host:port` */
  primary: string;
}

/** `CLUSTER SLOTS` as ranges with their primary (`host:port`), sorted by first slot. */
export function parseClusterSlots(reply: unknown): SlotRange[] {
  if (!Array.isArray(reply)) return [];
  const out: SlotRange[] = [];
  for (const row of reply as unknown[][]) {
    const master = row[2] as unknown[] | undefined;
    if (!Array.isArray(master)) continue;
    out.push({ from: Number(row[0]), to: Number(row[1]), primary: `${String(master[0])}:${Number(master[1])}` });
  }
  return out.sort((a, b) => a.from - b.from);
}

/** Slots no range covers (a cluster missing some is `cluster_state:fail` by default). */
export function uncoveredSlots(ranges: SlotRange[]): number {
  let covered = 0;
  for (const r of ranges) covered += r.to - r.from + 1;
  return Math.max(0, CLUSTER_SLOTS - covered);
}

/** The primary (`host:port`) serving a slot in a slot map, or null. */
export function primaryOfSlot(ranges: SlotRange[], slot: number): string | null {
  return ranges.find((r) => slot >= r.from && slot <= r.to)?.primary ?? null;
}

function credentials(url: string): { username?: string; password?: string } {
  const u = new URL(url);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/**
 * The ioredis Cluster client seeded with the URL's node. Every node gets the URL's
 * credentials and TLS settings; a TLS cluster keeps the host names the nodes announce
 * (dnsLookup as is, for certificate checks). 'cli': fails fast, never reconnects; 'worker':
 * reconnects and follows MOVED/ASK redirections and failovers forever.
 */
export function clusterClient(o: ConnectOptions): Cluster {
  const u = new URL(o.url);
  const node = { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) };
  const base = redisOptions(o);
  const options: ClusterOptions = {
    lazyConnect: true,
    // commands routed to one node go out together (one round trip per node, not per key)
    enableAutoPipelining: true,
    redisOptions: { ...base, ...credentials(o.url), lazyConnect: false, enableAutoPipelining: false },
    slotsRefreshTimeout: o.role === 'cli' ? 2000 : 5000,
    maxRedirections: 16,
    ...(u.protocol === 'rediss:' ? { dnsLookup: (address: string, cb: (err: Error | null, a: string) => void) => cb(null, address) } : {}),
  };
  if (o.role === 'cli') {
    // A tool must read a cluster whose state is fail (a node down): with the ready check,
    // ioredis drops the connection on `cluster_state:fail` and its connect() never settles.
    // Without it, keys of the failed part answer CLUSTERDOWN, which the tools report as unknown.
    options.enableReadyCheck = false;
    options.clusterRetryStrategy = () => null;
    options.retryDelayOnClusterDown = 100;
    options.retryDelayOnFailover = 100;
  }
  return new Cluster([node], options);
}

/**
 * Opens a Cluster client for a command (fails fast); throws UnavailableError naming the
 * redacted URL when the slot map cannot be read.
 */
export async function connectCluster(o: Omit<ConnectOptions, 'role'>): Promise<Cluster> {
  const c = clusterClient({ ...o, role: 'cli' });
  let last: Error | undefined;
  c.on('error', (e: Error) => {
    last = e;
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out reading the slot map')), (o.connectTimeoutMs ?? 2000) + 3000);
  });
  try {
    await Promise.race([c.connect(), deadline]);
  } catch (e) {
    c.disconnect();
    throw new UnavailableError(`cannot reach the Redis cluster at ${redactUrl(o.url)}: ${describeRedisError(last ?? (e as Error))}`);
  } finally {
    clearTimeout(timer);
  }
  return c;
}

/**
 * A direct connection to one node (`host:port`) with the URL's credentials and TLS: SCAN and
 * INFO, which a cluster answers per node, go there.
 */
export function nodeConnection(url: string, node: string, o: { tls?: ConnectOptions['tls']; name?: string } = {}): Redis {
  const u = nodeUrl(url, node);
  const r = new Redis(u, { ...redisOptions({ url: u, tls: o.tls, role: 'cli', name: o.name }), lazyConnect: true });
  r.on('error', () => undefined);
  return r;
}

/** The URL of one node (`host:port`) with the credentials and scheme of `url`. */
export function nodeUrl(url: string, node: string): string {
  const at = node.lastIndexOf(':');
  const host = node.slice(0, at);
  const u = new URL(url);
  u.hostname = host.includes(':') ? `[${host}]` : host;
  u.port = node.slice(at + 1);
  u.pathname = '';
  return u.toString().replace(/\/$/, '');
}

/** Reads the slot map through one connection (`CLUSTER SLOTS`). */
export async function readSlotMap(r: Redis | Cluster): Promise<SlotRange[]> {
  return parseClusterSlots(await r.call('CLUSTER', 'SLOTS'));
}

/**
 * The engine on a cluster (docs/redis-cluster.md): checks that the prefix holds a hash tag
 * and that every key the engine builds lands in its slot, then names the primary serving
 * that slot. Throws UsageError (one line) on an untagged prefix or a stream override that
 * leaves the slot, UnavailableError when no primary serves the slot.
 */
export async function clusterEnginePlan(r: Redis, names: Names): Promise<{ slot: number; primary: string; tag: string }> {
  const tag = prefixHashTag(names.prefix);
  if (tag === null) throw new UsageError(untaggedPrefixMessage(names.prefix));
  const off = keysOutsideSlot(names);
  if (off.length) {
    throw new UsageError(`on a cluster every key of the pipeline must share the slot of {${tag}}: ${off.map((k) => k.key).slice(0, 3).join(', ')} would not (a QT_STREAM_* override naming a full key? give it a bare name, or a key holding {${tag}})`);
  }
  const slot = keySlot(names.registry());
  const map = await readSlotMap(r);
  const primary = primaryOfSlot(map, slot);
  if (!primary) throw new UnavailableError(`the Redis cluster serves no slot ${slot} (the slot of {${tag}}): cluster_state is not ok; check CLUSTER INFO`);
  return { slot, primary, tag };
}

/**
 * A cluster as the read-only tools see it: the Cluster client (single-key commands go to the
 * node that owns the key, following MOVED/ASK), the slot map read at open, and one direct
 * connection per primary for what a cluster answers per node (SCAN, INFO). Nodes are named
 * `host:port` as the cluster announces them.
 */
export class ClusterView {
  private readonly conns = new Map<string, Redis>();
  constructor(
    readonly client: Cluster,
    readonly ranges: SlotRange[],
    private readonly url: string,
    private readonly tls?: ConnectOptions['tls'],
  ) {}

  /** Every primary serving slots, in slot order (each once). */
  get primaries(): string[] {
    return [...new Set(this.ranges.map((r) => r.primary))];
  }
  /** Slots each primary serves. */
  slotsOf(node: string): number {
    return this.ranges.filter((r) => r.primary === node).reduce((n, r) => n + r.to - r.from + 1, 0);
  }
  /** The primary (`host:port`) that serves a key's slot, per the slot map read at open. */
  nodeOf(key: string): string | null {
    return primaryOfSlot(this.ranges, keySlot(key));
  }
  /** A direct connection to one node (opened on first use, closed by close()). */
  node(node: string): Redis {
    let r = this.conns.get(node);
    if (!r) {
      r = nodeConnection(this.url, node, { tls: this.tls, name: 'qt:cluster-node' });
      this.conns.set(node, r);
    }
    return r;
  }
  async close(): Promise<void> {
    await Promise.all([...this.conns.values()].map((r) => r.quit().catch(() => r.disconnect())));
    this.conns.clear();
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

/**
 * Opens the tools' view of a cluster from one node's URL: the Cluster client and the slot
 * map. Throws UnavailableError (one line, URL redacted) when the cluster cannot be reached.
 */
export async function openClusterView(o: Omit<ConnectOptions, 'role'>): Promise<ClusterView> {
  const client = await connectCluster(o);
  try {
    const ranges = await readSlotMap(client);
    return new ClusterView(client, ranges, o.url, o.tls);
  } catch (e) {
    client.disconnect();
    throw new UnavailableError(`cannot read the slot map of the Redis cluster at ${redactUrl(o.url)}: ${describeRedisError(e as Error)}`);
  }
}

/** An error that means a node (or the cluster) could not be read, rather than a refused command. */
export function isClusterUnreachable(e: Error): boolean {
  return /CLUSTERDOWN|MOVED|ASK |TRYAGAIN|Too many Cluster redirections|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|Failed to refresh slots cache|None of startup nodes is available|Cluster isn't ready|Stream isn't writeable|enableOfflineQueue|max retries per request/i.test(e.message);
}
