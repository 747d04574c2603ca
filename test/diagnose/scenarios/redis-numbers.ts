/**
 * Scenarios of issue 15: states where Redis's own stream numbers are wrong, null, nonsense or
 * silent about a loss. Each follows a public report or a fact of
 * ../shared/spec/REDIS-STREAMS-FACTS.md (named on each), reproduced on the real Redis the
 * suite starts; every stream and group under the contract's names.
 */
import { key, type Ctx } from './build.js';

type Entry = [string, string[]];

async function addIds(ctx: Ctx, stream: string, from: number, to: number, extra: string[] = []): Promise<void> {
  const k = key(ctx, stream);
  for (let start = from; start <= to; start += 2000) {
    const p = ctx.redis.pipeline();
    for (let i = start; i <= Math.min(to, start + 1999); i++) p.xadd(k, ...extra, `0-${i}`, 'n', String(i));
    await p.exec();
  }
}

async function readAll(ctx: Ctx, stream: string, group: string, consumer: string, count: number, ack: boolean): Promise<string[]> {
  const k = key(ctx, stream);
  const r = (await ctx.redis.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', k, '>')) as [string, Entry[]][] | null;
  const ids = (r?.[0]?.[1] ?? []).map((e) => e[0]);
  if (ack && ids.length) await ctx.redis.xack(k, group, ...ids);
  return ids;
}

/**
 * Case 1 (redis#13337, fixed in 8.0): apply_layer reads and acks 0-1, 0-2; 0-3…0-1503 are
 * added and deleted; 0-1504 is read and acked. Redis 7.0 still says lag 1501.
 */
export async function lagAfterXdel(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.plan');
  await ctx.redis.xgroup('CREATE', k, 'apply_layer', '0', 'MKSTREAM');
  await addIds(ctx, 'apply.plan', 1, 2);
  await readAll(ctx, 'apply.plan', 'apply_layer', 'box:1', 10, true);
  await addIds(ctx, 'apply.plan', 3, 1503);
  for (let i = 3; i <= 1503; i += 500) await ctx.redis.xdel(k, ...Array.from({ length: Math.min(500, 1504 - i) }, (_, j) => `0-${i + j}`));
  await addIds(ctx, 'apply.plan', 1504, 1504);
  await readAll(ctx, 'apply.plan', 'apply_layer', 'box:1', 10, true);
}

/** Case 2 (XTRIM/MAXLEN never look at groups): group at `$`, 15,000 × XADD MAXLEN 10000, nobody reading. */
export async function trimmedBeforeDelivery(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.plan');
  await ctx.redis.xgroup('CREATE', k, 'apply_layer', '$', 'MKSTREAM');
  for (let start = 0; start < 15_000; start += 2500) {
    const p = ctx.redis.pipeline();
    for (let i = start; i < start + 2500; i++) p.xadd(k, 'MAXLEN', 10_000, '*', 'n', String(i));
    await p.exec();
  }
}

/** Case 2, second state: the group read 1 of 5 entries, then `XTRIM … MAXLEN 0`. */
export async function trimmedEmpty(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.plan');
  await ctx.redis.xgroup('CREATE', k, 'apply_layer', '0', 'MKSTREAM');
  for (let i = 0; i < 5; i++) await ctx.redis.xadd(k, '*', 'n', String(i));
  await readAll(ctx, 'apply.plan', 'apply_layer', 'box:1', 1, false);
  await ctx.redis.xtrim(k, 'MAXLEN', 0);
}

/** Case 3 (lag null by design, PR #9127): 5,000 entries, group at 0, one read and acked, XDEL 0-2. */
export async function nullLagBacklog(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.plan');
  await addIds(ctx, 'apply.plan', 1, 5000);
  await ctx.redis.xgroup('CREATE', k, 'apply_layer', '0');
  await readAll(ctx, 'apply.plan', 'apply_layer', 'box:1', 1, true);
  await ctx.redis.xdel(k, '0-2');
}

/** Case 3, where no bounded read can count: the group 1,000 entries in, a tombstone at 0-2000. */
export async function nullLagDeep(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.plan');
  await addIds(ctx, 'apply.plan', 1, 5000);
  await ctx.redis.xgroup('CREATE', k, 'apply_layer', '0');
  await readAll(ctx, 'apply.plan', 'apply_layer', 'box:1', 1000, true);
  await ctx.redis.xdel(k, '0-2000');
}

/** Case 4 (redis#14257): `XGROUP CREATE apply.approved intent_executor $ ENTRIESREAD 100` on a one-entry stream. */
export async function negativeLag(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.approved');
  await ctx.redis.xadd(k, '*', 'plan_id', 'p1');
  await ctx.redis.call('XGROUP', 'CREATE', k, 'intent_executor', '$', 'ENTRIESREAD', '100');
}

/** Case 4, second state: the group moved with `XGROUP SETID` to an arbitrary id (lag null by design). */
export async function setIdArbitrary(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.approved');
  await addIds(ctx, 'apply.approved', 1, 600);
  await ctx.redis.xgroup('CREATE', k, 'intent_executor', '0');
  await ctx.redis.xgroup('SETID', k, 'intent_executor', '0-300');
}

/**
 * Case 5 (pipeshub-ai#2992): 150 entries read and left pending; the oldest is claimed 800
 * times (each claim adds a delivery and resets idle).
 */
export async function poisonClaimed(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.approved');
  await ctx.redis.xgroup('CREATE', k, 'intent_executor', '$', 'MKSTREAM');
  const p0 = ctx.redis.pipeline();
  for (let i = 0; i < 150; i++) p0.xadd(k, '*', 'plan_id', `p${i}`);
  await p0.exec();
  const ids = await readAll(ctx, 'apply.approved', 'intent_executor', 'box:42', 200, false);
  const p = ctx.redis.pipeline();
  for (let i = 0; i < 800; i++) p.xclaim(k, 'intent_executor', `box:${42 + (i % 2)}`, 0, ids[0]!);
  await p.exec();
}

/** Case 6 (redis#10756, #13314): 20,000 entries read by one consumer, then `XTRIM … MAXLEN 10`. */
export async function orphanedPending(ctx: Ctx): Promise<void> {
  const k = key(ctx, 'apply.plan');
  await ctx.redis.xgroup('CREATE', k, 'apply_layer', '$', 'MKSTREAM');
  for (let start = 0; start < 20_000; start += 2500) {
    const p = ctx.redis.pipeline();
    for (let i = start; i < start + 2500; i++) p.xadd(k, '*', 'n', String(i));
    await p.exec();
  }
  for (let got = 1; got > 0;) got = (await readAll(ctx, 'apply.plan', 'apply_layer', 'box:1', 5000, false)).length;
  await ctx.redis.xtrim(k, 'MAXLEN', 10);
}

/** Case 7 (redis#8635): `consumers` consumers in apply_layer, none holding anything (a name per poll). */
export function consumerLeak(consumers: number): (ctx: Ctx) => Promise<void> {
  return async (ctx) => {
    const k = key(ctx, 'apply.plan');
    await ctx.redis.xgroup('CREATE', k, 'apply_layer', '$', 'MKSTREAM');
    for (let start = 0; start < consumers; start += 2000) {
      const p = ctx.redis.pipeline();
      for (let i = start; i < Math.min(consumers, start + 2000); i++) p.call('XGROUP', 'CREATECONSUMER', k, 'apply_layer', `box:poll-${i}`);
      await p.exec();
    }
  };
}

/** Case 8: nine real open positions and a live stream (read by an ACL user that may SCAN but read no key). */
export async function ninePositions(ctx: Ctx): Promise<void> {
  for (let i = 0; i < 9; i++) await ctx.redis.hset(ctx.names.position(`P${i}USDT`), { symbol: `P${i}USDT`, side: 'LONG', qty: '1', entry_price: '1' });
  await ctx.redis.xadd(key(ctx, 'apply.plan'), '*', 'n', '1');
}
