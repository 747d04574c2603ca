/**
 * Read-only Redis helpers of the collector: one pipelined batch at a time, every reply
 * kept with its error (an ACL-limited user may be denied one command and not the rest),
 * and a command counter so a snapshot can say what it cost.
 */
import type { Cluster, Redis } from 'ioredis';
import { replyMap } from '../redis/connect.js';
import { ClusterView, isClusterUnreachable } from '../redis/cluster.js';

/** What the read-only tools read from: one server (or a sentinel's primary), or a cluster. */
export type ReadTarget = Redis | ClusterView;

export type Cmd = [string, ...(string | number)[]];
export interface Reply {
  err: Error | null;
  val: unknown;
}

export class Reader {
  commands = 0;
  readonly denied = new Set<string>();
  /** commands refused for want of a key permission (the user may run them, not on these keys) */
  readonly deniedKeys = new Set<string>();
  /** cluster nodes (or keys) that could not be read: `node: reason` (a node down, CLUSTERDOWN, a redirection not followed) */
  readonly unreachable = new Set<string>();
  /** the cluster, when the target is one (null: one server) */
  readonly cluster: ClusterView | null;
  /** the client single-key commands go through (the Cluster client routes each to its node) */
  readonly redis: Redis | Cluster;
  /** keys under the prefix per primary, counted by scan() on a cluster */
  readonly keysPerNode = new Map<string, number>();
  constructor(target: ReadTarget) {
    this.cluster = target instanceof ClusterView ? target : null;
    this.redis = target instanceof ClusterView ? target.client : target;
    // scripts with several keys (or none) cannot be routed on a cluster: per-key commands instead
    if (this.cluster) this.evalRo = false;
  }

  /** The primary (`host:port`) holding a key on a cluster; undefined on one server. */
  nodeOf(key: string): string | undefined {
    return this.cluster?.nodeOf(key) ?? undefined;
  }

  private noteError(err: Error, cmd: Cmd): void {
    if (!this.cluster) {
      // One connection that answers MOVED/ASK/CLUSTERDOWN is a cluster node read as a single
      // server (its INFO refused or renamed): what lives on the other nodes is unknown.
      if (/^(MOVED|ASK|CLUSTERDOWN)\b/.test(err.message)) this.unreachable.add(`cluster: ${err.message.split('\n')[0]} (a Redis Cluster read through one node: INFO cluster refused or renamed?)`);
      return;
    }
    if (!isClusterUnreachable(err)) return;
    const key = typeof cmd[1] === 'string' && /^(xinfo|memory)$/i.test(cmd[0]) ? String(cmd[2] ?? '') : String(cmd[1] ?? '');
    const node = key ? this.cluster.nodeOf(key) : null;
    this.unreachable.add(`${node ?? 'cluster'}: ${err.message.split('\n')[0]}`);
  }

  /** Runs the commands in one pipeline; a failed command yields its error, never throws. */
  async batch(cmds: Cmd[], o: { quiet?: boolean } = {}): Promise<Reply[]> {
    if (cmds.length === 0) return [];
    this.commands += cmds.length;
    let res: [Error | null, unknown][];
    if (this.cluster) {
      // one command per key, each sent to the node owning its slot (auto-pipelined per node):
      // a pipeline or script across slots would fail with CROSSSLOT
      const client = this.cluster.client;
      res = await Promise.all(cmds.map(async (c): Promise<[Error | null, unknown]> => {
        try {
          return [null, await client.call(String(c[0]), ...c.slice(1).map(String))];
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          this.noteError(err, c);
          return [err, null];
        }
      }));
    } else {
      res = ((await this.redis.pipeline(cmds as unknown as string[][]).exec()) ?? []) as [Error | null, unknown][];
      res.forEach(([err], i) => err && this.noteError(err, cmds[i]!));
    }
    return res.map(([err, val], i) => {
      // quiet: a denied command there has a fallback, so it is no unknown of the report
      if (err && !o.quiet && /NOPERM|no permissions/i.test(err.message)) {
        this.denied.add(String(cmds[i]![0]).toUpperCase());
        // a key rule missing (`access one of the keys`) vs a command rule missing (`run the 'x' command`)
        if (/keys?\b/i.test(err.message) && !/run the/i.test(err.message)) this.deniedKeys.add(String(cmds[i]![0]).toUpperCase());
      }
      return { err: err ?? null, val };
    });
  }

