/**
 * The paper exchange's decisions, as pure functions: whether Binance USD-M would accept
 * a market order (with Binance's own error codes), and what the fill does to the
 * account and the (one-way, isolated-margin) position. No Redis here.
 */
import { decimalsOf, formatToStep, isMultipleOf, roundToTick } from './precision.js';
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

export const BINANCE = {
  invalidSymbol: -1121,
  precision: -1111,
  lotSize: -1013,
  maxQty: -4005,
  minNotional: -4164,
  margin: -2019,
  reduceOnly: -2022,
  leverage: -4028,
  duplicate: -4116,
} as const;

const fmt = (n: number, d = 2) => n.toFixed(d);

/** Leverage must be a whole number in 1..max (Binance -4028). */
export function checkLeverage(rules: MarketRules, leverage: number): void {
  if (!Number.isInteger(leverage) || leverage < 1 || leverage > rules.maxLeverage) {
    throw new ExchangeError(
      `Leverage ${leverage} is not valid (${rules.symbol} allows 1..${rules.maxLeverage})`,
      'leverage_exceeds_max',
      BINANCE.leverage,
    );
  }
}

/** Quantity filters (MARKET_LOT_SIZE): step (-1111), min (-1013), max (-4005). */
export function checkQuantity(rules: MarketRules, qty: number): void {
  const step = rules.marketStepSize;
  if (!Number.isFinite(qty) || qty <= 0) {
    throw new ExchangeError(`Quantity ${qty} must be greater than zero`, 'invalid_quantity', BINANCE.lotSize);
  }
  if (!isMultipleOf(qty, step)) {
    throw new ExchangeError(`Precision is over the maximum defined for this asset: qty ${qty} is not a multiple of step ${step}`, 'precision_invalid', BINANCE.precision);
  }
  if (qty < rules.marketMinQty - step * 1e-9) {
    throw new ExchangeError(`Filter failure: MARKET_LOT_SIZE: qty ${formatToStep(qty, step)} < minQty ${formatToStep(rules.marketMinQty, step)}`, 'below_min_qty', BINANCE.lotSize);
  }
  if (qty > rules.marketMaxQty + step * 1e-9) {
    throw new ExchangeError(`Quantity greater than max quantity: qty ${formatToStep(qty, step)} > maxQty ${formatToStep(rules.marketMaxQty, step)}`, 'invalid_quantity', BINANCE.maxQty);
  }
}

/** The taker's fill price: the mark moved against the taker by the slippage, on the tick. */
export function fillPrice(mark: number, side: 'BUY' | 'SELL', slippageBps: number, tick: number): number {
  const f = side === 'BUY' ? 1 + slippageBps / 10000 : 1 - slippageBps / 10000;
  const p = roundToTick(mark * f, tick);
  return p > 0 ? p : mark;
}

/** Decides a market order; throws ExchangeError (Binance codes) where Binance would refuse it. */
export function decideFill(i: FillInput): Fill {
  const { req, rules, position: pos } = i;
  checkQuantity(rules, req.qty);
  const dir = req.side === 'BUY' ? 'LONG' : 'SHORT';
  const opposite = pos !== null && pos.side !== dir;
  if (req.reduceOnly && !opposite) {
    throw new ExchangeError(
      `ReduceOnly Order is rejected: ${pos ? `${req.side} would increase the ${pos.side} position` : `no open position on ${req.symbol}`}`,
      'exchange_rejected',
      BINANCE.reduceOnly,
    );
  }
  const notional = req.qty * i.mark;
  if (!req.reduceOnly && notional < rules.minNotional) {
    throw new ExchangeError(
      `Order's notional must be no smaller than ${rules.minNotional} (unless you choose reduce only): notional ${fmt(notional)} < min ${fmt(rules.minNotional)}`,
      'below_min_notional',
      BINANCE.minNotional,
    );
  }
  checkLeverage(rules, i.leverage);

  const d = decimalsOf(rules.marketStepSize);
  const q = (x: number) => Number(x.toFixed(d));
  const price = fillPrice(i.mark, req.side, i.slippageBps, rules.tickSize);
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
