/** Per-test Redis access: a connection to the private server and a prefix of its own. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { Names } from '../../src/contract/names.js';

export function testRedisUrl(): string {
  return inject('redisUrl');
}

export function uniquePrefix(tag = 't'): string {
  return `qt-test-${tag}-${randomBytes(4).toString('hex')}`;
}

export function testNames(prefix = uniquePrefix()): Names {
  return new Names({ prefix });
}

const open: Redis[] = [];
export function testRedis(url = testRedisUrl()): Redis {
  const r = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
  r.on('error', () => undefined);
  open.push(r);
  return r;
}

export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((r) => r.quit().catch(() => r.disconnect())));
}

/**
 * A deadline is never shorter than this (ms): it bounds a hang, it measures nothing, and a
 * loaded 2-core machine (other suites running beside) can be many times slower than an idle one.
 */
export const MIN_DEADLINE_MS = 60_000;

/**
 * Waits on a condition, never on a fixed sleep: polls `cond` every 25 ms until it returns a
 * truthy value (returned) or the deadline passes (throws naming `what` and the last error).
 * `timeoutMs` is raised to MIN_DEADLINE_MS when shorter.
 */
export async function waitFor<T>(cond: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs = 10000, what = 'condition'): Promise<T> {
  timeoutMs = Math.max(timeoutMs, MIN_DEADLINE_MS);
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await cond();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Sums of every per-minute metrics hash of a stage (in, out, rejected, dead, rej:{reason}…). */
export async function metricSums(r: Redis, names: Names, stage: string): Promise<Record<string, number>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await r.scan(cursor, 'MATCH', names.metricsPattern(stage), 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const sums: Record<string, number> = {};
  for (const k of keys) for (const [f, v] of Object.entries(await r.hgetall(k))) sums[f] = (sums[f] ?? 0) + Number(v);
  return sums;
}
