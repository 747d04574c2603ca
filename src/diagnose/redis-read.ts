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
  constructor(readonly redis: Redis) {}

  /** Runs the commands in one pipeline; a failed command yields its error, never throws. */
  async batch(cmds: Cmd[], o: { quiet?: boolean } = {}): Promise<Reply[]> {
    if (cmds.length === 0) return [];
    this.commands += cmds.length;
    const res = (await this.redis.pipeline(cmds as unknown as string[][]).exec()) ?? [];
    return res.map(([err, val], i) => {
      // quiet: a denied command there has a fallback, so it is no unknown of the report
      if (err && !o.quiet && /NOPERM|no permissions/i.test(err.message)) this.denied.add(String(cmds[i]![0]).toUpperCase());
      return { err: err ?? null, val };
    });
  }

  /** SCAN MATCH pattern COUNT n to the end (bounded by the number of keys, not stream length). */
  async scan(pattern: string, count = 1000): Promise<string[]> {
    const out = new Set<string>();
    let cursor = '0';
    do {
      this.commands++;
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      for (const k of keys) out.add(k);
      cursor = next;
    } while (cursor !== '0');
    return [...out];
  }
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
