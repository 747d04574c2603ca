/**
 * The scenario corpus: each function builds, in a real Redis under its own prefix, one
 * failure the seeds' incident reports describe (or a healthy pipeline).
 */
import { beat, consumeAll, fill, group, hash, metrics, registry, rejections, type Ctx } from './build.js';

const DAY = 86_400_000;
const STAGE_STREAMS = ['ai.signal_generated', 'trade.intent', 'apply.plan', 'apply.approved', 'apply.result', 'execution.result'];
const READERS: Record<string, string> = { 'ai.signal_generated': 'autonomous_trader', 'trade.intent': 'intent_bridge', 'apply.plan': 'apply_layer', 'apply.approved': 'intent_executor' };

/** An ACTIVE protective stop record for a hand-built position without opened_at (issue 18: a healthy position has one). */
async function stopFor(ctx: Ctx, sym: string, side: 'LONG' | 'SHORT', entry = 100): Promise<void> {
  await hash(ctx, ctx.names.protect(sym), {
    position_ref: `0|${side}`, side, status: 'ACTIVE', client_algo_id: `qtp-${sym.toLowerCase()}-1`, algo_id: '5000000001',
    stop_price: String(side === 'LONG' ? entry * 0.95 : entry * 1.05), seq: '1', updated_at: String(ctx.now),
  });
}

/** A healthy pipeline built by hand: every stream live and read, services beating, positions agree, each with its stop on the exchange. */
export async function healthy(ctx: Ctx): Promise<void> {
  for (const s of STAGE_STREAMS) {
    await fill(ctx, s, 200, ctx.now - 2000);
    if (READERS[s]) {
      await group(ctx, s, READERS[s]!, '0');
      await consumeAll(ctx, s, READERS[s]!);
    }
  }
  await registry(ctx, 'ai_engine', 'autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor');
  for (const s of ['ai_engine', 'autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor']) await beat(ctx, s);
  await metrics(ctx, 'ai_engine', { out: 200 });
  await metrics(ctx, 'autonomous_trader', { in: 200, out: 180, rejected: 20, 'rej:confidence_below_min': 20 });
  await metrics(ctx, 'intent_bridge', { in: 180, out: 170, rejected: 10, 'rej:symbol_not_allowed': 10 });
  await metrics(ctx, 'apply_layer', { in: 170, out: 165, rejected: 5, 'rej:cooldown': 5 });
  await metrics(ctx, 'intent_executor', { in: 165, out: 165 });
  await hash(ctx, ctx.names.policy(), { version: '3', max_open_positions: '10', allowlist: 'BTCUSDT,ETHUSDT' });
  for (const [sym, side, qty] of [['BTCUSDT', 'LONG', '0.01'], ['ETHUSDT', 'SHORT', '0.5']] as const) {
    await hash(ctx, ctx.names.position(sym), { symbol: sym, side, qty, entry_price: '100', leverage: '5', initial_risk_usd: '10' });
    await hash(ctx, ctx.names.snapshot(sym), { qty, side, entry_price: '100', mark_price: '101', unrealized_pnl: '1', ts: String(ctx.now) });
    await hash(ctx, ctx.names.ledger(sym), { realized_pnl: '3', fees: '0.1', trades: '4' });
    await stopFor(ctx, sym, side);
  }
}

/** Trader sends position_usd+leverage, the bridge wants qty: 99% invalid_quantity. */
export async function fieldMismatch(ctx: Ctx): Promise<void> {
  await fill(ctx, 'trade.intent', 100, ctx.now - 1000);
  await group(ctx, 'trade.intent', 'intent_bridge', '0');
  await consumeAll(ctx, 'trade.intent', 'intent_bridge');
  await metrics(ctx, 'intent_bridge', { in: 100, out: 1, rejected: 99, 'rej:invalid_quantity': 99 });
  await rejections(ctx, 'intent_bridge', 'invalid_quantity', 99,
    () => ({ intent_type: 'AUTONOMOUS_ENTRY', symbol: 'BTCUSDT', action: 'SELL', position_usd: '300.0', leverage: '2.0', tp_pct: '2.0', sl_pct: '1.0', source: 'autonomous_trader' }),
    'Invalid quantity: qty missing');
}

/** Orders five times too small: the executor rejects below_min_notional. */
export async function ordersTooSmall(ctx: Ctx): Promise<void> {
  await metrics(ctx, 'intent_executor', { in: 8, out: 0, rejected: 8, 'rej:below_min_notional': 8 });
  await rejections(ctx, 'intent_executor', 'below_min_notional', 8,
    () => ({ plan_id: '2e99efa9', symbol: 'BTCUSDT', side: 'SELL', qty: '0.0007', price: '100871', notional: '70.61', leverage: '5', source: 'intent_bridge' }),
    'notional 70.61 < minNotional 100.00 (allow_upsize=false)');
}

