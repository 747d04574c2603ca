/**
 * intent_executor: reads `apply.approved` only, sends each approved plan to the
 * exchange as a market order with a client order id derived from the plan, and records
 * the fill. The order's life is kept in the `order` key: PENDING is persisted before
 * the exchange call, so a plan seen again (redelivery after a crash, a timeout whose
 * outcome is unknown) is first looked up by its client id and never sent twice.
 * Position, ledger, order state and then the `apply.result` / `execution.result`
 * announcements are written in the runner's batch transaction by one guarded script
 * (executor-commit.ts): the position as it is at commit time (plans of one batch and
 * several executors compound), and nothing at all when the order is already final (an
 * entry handled twice at once still has one effect).
 * Before anything is sent, the age gate (age-gate.ts): an entry whose intent is older than
 * the policy's `entry_max_age_ms` is refused `intent_expired`; an old exit is re-checked
 * against the position as it is now. An order already sent (found by client id) is never
 * expired: its fill is recorded.
 *
 * Binance's real behaviour (executor-lookup.ts, docs/binance.md "Conformance"): an unknown
 * outcome (5xx, -1006, -1007, timeout, dropped reply) is looked up by client id with
 * backoff, and the order is sent again only after "does not exist" answers spanning
 * `lookupWindowMs`; a PARTIALLY_FILLED answer is polled until the order is final; a -2022
 * on a reduce-only order re-reads that symbol's exchange position and brings the engine's
 * record into line (a resync record for POSITION_DRIFT); while the exchange bans this host
 * (418) or asks to back off (429), the stage holds (`holdUntil`) and reads nothing, so no
 * plan spends its delivery budget.
 */
import type { ApplyApproved, ApplyResult } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import { errorMessage } from '../../errors.js';
import type { EngineDeps } from '../engine.js';
import { floorToStep } from '../exchange/precision.js';
import { REDUCE_ONLY_REJECTED } from '../exchange/binance/errors.js';
import { withExitSplitting } from '../exchange/split-exits.js';
import { ExchangeError, type Exchange, type OrderAck, type OrderRequest } from '../exchange/types.js';
import { ok, reject, type ConsumerStage, type Delivery, type Outcome, type StageContext, type StateWrite } from '../runtime/types.js';
import { isFinal, lookUpUntilSure, settleOrder } from './executor-lookup.js';
import { resyncTo } from './executor-resync.js';
import { commitFill, commitRefusal } from './executor-commit.js';
import { DEFAULT_POLICY, readPosition } from '../../contract/state.js';
import { PolicyCache, policyFromConfig } from '../state/policy.js';
import { entryExpiry, originOf, staleExitCheck, type AgeRefusal } from './age-gate.js';
import { applyFillArgs, clientOrderIdFor } from './executor-position.js';
import { canRestStops, ensureStop, quietly } from '../protect/stops.js';
import { ReplicatedWrites } from '../../redis/replication.js';
import { failUnfulfilledOnReconnect, newRedis, redisOptions } from '../../redis/connect.js';

export interface IntentExecutorOptions {
  exchange: Exchange;
  names: Names;
  mode: string;
  /** The stage starts/stops the exchange (when it created it itself). */
  ownsExchange?: boolean;
  /** QT_MAX_DELIVERIES: past it, an entry whose order the exchange does not have is refused, not sent. */
  maxDeliveries?: number;
  /** How long an acknowledged order that is not final yet (NEW, PARTIALLY_FILLED) is polled before the entry is retried later, ms (default 10 s). */
  settleWindowMs?: number;
  /**
   * After an unknown outcome: how long "does not exist" answers must last before the order
   * is sent again, ms (QT_ORDER_LOOKUP_MS; default 15 s). 0 for an exchange whose lookups
   * see every accepted order at once (the paper exchange reads its own Redis state).
   */
  lookupWindowMs?: number;
  /** First pause between lookups, ms (default 250; doubles up to 2 s). */
  lookupFirstDelayMs?: number;
  /** MAXLEN ~ of apply.result / execution.result (QT_STREAM_MAXLEN). */
  streamMaxLen?: number;
  /** The policy (its `entry_max_age_ms`); default: the stored policy over DEFAULT_POLICY. */
  policy?: PolicyCache;
  /**
   * QT_STOP_ON_EXCHANGE (default true when the exchange can rest stops): once a batch's fills are
   * committed, each filled symbol's protective stop is placed at once (or cancelled when the
   * position closed); protect/stops.ts. harvest_brain completes whatever a crash interrupts.
   */
  protectStops?: boolean;
  /**
   * When set (QT_REDIS_WAIT_REPLICAS ≥ 1): the order record (PENDING, `phase` sending, …)
   * is written on this connection and confirmed on the replicas (WAIT) before any order
   * leaves, so a failover cannot bring back a primary that never saw it and send it again
   * (src/redis/replication.ts). Not confirmed: nothing is sent, the entry stays pending.
   */
  replicated?: ReplicatedWrites;
}

