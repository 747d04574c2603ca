/**
 * Redis connections for the whole program. CLI commands fail fast; blocking readers
 * wait for Redis forever (maxRetriesPerRequest: null) and reconnect by themselves.
 * The URL shown anywhere has its password redacted.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from '../config/redact.js';
import { UnavailableError } from '../errors.js';
import { describeSentinelTarget, isSentinelUrl, parseSentinelUrl, sentinelOptions } from './sentinel.js';

export interface ConnectOptions {
  url: string;
  tls?: { caFile?: string; insecure?: boolean };
  /** 'cli': fail fast; 'worker': retry forever (blocking readers and stage writers). */
  role: 'cli' | 'worker';
  name?: string;
  connectTimeoutMs?: number;
}

/**
 * The ioredis options of a connection. A `redis+sentinel://` URL (sentinel.ts) adds the
 * sentinels and the master name: the connection asks them for the primary at every
 * (re)connect, so it follows a failover. Workers also reconnect on READONLY (a primary
 * demoted to a replica while our connection stayed open, https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/)
 * and LOADING errors.
 */
export function redisOptions(o: ConnectOptions): RedisOptions {
  const sentinel = isSentinelUrl(o.url) ? parseSentinelUrl(o.url) : undefined;
  const opts: RedisOptions = {
    lazyConnect: true,
    connectionName: o.name,
    enableAutoPipelining: false,
    connectTimeout: o.connectTimeoutMs ?? (o.role === 'cli' ? 2000 : 5000),
  };
  if (sentinel) {
    const tls = sentinel.tls
      ? { rejectUnauthorized: !o.tls?.insecure, ...(o.tls?.caFile ? { ca: readFileSync(o.tls.caFile) } : {}) }
      : undefined;
    Object.assign(opts, sentinelOptions(sentinel, { failFast: o.role === 'cli', tls }));
  } else {
    const u = new URL(o.url);
    if (u.protocol === 'rediss:') {
      opts.tls = {
        // SNI takes a host name only: an IP there prints Node's DEP0123 warning on every start.
        ...(isIP(u.hostname.replace(/^\[|\]$/g, '')) ? {} : { servername: u.hostname }),
        rejectUnauthorized: !o.tls?.insecure,
        ...(o.tls?.caFile ? { ca: readFileSync(o.tls.caFile) } : {}),
      };
    }
  }
  if (o.role === 'cli') {
    opts.maxRetriesPerRequest = 1;
    opts.retryStrategy = () => null;
    opts.enableOfflineQueue = true;
  } else {
    opts.maxRetriesPerRequest = null;
    opts.retryStrategy = (times) => Math.min(100 * 2 ** Math.min(times, 6), 3000);
    opts.reconnectOnError = reconnectOnError;
  }
  return opts;
}

/**
 * A reply that says this node is no longer the primary (READONLY: demoted by a failover,
 * the connection kept) or not ready (LOADING): reconnect, which asks the sentinels again.
 * The failed command is not resent (1, not 2): the caller sees it fail and retries it.
 */
export function reconnectOnError(err: Error): boolean {
  return /READONLY|LOADING/.test(err.message);
}

/**
 * A client for `url` with these options (from redisOptions): a plain `redis://` /
 * `rediss://` URL is given to ioredis as is, a sentinel URL through its options.
 */
export function newRedis(url: string, opts: RedisOptions): Redis {
  return isSentinelUrl(url) ? new Redis(opts) : new Redis(url, opts);
}

/**
 * For a connection opened with `autoResendUnfulfilledCommands: false`: ioredis then drops
 * the commands that were sent and unanswered when the connection closed, without settling
 * their promises (ioredis 6, redis/event_handler.js: `prevCommandQueue = null` on ready), so
 * whoever awaits one waits forever. This rejects them instead, as soon as ioredis starts
 * reconnecting, with "Connection is closed (…not resent)". A caller then knows its command
 * may or may not have been applied, which is what the no-resend setting is for.
 */
export function failUnfulfilledOnReconnect(r: Redis): Redis {
  type Queued = { command: { reject(e: Error): void } };
  const internals = r as unknown as { prevCommandQueue?: { length: number; shift(): Queued | undefined } | null };
  r.on('reconnecting', () => {
    const q = internals.prevCommandQueue;
    if (!q) return;
    internals.prevCommandQueue = null;
    for (let item = q.shift(); item; item = q.shift()) item.command.reject(new Error('Connection is closed (the command was in flight and is not resent; it may or may not have been applied)'));
  });
  return r;
}

/** Where a URL points, for messages: the redacted URL, or `master X via sentinels …`. */
export function describeRedisTarget(url: string): string {
  if (!isSentinelUrl(url)) return redactUrl(url);
  try {
    return `Redis ${describeSentinelTarget(parseSentinelUrl(url))}`;
  } catch {
    return redactUrl(url);
  }
}

/** Opens a connection; for the CLI role, fails with one line naming the (redacted) URL. */
export async function connectRedis(o: ConnectOptions): Promise<Redis> {
  const r = newRedis(o.url, redisOptions(o));
  let lastError: Error | undefined;
  r.on('error', (e: Error) => {
    // The first sign of a server that does not speak Redis says more than the EPIPE after it.
    if (!lastError || !notRedis(lastError.message)) lastError = e;
  });
  try {
    await r.connect();
    if (o.role === 'cli') await r.ping();
  } catch (e) {
    r.disconnect();
    const cause = describeRedisError(lastError ?? (e as Error));
    throw new UnavailableError(isSentinelUrl(o.url) ? `cannot reach ${describeRedisTarget(o.url)}: ${cause}` : `cannot reach Redis at ${redactUrl(o.url)}: ${cause}`);
  }
  try {
    await selectDatabase(r, o.url);
  } catch (e) {
    r.disconnect();
    throw e;
  }
  return r;
}

