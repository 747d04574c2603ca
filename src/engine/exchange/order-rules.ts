/**
 * Binance USD-M's order rules for a MARKET order, as one pure checklist shared by the paper
 * exchange (paper-fill.ts) and the test Binance server (test/helpers/fake-binance.ts), so the
 * same order meets the same answer on both. Each check either passes or throws an
 * ExchangeError carrying Binance's own code and a message naming its numbers.
 *
 * Sources: BINANCE-USDM-RULES.md (Binance USD-M API docs: exchangeInfo filters, error codes,
 * New Order; freqtrade#11650/#11655 for -2027; ccxt#9001 and freqtrade#6739 for -2022;
 * Binance_Futures_python#135 for -1111). Binance does not document the order in which it
 * applies its filters; this module applies them in the order of its checklist below, and an
 * order that breaks several meets the first.
 *
 * All quantity comparisons are exact decimal arithmetic on the quantity's text
 * (precision.ts), never float rounding.
 */
import type { ReasonCode } from '../../contract/codes.js';
import { notionalCapAt } from './leverage-brackets.js';
import { compareDecimal, decimalPlaces, formatToStep, isExactMultiple, numberText } from './precision.js';
import { ExchangeError, type MarketRules, type Side } from './types.js';

/** Binance USD-M error codes the rules answer with (Binance's error-code page). */
export const BINANCE = {
  invalidSymbol: -1121,
  /** "Precision is over the maximum defined for this asset": more decimals than quantityPrecision. */
  precision: -1111,
  /** "Filter failure": quantity under minQty (kept from docs/binance.md's table). */
  lotSize: -1013,
  /** "Quantity less than or equal to zero." */
  qtyZero: -4003,
  /** "Quantity greater than max quantity." */
  maxQty: -4005,
  /** "Quantity not increased by step size." */
  step: -4023,
  minNotional: -4164,
  /** PERCENT_PRICE for a MARKET order: the fill price is outside the band around the mark. */
  priceBand: -4131,
  /** PERCENT_PRICE for a LIMIT price above mark × multiplierUp / below mark × multiplierDown. */
  priceAbove: -4016,
  priceBelow: -4024,
  /** "Exceeded the maximum allowable position at current leverage." */
  bracket: -2027,
  margin: -2019,
  reduceOnly: -2022,
  /** "Leverage N is not valid": above bracket 1's initialLeverage. */
  leverage: -4028,
  duplicate: -4116,
} as const;

/** Binance code → the contract's reason code, for every code this module (or Binance) answers. */
export const REASON_OF_CODE: Readonly<Record<number, ReasonCode>> = {
  [BINANCE.invalidSymbol]: 'symbol_not_allowed',
  [BINANCE.precision]: 'precision_invalid',
  [BINANCE.step]: 'precision_invalid',
  [BINANCE.lotSize]: 'below_min_qty',
  [-4004]: 'below_min_qty',
  [BINANCE.qtyZero]: 'invalid_quantity',
  [BINANCE.maxQty]: 'invalid_quantity',
  [BINANCE.minNotional]: 'below_min_notional',
  [BINANCE.priceBand]: 'price_band',
  [BINANCE.priceAbove]: 'price_band',
  [BINANCE.priceBelow]: 'price_band',
  [BINANCE.bracket]: 'leverage_bracket',
  [BINANCE.margin]: 'insufficient_margin',
  [BINANCE.reduceOnly]: 'exchange_rejected',
  [BINANCE.leverage]: 'leverage_exceeds_max',
  [BINANCE.duplicate]: 'duplicate',
};

const refuse = (code: number, msg: string) => new ExchangeError(msg, REASON_OF_CODE[code] ?? 'exchange_rejected', code);
const usd = (n: number) => n.toFixed(2);

/**
 * Leverage must be a whole number in 1..bracket 1's initialLeverage (`rules.maxLeverage`).
 * Throws -4028 (`leverage_exceeds_max`). Source: POST /fapi/v1/leverage; BINANCE-USDM-RULES.md.
 */
export function checkLeverage(rules: MarketRules, leverage: number): void {
  if (!Number.isInteger(leverage) || leverage < 1 || leverage > rules.maxLeverage) {
    throw refuse(BINANCE.leverage, `Leverage ${leverage} is not valid (${rules.symbol} allows 1..${rules.maxLeverage}, bracket 1's initialLeverage)`);
  }
}

/**
 * The part of checkQuantity that a client must decide before sending (ccxt truncates the
 * quantity to the step and refuses 0 itself): ≤ 0 → -4003, too many decimals → -1111, off
 * the step → -4023. The Binance adapter uses it so that it answers as Binance would.
 */
export function checkQuantityPrecision(rules: MarketRules, qty: number): void {
  if (!Number.isFinite(qty) || qty <= 0) throw refuse(BINANCE.qtyZero, `Quantity less than or equal to zero: qty ${String(qty)}`);
  const text = numberText(qty);
  const places = decimalPlaces(qty);
  if (places > rules.quantityPrecision) {
    throw refuse(BINANCE.precision, `Precision is over the maximum defined for this asset: qty ${text} has ${places} decimals > quantityPrecision ${rules.quantityPrecision}`);
  }
  if (compareDecimal(qty, rules.marketMinQty) >= 0 && !isExactMultiple(text, rules.marketStepSize, rules.marketMinQty)) {
    throw refuse(BINANCE.step, `Quantity not increased by step size: qty ${text} is not minQty ${numberText(rules.marketMinQty)} + a multiple of step ${numberText(rules.marketStepSize)}`);
  }
}

