/**
 * Redis Sentinel addressing (issue 19): a primary whose address the sentinels give, found
 * again after a failover. The whole program carries it as one URL string, so every place
 * that takes `REDIS_URL` takes it too:
 *
 *   redis+sentinel://[user:password@]host:port[,host:port…]/master_name[/db][?sentinel_password=…]
 *   rediss+sentinel://…   (TLS to the primary and to the sentinels)
 *
 * user:password are the primary's credentials (as in redis://); the sentinels' own password,
 * when they have one (`requirepass` in sentinel.conf), is `sentinel_password` (or
 * QT_REDIS_SENTINEL_PASSWORD). `QT_REDIS_SENTINELS=host:port,…` with `QT_REDIS_MASTER_NAME`
 * builds the same URL (config.ts). The sentinel protocol: https://redis.io/docs/latest/develop/reference/sentinel-clients/
 * (ask each sentinel `SENTINEL get-master-addr-by-name`, check `ROLE` on the node it names);
 * ioredis does that (`sentinels` + `name`) and asks again on every reconnect.
 */
import type { RedisOptions } from 'ioredis';

export interface SentinelAddress {
  host: string;
  port: number;
}

export interface SentinelTarget {
  tls: boolean;
  sentinels: SentinelAddress[];
  /** The master group name of `sentinel monitor <name> …`. */
  masterName: string;
  db: number;
  /** The primary's ACL user / password (the URL's user:password). */
  username?: string;
  password?: string;
  /** The sentinels' own password (`sentinel_password` in the query). */
  sentinelPassword?: string;
}

/** The default port of a sentinel (redis.io: "Sentinels by default run listening for connections to TCP port 26379"). */
export const SENTINEL_PORT = 26379;

/** True for a `redis+sentinel://` or `rediss+sentinel://` URL. */
export function isSentinelUrl(url: string): boolean {
  return /^rediss?\+sentinel:\/\//i.test(url.trim());
}

const URL_RE = /^(rediss?)\+sentinel:\/\/(?:([^@/?#]*)@)?([^/?#@]+)\/([^/?#]+)(?:\/([^/?#]*))?\/?(?:\?([^#]*))?$/i;

/** Parses `host:port,host:port` (IPv6 in brackets); port defaults to 26379. Throws Error with what is wrong. */
export function parseSentinelList(list: string): SentinelAddress[] {
  const out: SentinelAddress[] = [];
  for (const part of list.split(',').map((x) => x.trim())) {
    if (!part) throw new Error('an empty entry in the list');
    const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(part) ?? /^([A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(part);
    if (!m) throw new Error(`${JSON.stringify(part)} is not host:port`);
    const port = m[2] === undefined ? SENTINEL_PORT : Number(m[2]);
    if (!(port >= 1 && port <= 65535)) throw new Error(`${JSON.stringify(part)}: port ${m[2]} is not from 1 to 65535`);
    out.push({ host: m[1]!, port });
  }
  if (out.length === 0) throw new Error('no sentinel given');
  return out;
}

/**
 * Parses a sentinel URL. Throws Error whose message says what is wrong (the caller names
 * the variable); the message never holds a password.
 */
export function parseSentinelUrl(url: string): SentinelTarget {
  const m = URL_RE.exec(url.trim());
  if (!m) throw new Error('expected redis+sentinel://[user:password@]host:port[,host:port…]/master_name[/db]');
  const [, scheme, userinfo, hosts, name, db, query] = m;
  const sentinels = parseSentinelList(hosts!);
  const masterName = decodeURIComponent(name!);
  if (!/^[^\s,]{1,200}$/.test(masterName)) throw new Error(`the master name ${JSON.stringify(masterName)} has spaces or commas`);
  if (db !== undefined && db !== '' && !/^\d+$/.test(db)) throw new Error('the database after the master name must be a number, like /mymaster/0');
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo) {
    const i = userinfo.indexOf(':');
    username = decodeURIComponent(i < 0 ? userinfo : userinfo.slice(0, i)) || undefined;
    password = i < 0 ? undefined : decodeURIComponent(userinfo.slice(i + 1)) || undefined;
  }
  let sentinelPassword: string | undefined;
  for (const [k, v] of new URLSearchParams(query ?? '')) {
    if (k === 'sentinel_password') sentinelPassword = v || undefined;
    else throw new Error(`unknown parameter ${JSON.stringify(k)} (only sentinel_password)`);
  }
  return { tls: scheme!.toLowerCase() === 'rediss', sentinels, masterName, db: db ? Number(db) : 0, username, password, sentinelPassword };
}

/** Builds the URL of a target (the inverse of parseSentinelUrl). */
export function sentinelUrl(t: SentinelTarget): string {
  const auth = t.username || t.password ? `${encodeURIComponent(t.username ?? '')}${t.password ? `:${encodeURIComponent(t.password)}` : ''}@` : '';
  const hosts = t.sentinels.map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',');
  const q = t.sentinelPassword ? `?sentinel_password=${encodeURIComponent(t.sentinelPassword)}` : '';
  return `${t.tls ? 'rediss' : 'redis'}+sentinel://${auth}${hosts}/${encodeURIComponent(t.masterName)}${t.db ? `/${t.db}` : ''}${q}`;
}

/** What a person reads: `master mymaster via sentinels 10.0.0.1:26379,10.0.0.2:26379`. */
export function describeSentinelTarget(t: SentinelTarget): string {
  return `master ${t.masterName} via sentinel${t.sentinels.length > 1 ? 's' : ''} ${t.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
}

/**
 * The ioredis options that reach the primary through the sentinels (ioredis
 * SentinelConnector: `sentinels`, `name`, `role: 'master'`; it asks the sentinels again
 * on every reconnect, so a failover is followed by reconnecting). `failFast`: a CLI
 * command gives up when no sentinel names a reachable primary instead of retrying.
 */
export function sentinelOptions(t: SentinelTarget, o: { failFast: boolean; tls?: RedisOptions['tls'] }): RedisOptions {
  return {
    sentinels: t.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: t.masterName,
    role: 'master',
    db: t.db,
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(t.sentinelPassword ? { sentinelPassword: t.sentinelPassword } : {}),
    ...(t.tls ? { tls: o.tls ?? {}, enableTLSForSentinelMode: true, sentinelTLS: o.tls ?? {} } : {}),
    sentinelRetryStrategy: o.failFast ? () => null : (times: number) => Math.min(100 * times, 1000),
    sentinelCommandTimeout: 2000,
  };
}