interface Batch {
  /** The order keys of the batch's plans, by client order id, read in one round trip. */
  orders: Map<string, Record<string, string>>;
  /** Client ids already handled in this batch. */
  seen: Set<string>;
  /** Client ids whose PENDING this batch wrote (never seen before: no look-up needed). */
  fresh: Set<string>;
  /** Answers of the batch's one-call submission, by client id. */
  sent: Map<string, OrderAck | ExchangeError>;
  /** Plans not to send, by client id: expired entries, and old exits the position no longer takes (age-gate.ts). */
  aged: Map<string, AgeRefusal>;
  /** Old exits: the open quantity now, which caps them. */
  openQty: Map<string, number>;
}

const FINAL = new Set(['FILLED', 'REJECTED']);
/** Sends of one plan within one handling: each after a whole window of "does not exist". */
const MAX_INLINE_SENDS = 2;

/**
 * KEYS: the batch's order keys (each once). ARGV: now, then plan_id, symbol, qty, client
 * order id per key.
 * Returns each key's hash as it was (flat), empty for a key it has just written PENDING.
 */
const MARK_PENDING_LUA = `
local out = {}
for i, k in ipairs(KEYS) do
  local h = redis.call('HGETALL', k)
  if #h == 0 then
    local j = 2 + (i - 1) * 4
    redis.call('HSET', k, 'status', 'PENDING', 'plan_id', ARGV[j], 'symbol', ARGV[j + 1], 'client_order_id', ARGV[j + 3], 'qty', ARGV[j + 2], 'ts', ARGV[1])
  end
  out[i] = h
end
return out
`;