/** The executor's group waits on apply.plan.manual, which nobody writes; apply.plan is full. */
export async function starvingExecutor(ctx: Ctx): Promise<void> {
  await fill(ctx, 'apply.plan', 10_002, ctx.now - 1000);
  await group(ctx, 'apply.plan', 'apply_layer_entry', '0');
  await consumeAll(ctx, 'apply.plan', 'apply_layer_entry');
  await group(ctx, 'apply.plan.manual', 'intent_executor_manual');
}

/** The apply layer writes a stream that no group reads. */
export async function unconsumed(ctx: Ctx): Promise<void> {
  await fill(ctx, 'apply.approved', 500, ctx.now - 1500);
}

/** The limit gate counts ledger and snapshot keys: 3 real positions, entries rejected at "47/10". */
export async function positionCountInflated(ctx: Ctx): Promise<void> {
  await hash(ctx, ctx.names.policy(), { version: '1', max_open_positions: '10' });
  for (const s of ['ALGOUSDT', 'AEVOUSDT', 'BTCUSDT']) await hash(ctx, ctx.names.position(s), { symbol: s, side: 'LONG', qty: '5', entry_price: '1' });
  for (let i = 0; i < 26; i++) await hash(ctx, ctx.names.ledger(`L${i}USDT`), { realized_pnl: '0', trades: '1' });
  for (let i = 0; i < 18; i++) await hash(ctx, ctx.names.snapshot(`S${i}USDT`), { qty: '0', side: 'FLAT', ts: String(ctx.now) });
  await metrics(ctx, 'apply_layer', { in: 40, out: 2, rejected: 38, 'rej:position_limit_reached': 38 });
  await rejections(ctx, 'apply_layer', 'position_limit_reached', 38, () => ({ symbol: 'ETHUSDT', action: 'OPEN', source: 'intent_bridge' }), 'position limit reached (47/10)');
}

/** 72 ghost keys (26 positions with qty 0 or missing, 46 snapshots at 0) next to 10 real positions. */
export async function ghosts72(ctx: Ctx): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await hash(ctx, ctx.names.position(`R${i}USDT`), { symbol: `R${i}USDT`, side: 'LONG', qty: '1', entry_price: '1' });
    await stopFor(ctx, `R${i}USDT`, 'LONG', 1);
  }
  for (let i = 0; i < 26; i++) await hash(ctx, ctx.names.position(`G${i}USDT`), i % 2 ? { symbol: `G${i}USDT`, qty: '0' } : { symbol: `G${i}USDT`, side: 'LONG' });
  for (let i = 0; i < 46; i++) await hash(ctx, ctx.names.snapshot(`G${i}USDT`), { qty: '0', ts: '1' });
  for (let i = 0; i < 20; i++) await hash(ctx, ctx.names.ledger(`G${i}USDT`), { realized_pnl: '0', trades: '0' });
}

/** intent_executor beats but handles nothing; execution.result is 8 days stale. */
export async function silentExecution(ctx: Ctx): Promise<void> {
  await fill(ctx, 'execution.result', 2154, ctx.now - 8 * DAY);
  await fill(ctx, 'apply.approved', 300, ctx.now - 1000);
  await group(ctx, 'apply.approved', 'intent_executor', '0');
  await fill(ctx, 'apply.result', 300, ctx.now - 2000);
  await registry(ctx, 'intent_executor');
  await beat(ctx, 'intent_executor', { last_msg_at: String(ctx.now - 8 * DAY), processed: '0' });
}

/** Failed services: one reports failed, three never came up. */
export async function failedServices(ctx: Ctx): Promise<void> {
  await registry(ctx, 'intent_bridge', 'harvest_brain', 'risk_guard', 'rl_agent', 'verify_ensemble');
  await beat(ctx, 'intent_bridge');
  await beat(ctx, 'harvest_brain', { status: 'failed', last_error: 'exit-code 203/EXEC: harvest_brain.py not found' });
}

/** Reconciliation refused by the exchange with 401 / -2015. */
export async function auth401(ctx: Ctx): Promise<void> {
  await registry(ctx, 'reconciler');
  await beat(ctx, 'reconciler', { status: 'degraded', last_error: 'binance 401 Unauthorized {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}' });
  await rejections(ctx, 'reconciler', 'auth_failed', 3, () => ({ symbol: 'AEVOUSDT', action: 'CLOSE' }), 'fetchPositions: 401 -2015 Invalid API-key');
}

