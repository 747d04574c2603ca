/**
 * Scenarios of issue 15, cases 9 and 10: silent services whose group still holds work
 * while their input stream went quiet, stage findings that must name their reasons, and
 * services that stopped cleanly. Each builds its state in a real Redis under its own prefix.
 */
import { beat, fill, group, hash, key, metrics, registry, rejections, type Ctx } from './build.js';
import { STAGES } from '../../../src/contract/names.js';

const DAY = 86_400_000;

/** Reads `read` entries as `consumer` and acknowledges the first `ack` of them. */
async function readAck(ctx: Ctx, stream: string, g: string, read: number, ack: number, consumer = 'box:7'): Promise<void> {
  const k = key(ctx, stream);
  const r = (await ctx.redis.xreadgroup('GROUP', g, consumer, 'COUNT', read, 'STREAMS', k, '>')) as [string, [string, string[]][]][];
  const ids = r[0]![1].map((e) => e[0]);
  if (ack) await ctx.redis.xack(k, g, ...ids.slice(0, ack));
}

/** Case 9: apply_layer beats, handled its last message 9 days ago; apply.plan stopped 9 days ago with 45 undelivered and 6 pending. */
export async function silentWithBacklog(ctx: Ctx): Promise<void> {
  await fill(ctx, 'apply.plan', 100, ctx.now - 9 * DAY);
  await group(ctx, 'apply.plan', 'apply_layer', '0');
  await readAck(ctx, 'apply.plan', 'apply_layer', 55, 49);
  await registry(ctx, 'apply_layer');
  await beat(ctx, 'apply_layer', { last_msg_at: String(ctx.now - 9 * DAY), processed: '49' });
}

/** Case 9, a deployment that is not ours: service `execution`, its group `execution` on `execution.request`. */
export async function silentForeign(ctx: Ctx): Promise<void> {
  await fill(ctx, 'execution.request', 60, ctx.now - 9 * DAY);
  await group(ctx, 'execution.request', 'execution', '0');
  await readAck(ctx, 'execution.request', 'execution', 10, 4);
  await beat(ctx, 'execution', { last_msg_at: String(ctx.now - 9 * DAY), processed: '4' });
}

/** Case 9 with a null lag: a tombstone after the group's position (XDEL), 90 entries undelivered. */
export async function silentNullLag(ctx: Ctx): Promise<void> {
  await fill(ctx, 'apply.plan', 100, ctx.now - 9 * DAY);
  await group(ctx, 'apply.plan', 'apply_layer', '0');
  await readAck(ctx, 'apply.plan', 'apply_layer', 10, 10);
  const k = key(ctx, 'apply.plan');
  const ids = (await ctx.redis.xrange(k, '-', '+', 'COUNT', 60)).map((e) => e[0]);
  await ctx.redis.xdel(k, ids[50]!);
  await registry(ctx, 'apply_layer');
  await beat(ctx, 'apply_layer', { last_msg_at: String(ctx.now - 9 * DAY), processed: '10' });
}

/** Not silent: everything read and acknowledged 9 days ago, nothing since. */
export async function quietCaughtUp(ctx: Ctx): Promise<void> {
  await fill(ctx, 'apply.plan', 100, ctx.now - 9 * DAY);
  await group(ctx, 'apply.plan', 'apply_layer', '0');
  await readAck(ctx, 'apply.plan', 'apply_layer', 100, 100);
  await registry(ctx, 'apply_layer');
  await beat(ctx, 'apply_layer', { last_msg_at: String(ctx.now - 9 * DAY), processed: '100' });
}

/** Case 10: apply_layer took 480 and rejected all 480 for position_limit_reached. */
export async function noOutputLimit(ctx: Ctx): Promise<void> {
  await metrics(ctx, 'apply_layer', { in: 480, rejected: 480, 'rej:position_limit_reached': 480 });
  await rejections(ctx, 'apply_layer', 'position_limit_reached', 20, (i) => ({ symbol: 'ETHUSDT', plan_id: `p-${i}`, action: 'OPEN' }), 'open 10 >= limit 10 (10 positions + 0 approved)');
  await hash(ctx, ctx.names.policy(), { version: '1', max_open_positions: '10' });
}

/** Case 10: the whole engine (every stage) stopped cleanly two hours ago; `openPositions` still open; one more service never started. */
export function stoppedCleanly(openPositions: number): (ctx: Ctx) => Promise<void> {
  return async (ctx) => {
    const at = ctx.now - 2 * 3600_000;
    await registry(ctx, ...STAGES, 'never_started');
    for (const s of STAGES) {
      await beat(ctx, s, { status: 'stopping', beat_at: String(at), stopped_at: String(at + (s.length % 3) * 100), last_msg_at: String(at - 1000) });
    }
    for (let i = 0; i < openPositions; i++) await hash(ctx, ctx.names.position(`SYM${i}USDT`), { symbol: `SYM${i}USDT`, side: 'LONG', qty: '1', entry_price: '10', leverage: '2' });
  };
}