export function createIntentExecutor(o: IntentExecutorOptions): ConsumerStage<'apply.approved', Batch> {
  const { names } = o;
  // Reduce-only exits above the market-order maximum go out as child orders of one plan (issue 17).
  const exchange = withExitSplitting(o.exchange);
  const leverageSet = new Map<string, number>();
  let degradedByAuth = false;
  const policyCache = o.policy ?? new PolicyCache(names, DEFAULT_POLICY);
  const stopExchange = o.protectStops !== false && canRestStops(o.exchange) ? o.exchange : null;
  /** Symbols filled in the batch in hand; their stops are seen to once it is committed. */
  let filledSymbols = new Set<string>();
  const placing = new Set<Promise<void>>();
  /** Where the order records are written: the replicated connection when there is one. */
  const orderConn = (ctx: StageContext) => o.replicated?.redis ?? ctx.redis;
  /** Before an exchange call: the order record's writes since `mark` are on the replicas (no-op without `replicated`). */
  const confirmReplicated = async (mark: number, what: string) => {
    if (o.replicated) await o.replicated.confirm(mark, what);
  };
  const markWrites = () => o.replicated?.mark() ?? 0;

  type ResultExtra = Omit<ApplyResult, 'plan_id' | 'intent_id' | 'ts' | 'symbol' | 'side' | 'action' | 'source' | 'mode'>;
  const maxLen = o.streamMaxLen ?? 100000;
  const result = (plan: ApplyApproved, now: number, extra: ResultExtra): ApplyResult => ({
    plan_id: plan.plan_id,
    intent_id: plan.intent_id,
    ts: now,
    symbol: plan.symbol,
    side: plan.side,
    action: plan.action,
    source: plan.source,
    mode: o.mode,
    ...extra,
  });

  /** A refusal: counted, announced as not executed, the order key final (REJECTED). */
  function refuse(
    plan: ApplyApproved, cid: string, e: ExchangeError | { reason: ExchangeError['reason']; detail: string }, ctx: StageContext,
    extra: { detail?: string; state?: StateWrite[] } = {},
  ): Outcome {
    const detail = (e instanceof ExchangeError ? `${exchange.name} ${e.code}: ${e.message}` : e.detail) + (extra.detail ?? '');
    const now = ctx.now();
    if (e.reason === 'auth_failed') {
      degradedByAuth = true;
      ctx.setStatus('degraded', 'exchange refused the credentials: check the API key / IP whitelist');
    }
    const order = { status: 'REJECTED', plan_id: plan.plan_id, symbol: plan.symbol, client_order_id: cid, reason: e.reason, detail: detail.slice(0, 500), updated_at: String(now) };
    const res = result(plan, now, { executed: false, reason: e.reason, detail: detail.slice(0, 1000), client_order_id: cid });
    return reject(e.reason, detail, { symbol: plan.symbol, refId: plan.plan_id, state: [commitRefusal(names, cid, order, res, maxLen), ...(extra.state ?? [])] });
  }

  const lookupOpts = () => ({ windowMs: o.lookupWindowMs ?? 15_000, firstDelayMs: o.lookupFirstDelayMs ?? 250 });

  /** -2022 on a reduce-only order: re-read the symbol's exchange position now and resync (executor-resync.ts). */
  async function resync(plan: ApplyApproved, cid: string, e: ExchangeError, ctx: StageContext): Promise<Outcome> {
    const positions = await exchange.fetchPositions(); // a failure leaves the entry pending: tried again later
    const r = resyncTo(names, plan, e.code, positions, await ctx.redis.hgetall(names.position(plan.symbol)), ctx.now());
    ctx.log.warn('reduce-only order refused (-2022): engine position brought into line with the exchange', { symbol: plan.symbol, engine: r.record.engine, exchange: r.record.exchange });
    return refuse(plan, cid, e, ctx, { detail: r.detail, state: [r.write] });
  }

  async function send(plan: ApplyApproved, cid: string, qty: number, ctx: StageContext, pendingExists: boolean): Promise<OrderAck | Outcome> {
    const key = names.order(cid);
    if (!plan.reduceOnly && leverageSet.get(plan.symbol) !== plan.leverage) {
      try {
        await exchange.setLeverage(plan.symbol, plan.leverage);
        leverageSet.set(plan.symbol, plan.leverage);
      } catch (e) {
        if (e instanceof ExchangeError && !e.retryable && !e.unknownOutcome) return refuse(plan, cid, e, ctx);
        throw e;
      }
    }
    const mark = markWrites();
    if (!pendingExists) {
      // Persisted before the call (not via the batch commit): a crash after this line is found on restart.
      await orderConn(ctx).hset(key, { status: 'PENDING', plan_id: plan.plan_id, symbol: plan.symbol, client_order_id: cid, qty: String(qty), ts: String(ctx.now()) });
    }
    for (let attempt = 1; ; attempt++) {
      const since = attempt === 1 ? mark : markWrites();
      // `phase` sending: a crash from here on leaves an outcome that only a lookup can settle.
      await orderConn(ctx).multi().hset(key, { phase: 'sending' }).hincrby(key, 'sends', 1).exec();
      // On a replica before the order leaves: a failover then still knows it was sent (looked up, not resent).
      await confirmReplicated(since, `order ${cid}`);
      try {
        return await exchange.submitMarketOrder({ symbol: plan.symbol, side: plan.side, qty, reduceOnly: plan.reduceOnly, clientOrderId: cid, leverage: plan.leverage });
      } catch (e) {
        const r = await sendFailed(e, plan, cid, ctx);
        if (r !== 'resend') return r;
        if (attempt >= MAX_INLINE_SENDS) throw e; // still UNKNOWN: the next delivery looks it up again first
      }
    }
  }

  /**
   * What a failed submission means: a known order, a refusal, a retry later (thrown), or
   * `resend` when the outcome was unknown and the order stayed absent for the whole window.
   */
  async function sendFailed(e: unknown, plan: ApplyApproved, cid: string, ctx: StageContext): Promise<OrderAck | Outcome | 'resend'> {
    const key = names.order(cid);
    if (!(e instanceof ExchangeError)) throw e;
    if (e.reason === 'duplicate') {
      // An open order has this client id already (Binance -4116): use it, never a second one.
      const r = await lookUpUntilSure(exchange, plan.symbol, cid, lookupOpts());
      if (r.kind === 'found') return r.ack;
      throw e;
    }
    if (e.unknownOutcome) {
      await orderConn(ctx).hset(key, { status: 'UNKNOWN', phase: 'unknown', unknown_at: String(ctx.now()), updated_at: String(ctx.now()), last_error: errorMessage(e).slice(0, 300) });
      const r = await lookUpUntilSure(exchange, plan.symbol, cid, lookupOpts());
      if (r.kind === 'found') {
        ctx.log.info('unknown outcome resolved: order found by client id; not resent', { cid, lookups: r.lookups, status: r.ack.status });
        return r.ack;
      }
      await orderConn(ctx).hset(key, { absent_lookups: String(r.lookups), absent_ms: String(r.spanMs) });
      ctx.log.warn('unknown outcome: the order stayed absent for the whole lookup window; sending it again', { cid, lookups: r.lookups, span_ms: r.spanMs });
      return 'resend';
    }
    if (e.code === REDUCE_ONLY_REJECTED && plan.reduceOnly) return resync(plan, cid, e, ctx);
    if (e.retryable) {
      // Refused before execution (429/418, -1008, -1021): nothing to look up next time.
      await orderConn(ctx).hset(key, { phase: 'not_sent', updated_at: String(ctx.now()), last_error: errorMessage(e).slice(0, 300) });
      throw e;
    }
    return refuse(plan, cid, e, ctx);
  }

  /** The whole batch's new orders in one exchange call, when the exchange can (after their PENDING is persisted). */
  async function presubmit(batch: Delivery<ApplyApproved>[], fresh: Set<string>, held: Set<string>, ctx: StageContext): Promise<Map<string, OrderAck | ExchangeError>> {
    const results = new Map<string, OrderAck | ExchangeError>();
    if (!exchange.submitMarketOrders || fresh.size < 2) return results;
    const reqs: OrderRequest[] = [];
    const taken = new Set<string>();
    for (const d of batch) {
      const plan = { ...d.message, leverage: Math.max(1, Math.floor(d.message.leverage)) };
      const cid = clientOrderIdFor(plan.plan_id);
      if (!fresh.has(cid) || taken.has(cid) || held.has(cid)) continue;
      const rules = exchange.rules(plan.symbol);
      const qty = rules ? floorToStep(plan.qty, rules.marketStepSize) : plan.qty;
      if (!(qty > 0)) continue;
      if (!plan.reduceOnly && leverageSet.get(plan.symbol) !== plan.leverage) {
        try {
          await exchange.setLeverage(plan.symbol, plan.leverage);
          leverageSet.set(plan.symbol, plan.leverage);
        } catch {
          continue; // handled one by one, with its refusal
        }
      }
      taken.add(cid);
      reqs.push({ symbol: plan.symbol, side: plan.side, qty, reduceOnly: plan.reduceOnly, clientOrderId: cid, leverage: plan.leverage });
    }
    if (reqs.length < 2) return results;
    try {
      const res = await exchange.submitMarketOrders(reqs);
      reqs.forEach((r, i) => results.set(r.clientOrderId, res[i]));
    } catch (e) {
      ctx.log.debug('batch submission failed; orders go one by one', { error: errorMessage(e) });
      return new Map(); // nothing known: each order is looked up by client id before it is sent again
    }
    return results;
  }

  /**
   * The batch's age gate (age-gate.ts): entries older than the policy's entry_max_age_ms
   * are refused `intent_expired`; exits older than it are re-checked against the position
   * as it is now (one read of those symbols' position hashes) and capped at its quantity.
   */
  async function ageCheck(plans: Map<string, ApplyApproved>, ctx: StageContext): Promise<{ aged: Map<string, AgeRefusal>; openQty: Map<string, number> }> {
    const now = ctx.now();
    const limit = (await policyCache.get(ctx.redis, now)).entry_max_age_ms;
    const aged = new Map<string, AgeRefusal>();
    const openQty = new Map<string, number>();
    const staleExits: [string, ApplyApproved][] = [];
    for (const [cid, p] of plans) {
      if (!p.reduceOnly) {
        const r = entryExpiry(`entry approval ${p.plan_id}`, originOf(p), now, limit);
        if (r) aged.set(cid, r);
      } else if (now - originOf(p) > limit && limit > 0) staleExits.push([cid, p]);
    }
    if (staleExits.length === 0) return { aged, openQty };
    const symbols = [...new Set(staleExits.map(([, p]) => p.symbol))];
    const pipe = ctx.redis.pipeline();
    for (const s of symbols) pipe.hgetall(names.position(s));
    const res = (await pipe.exec()) ?? [];
    const positions = new Map(symbols.map((s, i) => {
      const [err, h] = res[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      return [s, readPosition(s, (h as Record<string, string>) ?? {})] as const;
    }));
    for (const [cid, p] of staleExits) {
      const pos = positions.get(p.symbol);
      const r = staleExitCheck(`exit approval ${p.plan_id}`, p.symbol, p.side, originOf(p), now, limit, pos);
      if (r) aged.set(cid, r);
      else if (pos) openQty.set(cid, pos.qty);
    }
    return { aged, openQty };
  }

  function filled(plan: ApplyApproved, cid: string, ack: OrderAck, ctx: StageContext): Outcome {
    const now = ctx.now();
    filledSymbols.add(plan.symbol);
    const step = exchange.rules(plan.symbol)?.marketStepSize ?? 0;
    const fillArgs = applyFillArgs({ side: ack.side, qty: ack.filledQty, price: ack.avgPrice, ts: ack.ts || now }, plan, step);
    if (degradedByAuth) {
      degradedByAuth = false;
      ctx.setStatus('running');
    }
    const ts = ack.ts || now;
    const commit = commitFill({
      names,
      cid,
      symbol: plan.symbol,
      planId: plan.plan_id,
      now,
      fillArgs,
      pnl: ack.realizedPnl,
      fee: ack.fee,
      order: {
        status: 'FILLED',
        plan_id: plan.plan_id,
        symbol: plan.symbol,
        client_order_id: cid,
        order_id: ack.orderId,
        filled_qty: String(ack.filledQty),
        avg_price: String(ack.avgPrice),
        updated_at: String(now),
      },
      result: result(plan, now, {
        executed: true,
        order_id: ack.orderId,
        client_order_id: cid,
        filled_qty: ack.filledQty,
        avg_price: ack.avgPrice,
        fee: ack.fee,
        latency_ms: Math.max(0, ts - (plan.intent_ts ?? plan.ts)),
        realized_pnl: ack.realizedPnl,
      }),
      execution: {
        order_id: ack.orderId,
        client_order_id: cid,
        plan_id: plan.plan_id,
        symbol: plan.symbol,
        side: ack.side,
        qty: ack.filledQty,
        price: ack.avgPrice,
        fee: ack.fee,
        status: ack.status === 'EXPIRED_IN_MATCH' ? 'EXPIRED' : ack.status,
        reduceOnly: plan.reduceOnly,
        realized_pnl: ack.realizedPnl,
        ts,
      },
      maxLen,
    });
    // The announcements are written by the same guarded script, after the state (see executor-commit.ts).
    return ok([], [commit]);
  }

  return {
    name: 'intent_executor',
    input: 'apply.approved',

    async prepare(batch: Delivery<ApplyApproved>[], ctx: StageContext): Promise<Batch> {
      filledSymbols = new Set();
      // One round trip: every order key of the batch, and PENDING written for each plan never
      // seen before, BEFORE any exchange call: a crash after this point is found on restart
      // and looked up by client id.
      const first = new Map<string, ApplyApproved>();
      for (const d of batch) {
        const cid = clientOrderIdFor(d.message.plan_id);
        if (!first.has(cid)) first.set(cid, d.message);
      }
      const cids = [...first.keys()];
      const now = String(ctx.now());
      const args: string[] = [now];
      for (const [cid, m] of first) args.push(m.plan_id, m.symbol, String(m.qty), cid);
      const mark = markWrites();
      const res = (await orderConn(ctx).eval(MARK_PENDING_LUA, cids.length, ...cids.map((c) => names.order(c)), ...args)) as string[][];
      const orders = new Map<string, Record<string, string>>();
      const fresh = new Set<string>();
      cids.forEach((c, i) => {
        const flat = res[i] ?? [];
        if (flat.length === 0) {
          fresh.add(c);
          orders.set(c, {});
          return;
        }
        const h: Record<string, string> = {};
        for (let k = 0; k + 1 < flat.length; k += 2) h[String(flat[k])] = String(flat[k + 1]);
        orders.set(c, h);
      });
      // The PENDING records on a replica before the batch's one-call submission (presubmit).
      if (fresh.size) await confirmReplicated(mark, `${fresh.size} new order record(s)`);
      const { aged, openQty } = await ageCheck(first, ctx);
      const sent = await presubmit(batch, fresh, new Set([...aged.keys(), ...openQty.keys()]), ctx);
      return { orders, seen: new Set(), fresh, sent, aged, openQty };
    },

    async handle(d: Delivery<ApplyApproved>, batch: Batch, ctx: StageContext): Promise<Outcome> {
      // Binance takes whole leverage only: a fractional one from a producer is rounded down.
      const plan = { ...d.message, leverage: Math.max(1, Math.floor(d.message.leverage)) };
      const cid = clientOrderIdFor(plan.plan_id);
      if (batch.seen.has(cid)) {
        return reject('duplicate', `plan ${plan.plan_id} appears twice in one batch (client order id ${cid}); sent once`, { symbol: plan.symbol, refId: plan.plan_id });
      }
      batch.seen.add(cid);
      const existing = batch.orders.get(cid) ?? (await ctx.redis.hgetall(names.order(cid)));
      const isFresh = batch.fresh.has(cid);
      if (FINAL.has(existing.status)) {
        return reject('duplicate', `plan ${plan.plan_id} was already handled: order ${cid} is ${existing.status}${existing.order_id ? ` (order_id ${existing.order_id})` : ''}; not sent again`, {
          symbol: plan.symbol,
          refId: plan.plan_id,
        });
      }
      // Seen before but not final (crash, unknown outcome): ask the exchange before sending
      // anything, until found or absent for a whole window (lookups lag: executor-lookup.ts).
      // `not_sent`: the last request was refused before execution; nothing can exist.
      let ack: OrderAck | null = null;
      if (existing.status && !isFresh && existing.phase !== 'not_sent') {
        const r = await lookUpUntilSure(exchange, plan.symbol, cid, lookupOpts());
        if (r.kind === 'found') {
          ack = r.ack;
          ctx.log.info('order found by client id; not resent', { cid, status: existing.status, order_id: ack.orderId, lookups: r.lookups });
        }
      }
      if (!ack) {
        // Nothing was sent for this plan: an expired entry, or an old exit the position no longer takes, stops here.
        const aged = batch.aged.get(cid);
        if (aged) return refuse(plan, cid, aged, ctx);
        // Delivered too often without being settled (crashes mid-batch): the lookup above found
        // no order, so none exists; refuse it instead of sending now (never a poison dead letter
        // that could drop an order an earlier delivery sent: resolvesRedelivery).
        if (o.maxDeliveries !== undefined && d.deliveries > o.maxDeliveries) {
          return refuse(plan, cid, { reason: 'exchange_unavailable', detail: `delivered ${d.deliveries} times without being settled (max ${o.maxDeliveries}); the exchange has no order ${cid}: not sent` }, ctx);
        }
        const rules = exchange.rules(plan.symbol);
        const open = batch.openQty.get(cid);
        const want = open !== undefined ? Math.min(plan.qty, open) : plan.qty;
        const qty = rules ? floorToStep(want, rules.marketStepSize) : want;
        if (!(qty > 0)) {
          return refuse(plan, cid, { reason: 'below_min_qty', detail: `qty ${plan.qty} rounds to 0 at step ${rules?.marketStepSize}` }, ctx);
        }
        const pre = batch.sent.get(cid);
        let sent = pre === undefined ? await send(plan, cid, qty, ctx, !!existing.status || isFresh) : pre instanceof ExchangeError ? await sendFailed(pre, plan, cid, ctx) : pre;
        if (sent === 'resend') sent = await send(plan, cid, qty, ctx, true);
        if ('kind' in sent) return sent;
        ack = sent;
      }
      // Only FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH, REJECTED end an order; its cumulative executed quantity is booked then.
      ack = await settleOrder(exchange, ack, { windowMs: o.settleWindowMs ?? 10_000 });
      if (!isFinal(ack)) {
        await orderConn(ctx).hset(names.order(cid), { status: 'SUBMITTED', phase: 'acknowledged', order_id: ack.orderId, filled_qty: String(ack.filledQty), updated_at: String(ctx.now()) });
        throw new Error(`order ${cid} acknowledged (${ack.status}, executed ${ack.filledQty}) but not final yet; will look it up again`);
      }
      if (ack.filledQty <= 0) {
        return refuse(plan, cid, { reason: 'exchange_rejected', detail: `${exchange.name}: order ${ack.orderId} ended ${ack.status} without a fill` }, ctx);
      }
      return filled(plan, cid, ack, ctx);
    },

    resolvesRedelivery: true,

    committed(_outcomes, ctx) {
      if (!stopExchange || filledSymbols.size === 0) return;
      const syms = [...filledSymbols];
      filledSymbols = new Set();
      // After the commit: the engine's position as written. Not awaited (the next batch goes on);
      // a crash here leaves no stop, which harvest_brain's next pass (≤ 1 s) places.
      const run = (async () => {
        const p = ctx.redis.pipeline();
        for (const s of syms) p.hgetall(names.position(s));
        const res = (await p.exec()) ?? [];
        await Promise.all(syms.map((s, i) => {
          const pos = readPosition(s, (res[i]?.[1] ?? {}) as Record<string, string>);
          const deps = { redis: ctx.redis, names, exchange: stopExchange, now: () => ctx.now(), log: ctx.log };
          return ensureStop(deps, s, pos, pos?.sl_price ?? 0, { mode: 'initial' });
        }));
      })();
      const q = quietly(run, ctx.log, 'protective stop after a fill');
      placing.add(q);
      void q.finally(() => placing.delete(q));
    },

    async holdUntil() {
      return (await exchange.limitedUntil?.()) ?? null;
    },

    async start() {
      if (o.ownsExchange) await exchange.start();
    },
    async stop() {
      await Promise.all([...placing]);
      if (o.ownsExchange) await exchange.stop();
      o.replicated?.redis.disconnect();
    },
  };
}

/**
 * The registry's factory: uses the daemon's shared exchange when it set one, otherwise
 * creates the configured exchange itself (and then starts and stops it).
 */
export async function intentExecutorFromDeps(deps: EngineDeps): Promise<ConsumerStage<'apply.approved', Batch>> {
  const policy = new PolicyCache(deps.config.names, policyFromConfig(deps.config));
  // The paper exchange's lookups read its own Redis state: an accepted order is visible at once.
  const lookupWindowMs = (x: Exchange) => (x.name === 'paper' ? 0 : deps.config.orderLookupMs);
  const replicated = replicatedWrites(deps);
  if (deps.exchange) {
    const x = deps.exchange as Exchange;
    return createIntentExecutor({ exchange: x, names: deps.config.names, mode: deps.mode, streamMaxLen: deps.config.runtime.streamMaxLen, lookupWindowMs: lookupWindowMs(x), policy, maxDeliveries: deps.config.runtime.maxDeliveries, replicated, protectStops: deps.config.protect.enabled });
  }
  const { createExchange } = await import('../exchange/index.js');
  const exchange = await createExchange(deps.config, deps.writer, deps.log);
  return createIntentExecutor({ exchange, names: deps.config.names, mode: deps.mode, ownsExchange: true, streamMaxLen: deps.config.runtime.streamMaxLen, lookupWindowMs: lookupWindowMs(exchange), policy, maxDeliveries: deps.config.runtime.maxDeliveries, replicated, protectStops: deps.config.protect.enabled });
}

/**
 * QT_REDIS_WAIT_REPLICAS ≥ 1 (the default with Redis Sentinel): a connection of the
 * executor's own for its order records, which never resends a command after a reconnect
 * (replication.ts), and the WAIT that confirms them. Undefined with 0.
 */
function replicatedWrites(deps: EngineDeps): ReplicatedWrites | undefined {
  const c = deps.config;
  if (!((c.redisWait?.replicas ?? 0) > 0)) return undefined;
  const name = 'qt:intent_executor:orders';
  const conn = failUnfulfilledOnReconnect(newRedis(c.redisUrl, {
    ...redisOptions({ url: c.redisUrl, tls: c.redisTls, role: 'worker', name }),
    autoResendUnfulfilledCommands: false,
    lazyConnect: false,
  }));
  conn.on('error', (e: Error) => deps.log.debug('redis (order records) error', { error: e.message }));
  deps.watch?.(conn, name);
  return new ReplicatedWrites(conn, c.redisWait.replicas, c.redisWait.timeoutMs);
}