/** Closes fail on quantity precision at the executor. */
export async function closePrecision(ctx: Ctx): Promise<void> {
  await metrics(ctx, 'intent_executor', { in: 20, out: 2, rejected: 18, 'rej:precision_invalid': 18 });
  await rejections(ctx, 'intent_executor', 'precision_invalid', 18,
    () => ({ symbol: 'AEVOUSDT', action: 'CLOSE', qty: '75179.23456', reduceOnly: 'true', source: 'harvest_brain' }), 'exchange -1111: Precision is over the maximum defined for this asset');
}

/** Unknown PARTIAL_25 variants from the exit producer. */
export async function partialVariants(ctx: Ctx): Promise<void> {
  await metrics(ctx, 'intent_bridge', { in: 30, out: 10, rejected: 20, 'rej:action_unknown_variant': 20 });
  await rejections(ctx, 'intent_bridge', 'action_unknown_variant', 20,
    () => ({ symbol: 'AEVOUSDT', action: 'partial_25_unknown_variant', source: 'harvest_brain', intent_type: 'HARVEST' }), 'action_normalized_partial_25_unknown_variant');
}

/** Empty control-plane streams with groups, next to a live pipeline. */
export async function emptyControlPlane(ctx: Ctx): Promise<void> {
  await fill(ctx, 'trade.intent', 50, ctx.now - 1000);
  await group(ctx, 'trade.intent', 'intent_bridge', '0');
  await consumeAll(ctx, 'trade.intent', 'intent_bridge');
  for (const [s, g] of [['policy.updated', 'policy_watch'], ['model.retrain', 'trainer'], ['reconcile.close', 'reconciler']]) await group(ctx, s!, g!);
}

/** A group with 23 consumers, all idle; 5 hold pending entries. */
export async function deadConsumers(ctx: Ctx): Promise<void> {
  await fill(ctx, 'apply.plan', 100, ctx.now - 1000);
  await group(ctx, 'apply.plan', 'apply_layer_entry', '0');
  const k = `${ctx.names.prefix}:stream:apply.plan`;
  for (let i = 0; i < 23; i++) {
    if (i < 5) await ctx.redis.xreadgroup('GROUP', 'apply_layer_entry', `old-host:${1000 + i}`, 'COUNT', 2, 'STREAMS', k, '>');
    else await ctx.redis.call('XGROUP', 'CREATECONSUMER', k, 'apply_layer_entry', `old-host:${1000 + i}`);
  }
}

/** A poison message: one entry delivered 7 times and never acknowledged. */
export async function poisonMessage(ctx: Ctx): Promise<void> {
  await fill(ctx, 'apply.approved', 10, ctx.now - 1000);
  await group(ctx, 'apply.approved', 'intent_executor', '0');
  await consumeAll(ctx, 'apply.approved', 'intent_executor');
  const k = ctx.names.stream('apply.approved');
  const id = `${ctx.now - 1000 - 9 * 10}-0`;
  await ctx.redis.xadd(k, '*', 'plan_id', 'poison', 'qty', 'NaN');
  const r = (await ctx.redis.xreadgroup('GROUP', 'intent_executor', 'box:42', 'COUNT', 1, 'STREAMS', k, '>')) as [string, [string, string[]][]][];
  await ctx.redis.xclaim(k, 'intent_executor', 'box:42', 0, r[0]![1][0]![0], 'RETRYCOUNT', 7);
  void id;
}

/**
 * Our engine at its limit, legitimately: the gate refused entries at "open 10 >= limit 10
 * (7 positions + 3 approved, not yet filled)"; `open` positions are open now, and each has
 * its ledger and snapshot key (so more keys match position:* than positions are open).
 */
export function limitReached(open: number): (ctx: Ctx) => Promise<void> {
  return async (ctx) => {
    await hash(ctx, ctx.names.policy(), { version: '1', max_open_positions: '10' });
    for (let i = 0; i < open; i++) {
      const s = `P${i}USDT`;
      await hash(ctx, ctx.names.position(s), { symbol: s, side: 'LONG', qty: '1', entry_price: '1', updated_at: String(ctx.now) });
      await hash(ctx, ctx.names.snapshot(s), { qty: '1', side: 'LONG', entry_price: '1', mark_price: '1', ts: String(ctx.now) });
      await hash(ctx, ctx.names.ledger(s), { realized_pnl: '0', trades: '1' });
    }
    await metrics(ctx, 'apply_layer', { in: 17, out: 15, rejected: 2, 'rej:position_limit_reached': 2 });
    await rejections(ctx, 'apply_layer', 'position_limit_reached', 2, () => ({ symbol: 'XRPUSDT', action: 'OPEN', source: 'intent_bridge' }),
      'open 10 >= limit 10 (7 positions + 3 approved, not yet filled)');
  };
}
export * from './redis-numbers.js';
