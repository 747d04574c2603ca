/**
 * The paper exchange's conditional orders (issue 18): STOP_MARKET / TAKE_PROFIT_MARKET with
 * `closePosition=true`, `workingType=MARK_PRICE`, resting in Redis (`paper:algo:{clientAlgoId}`
 * hashes, the open ones in the `paper:algos:open` set) and triggered on the mark wherever paper
 * prices are produced (the market stage calls `PaperExchange.triggerConditionalOrders`).
 *
 * Behaviour follows Binance USD-M's documentation, the worst documented case where it is ambiguous:
 * - "New Algo Order (TRADE)" POST /fapi/v1/algoOrder (algoType CONDITIONAL, required for conditional
 *   types since 2025-12-09): `closePosition` closes the whole position of its side; with MARK_PRICE the
 *   trigger is the mark price; a SELL STOP_MARKET triggers at mark ≤ stopPrice, a BUY one at mark ≥
 *   stopPrice, TAKE_PROFIT_MARKET the other way round.
 * - Error codes (Binance "Error Codes" page): -2021 "Order would immediately trigger." (a stop already
 *   crossed by the mark); -4130 "An open stop or take profit order with GTE and closePosition in the
 *   direction is existing." (one closePosition order per direction and type: a second one is refused,
 *   also reported by users of the algo endpoint); -4014 "Price not increased by tick size."; -2011
 *   "Unknown order sent." on cancel of an order that is not resting (triggered, canceled); a reused
 *   client id is refused like the order endpoint's -4116 "ClientOrderId is duplicated".
 * - A trigger sets the algo order TRIGGERED and creates a normal MARKET order with its own id (here
 *   client id `qtpx-{algoId}`), then FINISHED once that order filled (algoStatus, "Query Algo
 *   Order"). A closePosition order that finds no position of its side when it fires closes
 *   nothing: modelled as EXPIRED.
 * - A conditional order without closePosition carries `quantity` and `reduceOnly=true` ("New Algo
 *   Order": both are allowed for CONDITIONAL orders; reduceOnly "cannot be sent with
 *   closePosition=true"): its quantity passes MARKET_LOT_SIZE as a market order's does (-4003, -1111,
 *   -4023, -1013, -4005; order-rules.ts checkQuantity), and its trigger closes min(quantity,
 *   position) of its side. -4130 is about closePosition orders only (its text: "… with GTE and
 *   closePosition in the direction …"): a quantity order beside a closePosition one is accepted, and a
 *   closePosition one beside a quantity one too.
 */
import type { Redis } from 'ioredis';
import { encode, type ExecutionResult } from '../../contract/messages.js';
import { ORDER_TTL_S, type Names } from '../../contract/names.js';
import { BINANCE, checkQuantity } from './order-rules.js';
import { n } from './paper-state.js';
import { decimalsOf } from './precision.js';
import { ExchangeError, type AlgoStatus, type ConditionalOrder, type ConditionalOrderRequest, type MarketRules, type OrderAck, type OrderRequest } from './types.js';

/** Binance codes of the Algo Order API this module answers with (Binance "Error Codes"). */
export const ALGO_CODES = { immediateTrigger: -2021, closePositionExists: -4130, tick: -4014, unknownOrder: -2011 } as const;

/** The normal order a trigger creates: its client order id (≤ 36 chars). */
export const triggerClientOrderId = (algoId: string) => `qtpx-${algoId}`;

/** A `paper:algo:*` hash as a conditional order (null when absent). */
export function algoFromHash(h: Record<string, string> | null | undefined): ConditionalOrder | null {
  if (!h || !h.algo_id) return null;
  return {
    algoId: h.algo_id,
    clientAlgoId: h.client_algo_id,
    symbol: h.symbol,
    side: h.side === 'BUY' ? 'BUY' : 'SELL',
    type: h.type === 'TAKE_PROFIT_MARKET' ? 'TAKE_PROFIT_MARKET' : 'STOP_MARKET',
    stopPrice: n(h.stop_price),
    closePosition: h.close_position !== 'false',
    ...(h.close_position === 'false' ? { quantity: n(h.quantity) } : {}),
    workingType: 'MARK_PRICE',
    status: (h.status as AlgoStatus) || 'NEW',
    createdAt: n(h.created_at),
    updatedAt: n(h.updated_at),
    ...(h.triggered_order_id ? { triggeredOrderId: h.triggered_order_id } : {}),
  };
}

