/** Helpers that build pipeline state in a real Redis under a test prefix (fixtures only: they write). */
import type { Redis } from 'ioredis';
import { Names, type StreamName } from '../../../src/contract/names.js';

export interface Ctx {
  redis: Redis;
  names: Names;
  now: number;
}

export function key(ctx: Ctx, stream: string): string {
  return (ctx.names.streamNameOf(`${ctx.names.prefix}:stream:${stream}`) ? ctx.names.stream(stream as StreamName) : `${ctx.names.prefix}:stream:${stream}`);
}

/** Adds `count` entries with explicit ids ending at `lastMs` (step ms apart). */
export async function fill(ctx: Ctx, stream: string, count: number, lastMs: number, fields: (i: number) => Record<string, string> = () => ({ v: '1' }), stepMs = 10): Promise<void> {
  const k = key(ctx, stream);
  for (let start = 0; start < count; start += 2000) {
    const p = ctx.redis.pipeline();
    for (let i = start; i < Math.min(count, start + 2000); i++) {
      const ms = lastMs - (count - 1 - i) * stepMs;
      p.xadd(k, `${ms}-${i}`, ...Object.entries(fields(i)).flat());
    }
    await p.exec();
  }
}

export async function group(ctx: Ctx, stream: string, g: string, from = '$'): Promise<void> {
  await ctx.redis.xgroup('CREATE', key(ctx, stream), g, from, 'MKSTREAM');
}

/** Reads everything new as `consumer` and acknowledges it (a caught-up consumer). */
export async function consumeAll(ctx: Ctx, stream: string, g: string, consumer = 'host:1', ack = true): Promise<number> {
  const k = key(ctx, stream);
  let n = 0;
  for (;;) {
    const r = (await ctx.redis.xreadgroup('GROUP', g, consumer, 'COUNT', 5000, 'STREAMS', k, '>')) as [string, [string, string[]][]][] | null;
    const entries = r?.[0]?.[1] ?? [];
    if (!entries.length) return n;
    n += entries.length;
    if (ack) await ctx.redis.xack(k, g, ...entries.map((e) => e[0]));
  }
}

export async function metrics(ctx: Ctx, stage: string, counts: Record<string, number>, minutesAgo = 1): Promise<void> {
  const k = ctx.names.metrics(stage, Names.minuteOf(ctx.now) - minutesAgo);
  await ctx.redis.hset(k, Object.fromEntries(Object.entries(counts).map(([f, v]) => [f, String(v)])));
}

export async function rejections(ctx: Ctx, stage: string, reason: string, n: number, payload: (i: number) => Record<string, string>, detail: string): Promise<void> {
  const p = ctx.redis.pipeline();
  for (let i = 0; i < n; i++) {
    const pl = payload(i);
    p.xadd(ctx.names.stream('stage.rejected'), '*', 'stage', stage, 'reason', reason, 'symbol', pl.symbol ?? 'BTCUSDT', 'ref_id', `ref-${i}`,
      'detail', detail, 'payload', JSON.stringify(pl), 'ts', String(ctx.now - (n - i) * 1000));
  }
  await p.exec();
}

export async function beat(ctx: Ctx, service: string, h: Record<string, string> = {}): Promise<void> {
  await ctx.redis.hset(ctx.names.service(service), {
    service, pid: '123', host: 'box', version: '0.1.0', started_at: String(ctx.now - 3600_000), beat_at: String(ctx.now - 1000),
    status: 'running', last_msg_at: String(ctx.now - 2000), processed: '100', errors: '0', last_error: '', mode: 'PAPER', detail: '', ...h,
  });
  await ctx.redis.pexpire(ctx.names.service(service), 600_000);
}

export async function registry(ctx: Ctx, ...services: string[]): Promise<void> {
  await ctx.redis.sadd(ctx.names.registry(), ...services);
}

export async function hash(ctx: Ctx, k: string, h: Record<string, string>): Promise<void> {
  await ctx.redis.hset(k, h);
}