/**
 * MARKET_LOT_SIZE on a quantity (base asset; a number or the decimal text sent to Binance),
 * in this order: ≤ 0 → -4003; more decimals than `quantityPrecision` → -1111; (qty − minQty)
 * not a multiple of the step → -4023; under minQty → -1013; over the market maxQty → -4005.
 */
export function checkQuantity(rules: MarketRules, qty: number | string): void {
  const q = typeof qty === 'number' ? qty : Number(qty);
  checkQuantityPrecision(rules, q);
  checkQuantityBounds(rules, q);
}

/** checkQuantity's bounds alone (-1013 / -4005), for a quantity whose text already passed checkQuantityPrecision. */
function checkQuantityBounds(rules: MarketRules, q: number): void {
  const step = rules.marketStepSize;
  // q and the bounds are numbers: compared exactly as their decimal texts (compareDecimal)
  if (compareDecimal(q, rules.marketMinQty) < 0) {
    throw refuse(BINANCE.lotSize, `Filter failure: MARKET_LOT_SIZE: qty ${formatToStep(q, step)} < minQty ${formatToStep(rules.marketMinQty, step)}`);
  }
  if (compareDecimal(q, rules.marketMaxQty) > 0) {
    throw refuse(BINANCE.maxQty, `Quantity greater than max quantity: qty ${formatToStep(q, step)} > maxQty ${formatToStep(rules.marketMaxQty, step)}`);
  }
}

/** What the rules need to know about an order and the account's state for it. */
export interface MarketOrderCheck {
  rules: MarketRules;
  side: Side;
  /** Quantity, base asset (number or the decimal text sent). */
  qty: number | string;
  reduceOnly: boolean;
  /** Mark price (USD): min notional, the price band and the bracket cap are checked at it. */
  mark: number;
  /** The price the order would fill at (USD): the price band is checked on it. */
  fillPrice: number;
  /** The symbol's current one-way position (qty > 0), or null when flat. */
  position: { side: 'LONG' | 'SHORT'; qty: number } | null;
  /** The symbol's leverage setting. */
  leverage: number;
}

/**
 * Every rule Binance applies to a MARKET order, in this order: the quantity's text (≤ 0, decimals,
 * step: checkQuantityPrecision), the leverage in effect above bracket 1 (-4028; not for
 * reduce-only), the quantity's bounds (checkQuantity), reduce-only that cannot
 * reduce (-2022), MIN_NOTIONAL at the mark unless reduce-only (-4164), PERCENT_PRICE on the
 * fill price (-4131), and the leverage bracket's notional cap for the resulting position (-2027). Margin (-2019) is the
 * fill model's (paper-fill.ts). Throws ExchangeError; returns nothing when the order passes.
 */
export function checkMarketOrder(o: MarketOrderCheck): void {
  const { rules, position: pos } = o;
  // What a client decides before sending (the quantity's text, as the Binance adapter does),
  // then the leverage in effect: a client sets it before the order (POST /fapi/v1/leverage)
  // and stops there when it is refused.
  const qty = Number(o.qty);
  checkQuantityPrecision(rules, qty);
  if (!o.reduceOnly) checkLeverage(rules, o.leverage);
  checkQuantityBounds(rules, qty);
  const dir = o.side === 'BUY' ? 'LONG' : 'SHORT';
  const opposite = pos !== null && pos.side !== dir;
  if (o.reduceOnly && !opposite) {
    throw refuse(BINANCE.reduceOnly, `ReduceOnly Order is rejected: ${pos ? `${o.side} would increase the ${pos.side} position` : `no open position on ${rules.symbol}`}`);
  }
  const notional = qty * o.mark;
  if (!o.reduceOnly && notional < rules.minNotional) {
    throw refuse(BINANCE.minNotional, `Order's notional must be no smaller than ${rules.minNotional} (unless you choose reduce only): notional ${usd(notional)} < min ${usd(rules.minNotional)} at mark ${o.mark}`);
  }
  const band = rules.percentPrice;
  if (band) {
    const up = o.mark * band.multiplierUp;
    const down = o.mark * band.multiplierDown;
    if (o.side === 'BUY' ? o.fillPrice > up : o.fillPrice < down) {
      throw refuse(
        BINANCE.priceBand,
        `The counterparty's best price does not meet the PERCENT_PRICE filter limit: ${o.side} at ${o.fillPrice} ${o.side === 'BUY' ? `> mark ${o.mark} × ${band.multiplierUp} = ${up}` : `< mark ${o.mark} × ${band.multiplierDown} = ${down}`}`,
      );
    }
  }
  if (o.reduceOnly) return;
  const after = resultingPositionQty(pos, dir, qty);
  const cap = notionalCapAt(rules.brackets, o.leverage);
  if (after * o.mark > cap) {
    throw refuse(
      BINANCE.bracket,
      `Exceeded the maximum allowable position at current leverage: position notional ${usd(after * o.mark)} (after this order, at mark ${o.mark}) > cap ${usd(cap)} at ${o.leverage}x on ${rules.symbol}`,
    );
  }
}

/** The position (base asset) in direction `dir` after an order of `qty` in that direction (one-way mode). */
export function resultingPositionQty(pos: { side: 'LONG' | 'SHORT'; qty: number } | null, dir: 'LONG' | 'SHORT', qty: number): number {
  if (!pos) return qty;
  return pos.side === dir ? pos.qty + qty : Math.max(0, qty - pos.qty);
}