/** Whether a conditional order fires at this mark (see the module comment for the direction). */
export function crosses(o: Pick<ConditionalOrder, 'side' | 'type' | 'stopPrice'>, mark: number): boolean {
  const below = (o.side === 'SELL') === (o.type === 'STOP_MARKET');
  return below ? mark <= o.stopPrice : mark >= o.stopPrice;
}

/**
 * Places one. KEYS: algo hash, open set, algo seq. ARGV: symbol, side, type, stop, now, cid, close_position
 * ('true' | 'false'), quantity ('' for closePosition). Refuses a known client id (DUP) and a second
 * closePosition order of the same side and type (EXISTS; a quantity order is not counted nor refused).
 */
const PLACE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'DUP', ''} end
if ARGV[7] == 'true' then
  for _, cid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    local o = redis.call('HMGET', KEYS[1]:sub(1, #KEYS[1] - #ARGV[6]) .. cid, 'symbol', 'side', 'type', 'status', 'close_position')
    if o[1] == ARGV[1] and o[2] == ARGV[2] and o[3] == ARGV[3] and o[4] == 'NEW' and o[5] ~= 'false' then return {'EXISTS', cid} end
  end
end
local id = tostring(redis.call('INCR', KEYS[3]) + 5000000000)
redis.call('HSET', KEYS[1], 'algo_id', id, 'client_algo_id', ARGV[6], 'symbol', ARGV[1], 'side', ARGV[2], 'type', ARGV[3],
  'stop_price', ARGV[4], 'status', 'NEW', 'close_position', ARGV[7], 'working_type', 'MARK_PRICE', 'created_at', ARGV[5], 'updated_at', ARGV[5])
if ARGV[7] == 'false' then redis.call('HSET', KEYS[1], 'quantity', ARGV[8], 'reduce_only', 'true') end
redis.call('SADD', KEYS[2], ARGV[6])
return {'OK', id}
`;

/** Cancels a NEW one. KEYS: algo hash, open set. ARGV: now, cid. */
const CANCEL_LUA = `
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'NEW' then return st or '' end
redis.call('HSET', KEYS[1], 'status', 'CANCELED', 'updated_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SREM', KEYS[2], ARGV[2])
return 'CANCELED'
`;

/** NEW → TRIGGERED (the trigger is claimed once). KEYS: algo hash. ARGV: now, mark. */
const TRIGGER_LUA = `
if redis.call('HGET', KEYS[1], 'status') ~= 'NEW' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'TRIGGERED', 'triggered_at', ARGV[1], 'trigger_mark', ARGV[2], 'updated_at', ARGV[1])
return 1
`;

/**
 * TRIGGERED → FINISHED (with the fill announced on execution.result, once) or EXPIRED.
 * KEYS: algo hash, open set, execution.result. ARGV: now, cid, final status, order id, ttl, maxlen, then the entry's fields.
 */
const FINISH_LUA = `
if redis.call('HGET', KEYS[1], 'status') ~= 'TRIGGERED' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'updated_at', ARGV[1])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'triggered_order_id', ARGV[4]) end
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
if #ARGV > 6 then redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', unpack(ARGV, 7)) end
return 1
`;

/** What the paper exchange lends the book: its Redis state and its market-order path. */
export interface PaperAlgoHost {
  redis: Redis;
  names: Names;
  now(): number;
  rules(symbol: string): MarketRules | undefined;
  submit(req: OrderRequest): Promise<OrderAck>;
  fetchOrder(symbol: string, cid: string): Promise<OrderAck | null>;
  /** MAXLEN ~ of execution.result. */
  streamMaxLen: number;
}

/** One fill a trigger made (what `triggerConditionalOrders` returns). */
export interface TriggeredFill {
  order: ConditionalOrder;
  /** null: nothing to close (EXPIRED). */
  ack: OrderAck | null;
  mark: number;
}

/** The paper exchange's conditional orders (see the module comment). */
export class PaperAlgoBook {
  constructor(private readonly h: PaperAlgoHost) {}

  async place(req: ConditionalOrderRequest): Promise<ConditionalOrder> {
    const { redis, names } = this.h;
    const rules = this.h.rules(req.symbol);
    if (!rules) throw new ExchangeError(`Invalid symbol: ${req.symbol} is not traded on the paper exchange`, 'symbol_not_allowed', BINANCE.invalidSymbol);
    if (!(req.stopPrice > 0) || !Number.isFinite(req.stopPrice)) throw new ExchangeError(`stopPrice ${req.stopPrice} is not a positive price`, 'exchange_rejected', -1102);
    const d = decimalsOf(rules.tickSize);
    const ticks = req.stopPrice / rules.tickSize;
    if (Math.abs(ticks - Math.round(ticks)) > 1e-6) {
      throw new ExchangeError(`Price not increased by tick size: stopPrice ${req.stopPrice} (tick ${rules.tickSize})`, 'precision_invalid', ALGO_CODES.tick);
    }
    const byQty = req.quantity !== undefined;
    if (byQty) checkQuantity(rules, req.quantity!); // MARKET_LOT_SIZE, as a market order (-4003 / -1111 / -4023 / -1013 / -4005)
    const [m, p] = await redis.hmget(names.price(req.symbol), 'mark', 'price');
    const mark = n(m ?? undefined) > 0 ? n(m ?? undefined) : n(p ?? undefined);
    if (mark > 0 && crosses(req, mark)) {
      throw new ExchangeError(`Order would immediately trigger: ${req.side} ${req.type} at ${req.stopPrice}, mark ${mark}`, 'exchange_rejected', ALGO_CODES.immediateTrigger);
    }
    const now = this.h.now();
    const [st, id] = (await redis.eval(PLACE_LUA, 3, names.paperAlgo(req.clientAlgoId), names.paperAlgoOpen(), names.paperAlgoSeq(),
      req.symbol, req.side, req.type, req.stopPrice.toFixed(d), String(now), req.clientAlgoId,
      byQty ? 'false' : 'true', byQty ? String(req.quantity) : '')) as [string, string];
    if (st === 'DUP') throw new ExchangeError(`ClientOrderId is duplicated: ${req.clientAlgoId}`, 'duplicate', BINANCE.duplicate);
    if (st === 'EXISTS') {
      throw new ExchangeError(`An open stop or take profit order with GTE and closePosition in the direction is existing. (${id})`, 'exchange_rejected', ALGO_CODES.closePositionExists);
    }
    return (await this.fetch(req.symbol, req.clientAlgoId))!;
  }

  async fetch(symbol: string, cid: string): Promise<ConditionalOrder | null> {
    const o = algoFromHash(await this.h.redis.hgetall(this.h.names.paperAlgo(cid)));
    return o && (!symbol || o.symbol === symbol) ? o : null;
  }

  async cancel(symbol: string, cid: string): Promise<ConditionalOrder | null> {
    const { redis, names } = this.h;
    await redis.eval(CANCEL_LUA, 2, names.paperAlgo(cid), names.paperAlgoOpen(), String(this.h.now()), cid, ORDER_TTL_S);
    // Not resting (triggered, canceled, never seen): Binance answers -2011; the interface returns the lookup.
    return this.fetch(symbol, cid);
  }

  /** The orders in the open set (NEW, and TRIGGERED ones whose fill is not booked yet). */
  private async listed(): Promise<ConditionalOrder[]> {
    const { redis, names } = this.h;
    const cids = await redis.smembers(names.paperAlgoOpen());
    if (!cids.length) return [];
    const p = redis.pipeline();
    for (const c of cids) p.hgetall(names.paperAlgo(c));
    const res = (await p.exec()) ?? [];
    const out: ConditionalOrder[] = [];
    res.forEach(([err, h]) => {
      const o = err ? null : algoFromHash(h as Record<string, string>);
      if (o) out.push(o);
    });
    return out;
  }

  async open(symbol?: string): Promise<ConditionalOrder[]> {
    return (await this.listed()).filter((o) => o.status === 'NEW' && (!symbol || o.symbol === symbol)).sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * Fires every resting order the current mark (`price:{SYMBOL}`) has crossed, and completes
   * triggers a crash interrupted: each TRIGGERED order's MARKET order (client id
   * `qtpx-{algoId}`, so a repeat is refused as a duplicate and looked up) closes the position of
   * its side; the fill goes to `execution.result` once (guarded by the TRIGGERED → FINISHED step).
   */
  async trigger(): Promise<TriggeredFill[]> {
    const { redis, names } = this.h;
    const listed = await this.listed();
    if (!listed.length) return [];
    const syms = [...new Set(listed.map((o) => o.symbol))];
    const pp = redis.pipeline();
    for (const s of syms) pp.hmget(names.price(s), 'mark', 'price');
    const px = (await pp.exec()) ?? [];
    const marks = new Map<string, number>();
    syms.forEach((s, i) => {
      const [m, p] = (px[i]?.[1] ?? []) as (string | null)[];
      marks.set(s, n(m ?? undefined) > 0 ? n(m ?? undefined) : n(p ?? undefined));
    });
    const out: TriggeredFill[] = [];
    for (const o of listed) {
      const mark = marks.get(o.symbol) ?? 0;
      if (o.status === 'NEW') {
        if (!(mark > 0) || !crosses(o, mark)) continue;
        const won = (await redis.eval(TRIGGER_LUA, 1, names.paperAlgo(o.clientAlgoId), String(this.h.now()), String(mark))) as number;
        if (!won) continue;
      } else if (o.status !== 'TRIGGERED') continue;
      out.push(await this.fill(o, mark));
    }
    return out;
  }

  private async fill(o: ConditionalOrder, mark: number): Promise<TriggeredFill> {
    const { redis, names } = this.h;
    const cid = triggerClientOrderId(o.algoId);
    let ack = await this.h.fetchOrder(o.symbol, cid);
    if (!ack) {
      const pos = await redis.hgetall(names.paperPosition(o.symbol));
      const held = n(pos.qty);
      // closePosition: the whole position; reduce-only with a quantity: at most that much.
      const qty = o.closePosition ? held : Math.min(o.quantity ?? 0, held);
      const side = pos.side === 'SHORT' ? 'SHORT' : 'LONG';
      const covers = qty > 0 && (o.side === 'SELL' ? side === 'LONG' : side === 'SHORT');
      if (covers) {
        try {
          ack = await this.h.submit({ symbol: o.symbol, side: o.side, qty, reduceOnly: true, clientOrderId: cid, leverage: n(pos.leverage, 1) });
        } catch (e) {
          if (!(e instanceof ExchangeError) || e.reason !== 'duplicate') throw e; // stays TRIGGERED: completed on the next pass
          ack = await this.h.fetchOrder(o.symbol, cid);
        }
      }
    }
    const now = this.h.now();
    const args: string[] = [String(now), o.clientAlgoId, ack ? 'FINISHED' : 'EXPIRED', ack?.orderId ?? '', String(ORDER_TTL_S), String(this.h.streamMaxLen)];
    if (ack) {
      const exec: ExecutionResult = {
        order_id: ack.orderId, client_order_id: cid, plan_id: o.clientAlgoId, symbol: o.symbol, side: ack.side, qty: ack.filledQty,
        price: ack.avgPrice, fee: ack.fee, status: 'FILLED', reduceOnly: true, realized_pnl: ack.realizedPnl, ts: ack.ts || now,
      };
      for (const [k, v] of Object.entries(encode('execution.result', exec))) args.push(k, v);
    }
    await redis.eval(FINISH_LUA, 3, names.paperAlgo(o.clientAlgoId), names.paperAlgoOpen(), names.stream('execution.result'), ...args);
    return { order: { ...o, status: ack ? 'FINISHED' : 'EXPIRED', updatedAt: now, ...(ack ? { triggeredOrderId: ack.orderId } : {}) }, ack, mark };
  }
}
