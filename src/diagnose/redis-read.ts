/**
 * Read-only Redis helpers of the collector: one pipelined batch at a time, every reply
 * kept with its error (an ACL-limited user may be denied one command and not the rest),
 * and a command counter so a snapshot can say what it cost.
 */
import type { Redis } from 'ioredis';
import { replyMap } from '../redis/connect.js';

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
  constructor(readonly redis: Redis) {}

  /** Runs the commands in one pipeline; a failed command yields its error, never throws. */
  async batch(cmds: Cmd[], o: { quiet?: boolean } = {}): Promise<Reply[]> {
    if (cmds.length === 0) return [];
    this.commands += cmds.length;
    const res = (await this.redis.pipeline(cmds as unknown as string[][]).exec()) ?? [];
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
    const out = new Set<string>();
    const pages: string[][] = [];
    const ask = (cursor: string) => {
      this.commands++;
      return this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', count);
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
