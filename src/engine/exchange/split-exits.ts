/**
 * Reduce-only exits larger than the market-order maximum, sent as child orders.
 *
 * Binance refuses a MARKET order above MARKET_LOT_SIZE.maxQty (-4005), which is often far
 * below LOT_SIZE's (BTCUSDT 120 vs 1000; BINANCE-USDM-RULES.md), so a position built by
 * several entries could not be closed by one order. `withExitSplitting` wraps an Exchange:
 * a reduce-only market order above the market maximum goes out as child orders of at most
 * that maximum, one after another, and comes back as ONE acknowledgement (the plan's client
 * id, the summed fill, the quantity-weighted price, summed fee and realised PnL, the
 * children's order ids joined by ","), so the executor records one plan, one order key,
 * one trace.
 *
 * Idempotent across restarts: child client ids are derived from the plan's
 * (`childClientOrderId`), each child is looked up by its client id before it is sent (a
 * FILLED order's id can be sent again on Binance and would fill again), and a look-up of the
 * plan's client id that finds no order of that id sums the children found.
 * Engine position = exchange position: when a later child is refused outright, the
 * acknowledgement reports what the earlier children filled; when a child's outcome is
 * unknown, that error is thrown, and the executor's look-up by client id finds the children.
 */
import { ExchangeError, type Exchange, type OrderAck, type OrderRequest } from './types.js';
import { decimalsOf, floorToStep } from './precision.js';

/** The client id of child `i` (1-based) of a split order: ≤ 36 chars of Binance's charset. */
export function childClientOrderId(parent: string, i: number): string {
  return `${parent.slice(0, 32)}.${i}`;
}

/**
 * Child quantities (base asset) of `qty` for a market maximum `max` on `step`: as many orders
 * of `max` as fit, then the rest. [] when no split is needed.
 */
export function splitQuantities(qty: number, max: number, step: number): number[] {
  if (!(max > 0) || qty <= max) return [];
  const d = Math.min(decimalsOf(step), 12);
  const chunk = floorToStep(max, step);
  const out: number[] = [];
  let left = qty;
  while (left > chunk + step / 2) {
    out.push(chunk);
    left = Number((left - chunk).toFixed(d));
  }
  if (left > 0) out.push(left);
  return out;
}

/**
 * The children's order ids as one `order_id` (the contract's field holds at most 100
 * characters): all of them joined by "," when they fit, else `first..last(n)`.
 */
export function joinOrderIds(ids: string[]): string {
  const all = ids.join(',');
  if (all.length <= 100) return all;
  const short = `${ids[0]}..${ids[ids.length - 1]}(${ids.length})`;
  return short.length <= 100 ? short : short.slice(0, 100);
}

/** Sums children's acknowledgements into the plan's one acknowledgement. */
export function combineAcks(parentCid: string, req: Pick<OrderRequest, 'symbol' | 'side' | 'reduceOnly'>, acks: OrderAck[], complete: boolean, step: number): OrderAck {
  const qty = acks.reduce((s, a) => s + a.filledQty, 0);
  const d = Math.min(decimalsOf(step), 12);
  const value = acks.reduce((s, a) => s + a.filledQty * a.avgPrice, 0);
  return {
    orderId: joinOrderIds(acks.map((a) => a.orderId)),
    clientOrderId: parentCid,
    symbol: req.symbol,
    side: req.side,
    status: complete && acks.every((a) => a.status === 'FILLED') ? 'FILLED' : qty > 0 ? 'PARTIALLY_FILLED' : acks[acks.length - 1]?.status ?? 'NEW',
    filledQty: Number(qty.toFixed(d)),
    avgPrice: qty > 0 ? value / qty : 0,
    fee: acks.reduce((s, a) => s + a.fee, 0),
    realizedPnl: acks.reduce((s, a) => s + a.realizedPnl, 0),
    reduceOnly: req.reduceOnly,
    ts: Math.max(0, ...acks.map((a) => a.ts)),
  };
}