/** The database number in a Redis URL's path (`redis://host:port/3` → 3; none → 0). */
export function dbOfUrl(url: string): number {
  if (isSentinelUrl(url)) return parseSentinelUrl(url).db;
  const path = new URL(url).pathname.replace(/^\//, '');
  return path === '' ? 0 : Number(path);
}

/**
 * ioredis sends the URL's SELECT at connect and, when Redis refuses it (an index past
 * `databases`, default 16), only emits an error and goes on in database 0: everything
 * would silently go there. So the SELECT is sent again here and a refusal stops the
 * caller with one line naming the URL's database (UnavailableError, exit 3).
 */
export async function selectDatabase(r: Redis, url: string): Promise<void> {
  const db = dbOfUrl(url);
  if (db === 0) return;
  try {
    await r.select(db);
  } catch (e) {
    let count = '';
    try {
      const reply = (await r.config('GET', 'databases')) as string[];
      if (reply?.[1]) count = ` (this server has ${reply[1]} databases: 0 to ${Number(reply[1]) - 1})`;
    } catch {
      // CONFIG may be denied to this ACL user
    }
    throw new UnavailableError(`REDIS_URL names database ${db} (${redactUrl(url)}), which Redis refused: ${describeRedisError(e as Error)}${count}`);
  }
}

/**
 * For commands that attach without failing when Redis is away (the console): when Redis
 * answers and refuses the URL's database, throw that one line; otherwise do nothing.
 */
export async function assertDatabase(o: Omit<ConnectOptions, 'role'>): Promise<void> {
  if (dbOfUrl(o.url) === 0) return;
  let r: Redis;
  try {
    r = await connectRedis({ ...o, role: 'cli', name: o.name ?? 'qt:db-check' });
  } catch (e) {
    if (e instanceof UnavailableError && /^REDIS_URL names database/.test(e.message)) throw e;
    return; // unreachable: the caller shows that itself
  }
  await r.quit().catch(() => r.disconnect());
}

export function describeRedisError(e: Error | undefined): string {
  if (!e) return 'unknown error';
  const m = e.message || String(e);
  const foreign = notRedis(m);
  if (foreign) return foreign;
  if (/All sentinels are unreachable/.test(m)) {
    const last = /Last error: (.*)$/.exec(m)?.[1];
    return `no sentinel named a reachable primary${last ? ` (last error: ${describeRedisError(new Error(last))})` : ''}; check the sentinels' host:port and the master name`;
  }
  if (/ECONNREFUSED/.test(m)) return 'connection refused (is redis-server running?)';
  if (/NOAUTH|WRONGPASS|invalid username-password/i.test(m)) return 'authentication failed (check the password / ACL user in REDIS_URL)';
  if (/ENOTFOUND|EAI_AGAIN/.test(m)) return 'host not found';
  if (/ETIMEDOUT|timed out|timeout/i.test(m)) return 'connection timed out';
  if (/NOPERM/.test(m)) return 'permission denied for this ACL user';
  if (/EPIPE|ECONNRESET|Connection is closed/.test(m)) return 'the server closed the connection without a Redis reply (is it Redis at that port? a TLS-only server needs rediss://)';
  return m.replace(/(rediss?:\/\/[^:@/\s]*):([^@/\s]+)@/g, '$1:***@').split('\n')[0];
}

/**
 * The reply did not parse as RESP (the Redis protocol, https://redis.io/docs/latest/develop/reference/protocol-spec/):
 * something else listens there (an HTTP server answers `HTTP/1.1 400…`, whose first byte
 * ioredis reports as `Unknown RESP type 72 "H"`). Returns the sentence to show, or
 * undefined when the message is not a protocol error.
 */
export function notRedis(message: string): string | undefined {
  if (!/Unknown RESP type|Protocol error|ReplyParseError|Parser ?Error|unexpected (reply|response)/i.test(message)) return undefined;
  const first = /Unknown RESP type \d+ "(.*)"/.exec(message)?.[1];
  return `the server at that address does not speak Redis (its reply is not the Redis protocol${first ? `: it begins with ${JSON.stringify(first)}` : ''}); check the host and port in REDIS_URL`;
}

export interface Preflight {
  version: string;
  versionOk: boolean;
  maxmemoryPolicy: string | null;
  warnings: string[];
}

/** Redis version (≥ 6.2 for XAUTOCLAIM) and maxmemory-policy (noeviction). */
export async function preflight(r: Redis): Promise<Preflight> {
  const info = await r.info('server');
  const version = /redis_version:([^\r\n]+)/.exec(info)?.[1]?.trim() ?? '0';
  const [maj, min] = version.split('.').map(Number);
  const versionOk = maj > 6 || (maj === 6 && min >= 2);
  const warnings: string[] = [];
  let policy: string | null = null;
  try {
    const mem = await r.info('memory');
    policy = /maxmemory_policy:([^\r\n]+)/.exec(mem)?.[1]?.trim() ?? null;
  } catch {
    policy = null;
  }
  if (policy && policy !== 'noeviction') {
    warnings.push(`maxmemory-policy is ${policy}: Redis may evict stream entries and keys under memory pressure; set it to noeviction`);
  }
  if (!versionOk) warnings.push(`Redis ${version} is too old: qt needs Redis >= 6.2 (XAUTOCLAIM)`);
  return { version, versionOk, maxmemoryPolicy: policy, warnings };
}

/** Parses a flat [k, v, k, v…] reply (XINFO and friends) into a map; nested arrays kept. */
export function replyMap(reply: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
  return out;
}
