/**
 * The paper exchange's decisions, as pure functions: whether Binance USD-M would accept
 * a market order (with Binance's own error codes), and what the fill does to the
 * account and the (one-way, isolated-margin) position. No Redis here.
 */
import { BINANCE, checkMarketOrder } from './order-rules.js';
import { decimalsOf, roundToTick } from './precision.js';
import { ExchangeError, type MarketRules, type OrderRequest } from './types.js';

export interface PaperPosition {
  side: 'LONG' | 'SHORT';
  qty: number;
  entryPrice: number;
  leverage: number;
  /** Isolated margin held by the position. */
  margin: number;
}

export interface PaperAccount {
  wallet: number;
  marginUsed: number;
}

export interface FillInput {
  req: OrderRequest;
  rules: MarketRules;
  /** Current mark price (> 0). */
  mark: number;
  account: PaperAccount;
  position: PaperPosition | null;
  /** The symbol's leverage setting (or the request's when none was set). */
  leverage: number;
  slippageBps: number;
  takerFee: number;
}

export interface Fill {
  price: number;
  fillQty: number;
  closeQty: number;
  openQty: number;
  fee: number;
  realizedPnl: number;
  position: PaperPosition | null;
  account: PaperAccount;
}

export { BINANCE, checkLeverage, checkQuantity } from './order-rules.js';

const fmt = (n: number, d = 2) => n.toFixed(d);

/** The taker's fill price: the mark moved against the taker by the slippage, on the tick. */
export function fillPrice(mark: number, side: 'BUY' | 'SELL', slippageBps: number, tick: number): number {
  const f = side === 'BUY' ? 1 + slippageBps / 10000 : 1 - slippageBps / 10000;
  const p = roundToTick(mark * f, tick);
  return p > 0 ? p : mark;
}

/**
 * Decides a market order: Binance's rules (order-rules.ts), then margin (-2019: notional ÷
 * leverage + fee against the available balance), then the fill. Throws ExchangeError (Binance
 * codes) where Binance would refuse it.
 */
export function decideFill(i: FillInput): Fill {
  const { req, rules, position: pos } = i;
  const dir = req.side === 'BUY' ? 'LONG' : 'SHORT';
  const opposite = pos !== null && pos.side !== dir;
  const price = fillPrice(i.mark, req.side, i.slippageBps, rules.tickSize);
  // Binance's rules (shared with the test Binance server): quantity, reduce-only, min notional,
  // price band, leverage, leverage bracket. Margin is checked below, on the fill.
  checkMarketOrder({ rules, side: req.side, qty: req.qty, reduceOnly: req.reduceOnly, mark: i.mark, fillPrice: price, position: pos, leverage: i.leverage });

  const d = decimalsOf(rules.marketStepSize);
  const q = (x: number) => Number(x.toFixed(d));
  const closeQty = opposite ? Math.min(req.qty, pos!.qty) : 0;
  const openQty = req.reduceOnly ? 0 : q(req.qty - closeQty);
  const fillQty = q(closeQty + openQty);
  const fee = fillQty * price * i.takerFee;

  const available = i.account.wallet - i.account.marginUsed;
  const newMargin = (openQty * price) / i.leverage;
  if (openQty > 0 && newMargin + fee > available + 1e-9) {
    throw new ExchangeError(
      `Margin is insufficient: needs ${fmt(newMargin + fee)} USDT (margin ${fmt(newMargin)} + fee ${fmt(fee)}), available ${fmt(available)}`,
      'insufficient_margin',
      BINANCE.margin,
    );
  }

  let realizedPnl = 0;
  let released = 0;
  let next: PaperPosition | null = pos;
  if (closeQty > 0 && pos) {
    const sign = pos.side === 'LONG' ? 1 : -1;
    realizedPnl = (price - pos.entryPrice) * closeQty * sign;
    released = pos.margin * (closeQty / pos.qty);
    const remaining = q(pos.qty - closeQty);
    next = remaining > 0 ? { ...pos, qty: remaining, margin: pos.margin - released } : null;
  }
  if (openQty > 0) {
    if (next && next.side === dir) {
      const qty = q(next.qty + openQty);
      next = {
        side: dir,
        qty,
        entryPrice: (next.qty * next.entryPrice + openQty * price) / qty,
        leverage: i.leverage,
        margin: next.margin + newMargin,
      };
    } else {
      next = { side: dir, qty: openQty, entryPrice: price, leverage: i.leverage, margin: newMargin };
    }
  }
  return {
    price,
    fillQty,
    closeQty,
    openQty,
    fee,
    realizedPnl,
    position: next,
    account: {
      wallet: i.account.wallet + realizedPnl - fee,
      marginUsed: Math.max(0, i.account.marginUsed - released + (openQty > 0 ? newMargin : 0)),
    },
  };
}