  /**
   * SCAN MATCH pattern COUNT n to the end (bounded by the number of keys, not stream
   * length). `onPage` sees each page's keys as the page arrives, so work on them
   * (classifying, pipelining reads) overlaps the next page's round trip. SCAN may return
   * a key twice (while the keyspace is rehashed): without `dedupe`, the caller must
   * tolerate that (by keying what it builds on the key), and is spared a 100k-key Set.
   */
  async scan(pattern: string, count = 1000, onPage?: (page: string[]) => void, dedupe = true): Promise<string[]> {
    if (!this.cluster) return this.scanNode(this.redis as Redis, pattern, count, onPage, dedupe);
    // SCAN walks one node: every primary of the slot map, each to its end
    const all = await Promise.all(this.cluster.primaries.map(async (node) => {
      try {
        const keys = await this.scanNode(this.cluster!.node(node), pattern, count, onPage, dedupe);
        this.keysPerNode.set(node, (this.keysPerNode.get(node) ?? 0) + keys.length);
        return keys;
      } catch (e) {
        this.unreachable.add(`${node}: SCAN failed (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`);
        return [];
      }
    }));
    return all.flat();
  }

  /**
   * SCAN … TYPE t (Redis ≥ 6.0) on every primary (one server: that one), at most `maxPages`
   * pages each; `complete` false when a node was cut short or could not be read.
   */
  async scanTyped(pattern: string, type: string, maxPages: number): Promise<{ keys: string[]; complete: boolean }> {
    const targets = this.cluster ? this.cluster.primaries.map((n) => ({ n, r: this.cluster!.node(n) })) : [{ n: '', r: this.redis as Redis }];
    const keys: string[] = [];
    let complete = true;
    for (const { n, r } of targets) {
      let cursor = '0';
      let pages = 0;
      try {
        do {
          this.commands++;
          const [next, batch] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', type);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== '0' && ++pages < maxPages);
        if (cursor !== '0') complete = false;
      } catch (e) {
        if (!this.cluster) throw e;
        complete = false;
        this.unreachable.add(`${n}: SCAN failed (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`);
      }
    }
    return { keys, complete };
  }

  private async scanNode(r: Redis, pattern: string, count: number, onPage: ((page: string[]) => void) | undefined, dedupe: boolean): Promise<string[]> {
    const out = new Set<string>();
    const pages: string[][] = [];
    const ask = (cursor: string) => {
      this.commands++;
      return r.scan(cursor, 'MATCH', pattern, 'COUNT', count);
    };
    let pending: Promise<[string, string[]]> | null = ask('0');
    while (pending) {
      const [next, keys]: [string, string[]] = await pending;
      // The next page is asked for before this one is handled: what `onPage` sends queues
      // behind it, and the server walks the keyspace while this page is classified.
      pending = next === '0' ? null : ask(next);
      let page = keys;
      if (dedupe) {
        page = [];
        for (const k of keys) {
          if (out.has(k)) continue;
          out.add(k);
          page.push(k);
        }
      } else pages.push(keys);
      onPage?.(page);
    }
    return dedupe ? [...out] : pages.flat();
  }

  /** False once the server or the ACL refused EVAL_RO: callers go straight to their fallback. */
  evalRo = true;
}

/** epoch ms of an auto-generated stream id, or null (explicit small ids, future ids, garbage). */
export function idMs(id: string | null | undefined, now: number): number | null {
  if (!id) return null;
  const ms = Number(String(id).split('-')[0]);
  if (!Number.isFinite(ms) || ms < 1_000_000_000_000 || ms > now + 86_400_000) return null;
  return ms;
}

export function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : Number(String(v));
  return Number.isFinite(n) ? n : null;
}

export function str(v: unknown): string {
  return v === null || v === undefined ? '' : Buffer.isBuffer(v) ? v.toString() : String(v);
}

/** A flat `[field, value, …]` array of a stream entry as a record. */
export function entryFields(arr: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(arr)) return out;
  for (let i = 0; i + 1 < arr.length; i += 2) out[str(arr[i])] = str(arr[i + 1]);
  return out;
}

/** An XRANGE/XREVRANGE reply as `{id, fields}` entries. */
export function entries(reply: unknown): { id: string; fields: Record<string, string> }[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((e) => ({ id: str((e as unknown[])[0]), fields: entryFields((e as unknown[])[1]) }));
}

export { replyMap };
