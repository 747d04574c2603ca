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
 */
import type { ApplyApproved, ApplyResult } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import { errorMessage } from '../../errors.js';
import type { EngineDeps } from '../engine.js';
import { floorToStep } from '../exchange/precision.js';
import { withExitSplitting } from '../exchange/split-exits.js';
import { ExchangeError, type Exchange, type OrderAck, type OrderRequest } from '../exchange/types.js';
import { ok, reject, type ConsumerStage, type Delivery, type Outcome, type StageContext } from '../runtime/types.js';
import { commitFill, commitRefusal } from './executor-commit.js';
import { applyFillArgs, clientOrderIdFor } from './executor-position.js';

export interface IntentExecutorOptions {
  exchange: Exchange;
  names: Names;
  mode: string;
  /** The stage starts/stops the exchange (when it created it itself). */
  ownsExchange?: boolean;
  /** Polls of an order the exchange acknowledged as not yet filled (market orders fill at once). */
  settlePolls?: number;
  settlePollMs?: number;
  /** MAXLEN ~ of apply.result / execution.result (QT_STREAM_MAXLEN). */
  streamMaxLen?: number;
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
}

const FINAL = new Set(['FILLED', 'REJECTED']);
const DEAD_ACK = new Set(['CANCELED', 'EXPIRED', 'REJECTED']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  function refuse(plan: ApplyApproved, cid: string, e: ExchangeError | { reason: ExchangeError['reason']; detail: string }, ctx: StageContext): Outcome {
    const detail = e instanceof ExchangeError ? `${exchange.name} ${e.code}: ${e.message}` : e.detail;
    const now = ctx.now();
    if (e.reason === 'auth_failed') {
      degradedByAuth = true;
      ctx.setStatus('degraded', 'exchange refused the credentials: check the API key / IP whitelist');
    }
    const order = { status: 'REJECTED', plan_id: plan.plan_id, symbol: plan.symbol, client_order_id: cid, reason: e.reason, detail: detail.slice(0, 500), updated_at: String(now) };
    const res = result(plan, now, { executed: false, reason: e.reason, detail: detail.slice(0, 1000), client_order_id: cid });
    return reject(e.reason, detail, { symbol: plan.symbol, refId: plan.plan_id, state: [commitRefusal(names, cid, order, res, maxLen)] });
  }

  /** Waits briefly for an acknowledged market order to report its fill. */
  async function settle(ack: OrderAck): Promise<OrderAck> {
    let a = ack;
    for (let i = 0; i < (o.settlePolls ?? 5) && a.filledQty <= 0 && !DEAD_ACK.has(a.status); i++) {
      await sleep(o.settlePollMs ?? 200);
      a = (await exchange.fetchOrderByClientId(a.symbol, a.clientOrderId)) ?? a;
    }
    return a;
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
    if (!pendingExists) {
      // Persisted before the call (not via the batch commit): a crash after this line is found on restart.
      await ctx.redis.hset(key, { status: 'PENDING', plan_id: plan.plan_id, symbol: plan.symbol, client_order_id: cid, qty: String(qty), ts: String(ctx.now()) });
    }
    try {
      return await exchange.submitMarketOrder({ symbol: plan.symbol, side: plan.side, qty, reduceOnly: plan.reduceOnly, clientOrderId: cid, leverage: plan.leverage });
    } catch (e) {
      return sendFailed(e, plan, cid, ctx);
    }
  }

  /** What a failed submission means: a known order, a retry later, or a refusal. */
  async function sendFailed(e: unknown, plan: ApplyApproved, cid: string, ctx: StageContext): Promise<OrderAck | Outcome> {
    const key = names.order(cid);
    if (!(e instanceof ExchangeError)) throw e;
    if (e.reason === 'duplicate') {
      // The exchange has this client id already: use its order, never a second one.
      const found = await exchange.fetchOrderByClientId(plan.symbol, cid);
      if (found) return found;
      throw e;
    }
    if (e.unknownOutcome) {
      await ctx.redis.hset(key, { status: 'UNKNOWN', updated_at: String(ctx.now()), last_error: errorMessage(e).slice(0, 300) });
      throw e;
    }
    if (e.retryable) throw e;
    return refuse(plan, cid, e, ctx);
  }

  /** The whole batch's new orders in one exchange call, when the exchange can (after their PENDING is persisted). */
  async function presubmit(batch: Delivery<ApplyApproved>[], fresh: Set<string>, ctx: StageContext): Promise<Map<string, OrderAck | ExchangeError>> {
    const results = new Map<string, OrderAck | ExchangeError>();
    if (!exchange.submitMarketOrders || fresh.size < 2) return results;
    const reqs: OrderRequest[] = [];
    const taken = new Set<string>();
    for (const d of batch) {
      const plan = { ...d.message, leverage: Math.max(1, Math.floor(d.message.leverage)) };
      const cid = clientOrderIdFor(plan.plan_id);
      if (!fresh.has(cid) || taken.has(cid)) continue;
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

  function filled(plan: ApplyApproved, cid: string, ack: OrderAck, ctx: StageContext): Outcome {
    const now = ctx.now();
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
        status: ack.status,
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
      const res = (await ctx.redis.eval(MARK_PENDING_LUA, cids.length, ...cids.map((c) => names.order(c)), ...args)) as string[][];
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
      const sent = await presubmit(batch, fresh, ctx);
      return { orders, seen: new Set(), fresh, sent };
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
      // Seen before but not final (crash, unknown outcome): ask the exchange before sending anything.
      let ack: OrderAck | null = existing.status && !isFresh ? await exchange.fetchOrderByClientId(plan.symbol, cid) : null;
      if (ack) ctx.log.info('order found by client id; not resent', { cid, status: existing.status, order_id: ack.orderId });
      if (!ack) {
        const rules = exchange.rules(plan.symbol);
        const qty = rules ? floorToStep(plan.qty, rules.marketStepSize) : plan.qty;
        if (!(qty > 0)) {
          return refuse(plan, cid, { reason: 'below_min_qty', detail: `qty ${plan.qty} rounds to 0 at step ${rules?.marketStepSize}` }, ctx);
        }
        const pre = batch.sent.get(cid);
        const sent = pre === undefined ? await send(plan, cid, qty, ctx, !!existing.status || isFresh) : pre instanceof ExchangeError ? await sendFailed(pre, plan, cid, ctx) : pre;
        if ('kind' in sent) return sent;
        ack = sent;
      }
      ack = await settle(ack);
      if (ack.filledQty <= 0) {
        if (DEAD_ACK.has(ack.status)) {
          return refuse(plan, cid, { reason: 'exchange_rejected', detail: `${exchange.name}: order ${ack.orderId} ended ${ack.status} without a fill` }, ctx);
        }
        await ctx.redis.hset(names.order(cid), { status: 'SUBMITTED', order_id: ack.orderId, updated_at: String(ctx.now()) });
        throw new Error(`order ${cid} acknowledged (${ack.status}) but not filled yet; will look it up again`);
      }
      return filled(plan, cid, ack, ctx);
    },

    async start() {
      if (o.ownsExchange) await exchange.start();
    },
    async stop() {
      if (o.ownsExchange) await exchange.stop();
    },
  };
}

/**
 * The registry's factory: uses the daemon's shared exchange when it set one, otherwise
 * creates the configured exchange itself (and then starts and stops it).
 */
export async function intentExecutorFromDeps(deps: EngineDeps): Promise<ConsumerStage<'apply.approved', Batch>> {
  if (deps.exchange) return createIntentExecutor({ exchange: deps.exchange as Exchange, names: deps.config.names, mode: deps.mode, streamMaxLen: deps.config.runtime.streamMaxLen });
  const { createExchange } = await import('../exchange/index.js');
  const exchange = await createExchange(deps.config, deps.writer, deps.log);
  return createIntentExecutor({ exchange, names: deps.config.names, mode: deps.mode, ownsExchange: true, streamMaxLen: deps.config.runtime.streamMaxLen });
}