/** Largest number of children a look-up follows (a 10,000-fold over-maximum position). */
const MAX_CHILDREN = 10_000;

/**
 * The exchange with reduce-only exits above the market maximum split into child orders
 * (see the module comment). Everything else passes through unchanged.
 */
export function withExitSplitting(inner: Exchange): Exchange {
  if ((inner as { splitsExits?: boolean }).splitsExits) return inner;
  const maxOf = (symbol: string) => {
    const r = inner.rules(symbol);
    return r ? { max: r.marketMaxQty, step: r.marketStepSize } : undefined;
  };
  const needsSplit = (req: OrderRequest) => {
    const m = maxOf(req.symbol);
    return req.reduceOnly && !!m && m.max > 0 && req.qty > m.max;
  };

  async function submitSplit(req: OrderRequest): Promise<OrderAck> {
    const { max, step } = maxOf(req.symbol)!;
    const parts = splitQuantities(req.qty, max, step);
    const acks: OrderAck[] = [];
    for (let i = 0; i < parts.length; i++) {
      const cid = childClientOrderId(req.clientOrderId, i + 1);
      let ack = await inner.fetchOrderByClientId(req.symbol, cid);
      if (!ack) {
        try {
          ack = await inner.submitMarketOrder({ ...req, qty: parts[i], clientOrderId: cid });
        } catch (e) {
          // Nothing filled yet, or an outcome we cannot know: the caller sees the error (and looks up).
          if (acks.length === 0 || !(e instanceof ExchangeError) || e.retryable || e.unknownOutcome) throw e;
          // A later child refused outright (the position shrank meanwhile): report what filled.
          return combineAcks(req.clientOrderId, req, acks, false, step);
        }
      }
      acks.push(ack);
    }
    return combineAcks(req.clientOrderId, req, acks, true, step);
  }

  const wrapped: Exchange & { splitsExits: true } = {
    splitsExits: true,
    get name() {
      return inner.name;
    },
    get mode() {
      return inner.mode;
    },
    start: () => inner.start(),
    stop: () => inner.stop(),
    rules: (s) => inner.rules(s),
    symbols: () => inner.symbols(),
    setLeverage: (s, l) => inner.setLeverage(s, l),
    fetchPositions: () => inner.fetchPositions(),
    fetchBalance: () => inner.fetchBalance(),
    submitMarketOrder: (req) => (needsSplit(req) ? submitSplit(req) : inner.submitMarketOrder(req)),
    async fetchOrderByClientId(symbol, clientOrderId) {
      const own = await inner.fetchOrderByClientId(symbol, clientOrderId);
      if (own) return own;
      const acks: OrderAck[] = [];
      for (let i = 1; i <= MAX_CHILDREN; i++) {
        const child = await inner.fetchOrderByClientId(symbol, childClientOrderId(clientOrderId, i));
        if (!child) break;
        acks.push(child);
      }
      if (acks.length === 0) return null;
      const step = maxOf(symbol)?.step ?? 0;
      return combineAcks(clientOrderId, { symbol, side: acks[0].side, reduceOnly: acks[0].reduceOnly }, acks, true, step);
    },
  };
  // Optional capabilities pass through unchanged (the shared rate-limit state, issue 16).
  if (inner.limitedUntil) wrapped.limitedUntil = () => inner.limitedUntil!();
  if (inner.submitMarketOrders) {
    const batch = inner.submitMarketOrders.bind(inner);
    wrapped.submitMarketOrders = async (reqs) => {
      if (!reqs.some(needsSplit)) return batch(reqs);
      // In order, one by one: a split exit is several exchange calls.
      const out: (OrderAck | ExchangeError)[] = [];
      for (const r of reqs) out.push(await wrapped.submitMarketOrder(r).catch((e) => (e instanceof ExchangeError ? e : Promise.reject(e))));
      return out;
    };
  }
  return wrapped;
}
