/**
 * One exchange interface for the paper exchange and the Binance adapter, so that
 * nothing above the adapter knows which is used.
 */
import type { Mode, ReasonCode } from '../../contract/codes.js';
import type { LeverageBracket } from './leverage-brackets.js';

/** A market's trading rules (Binance USD-M exchangeInfo filters). */
export interface MarketRules {
  symbol: string;
  /** PRICE_FILTER */
  tickSize: number;
  minPrice: number;
  maxPrice: number;
  /** LOT_SIZE (limit orders) */
  stepSize: number;
  minQty: number;
  maxQty: number;
  /** MARKET_LOT_SIZE (market orders; what the engine sends) */
  marketStepSize: number;
  marketMinQty: number;
  marketMaxQty: number;
  /** MIN_NOTIONAL.notional (reduce-only orders are exempt, as on Binance) */
  minNotional: number;
  maxLeverage: number;
  pricePrecision: number;
  quantityPrecision: number;
  /**
   * PERCENT_PRICE: a BUY may not fill above mark × multiplierUp, a SELL not below
   * mark × multiplierDown (MARKET: -4131). Absent: no band known.
   */
  percentPrice?: { multiplierUp: number; multiplierDown: number };
  /** Leverage brackets (GET /fapi/v1/leverageBracket); absent: none known. */
  brackets?: LeverageBracket[];
}

export type Side = 'BUY' | 'SELL';

export interface OrderRequest {
  symbol: string;
  side: Side;
  qty: number;
  reduceOnly: boolean;
  /** Derived from the plan: resending the same plan reuses it, so the exchange can refuse a duplicate. */
  clientOrderId: string;
  leverage: number;
}

/** Binance's order statuses (USD-M "Order status"); EXPIRED_IN_MATCH: self-trade prevention (mandatory since 2024-12-10). */
export type ExchangeOrderStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'REJECTED' | 'EXPIRED' | 'EXPIRED_IN_MATCH';

/**
 * The statuses that end an order (Binance USD-M order statuses): an order in any other
 * status (NEW, PARTIALLY_FILLED) can still fill. CANCELED / EXPIRED / EXPIRED_IN_MATCH may
 * carry an executed quantity > 0; the position is the sum of executed quantities.
 */
export const FINAL_ORDER_STATUSES: ReadonlySet<ExchangeOrderStatus> = new Set(['FILLED', 'CANCELED', 'EXPIRED', 'EXPIRED_IN_MATCH', 'REJECTED']);

export interface OrderAck {
  orderId: string;
  clientOrderId: string;
  symbol: string;
  side: Side;
  status: ExchangeOrderStatus;
  filledQty: number;
  avgPrice: number;
  /** Fee paid in USDT (positive). */
  fee: number;
  /** Realised PnL of the fill (reduce-only / closing part), before fees. */
  realizedPnl: number;
  reduceOnly: boolean;
  ts: number;
}

export interface ExchangePosition {
  symbol: string;
  side: 'LONG' | 'SHORT';
  qty: number;
  entryPrice: number;
  markPrice: number;
  unrealizedPnl: number;
  leverage: number;
}

export interface Balance {
  asset: 'USDT';
  wallet: number;
  available: number;
}

/**
 * An exchange's refusal or failure. `code` is the exchange's own code (Binance -4164,
 * HTTP 429…), kept in `detail`s; `reason` is the contract's reason code.
 * `unknownOutcome`: the order may or may not have been accepted (timeout after send):
 * look it up by client id before resending.
 */
export class ExchangeError extends Error {
  constructor(
    message: string,
    readonly reason: ReasonCode,
    readonly code: number | string,
    readonly opts: { retryable?: boolean; unknownOutcome?: boolean; httpStatus?: number; fix?: string; /** rate_limited: epoch ms before which no request may go out */ until?: number } = {},
  ) {
    super(message);
    this.name = 'ExchangeError';
  }
  get retryable(): boolean {
    return !!this.opts.retryable;
  }
  get unknownOutcome(): boolean {
    return !!this.opts.unknownOutcome;
  }
}

/**
 * A conditional order resting on the exchange (Binance USD-M Algo Order API, `algoType=CONDITIONAL`,
 * required for STOP_MARKET / TAKE_PROFIT_MARKET since 2025-12-09; the old endpoint answers -4120).
 * Always `workingType=MARK_PRICE` here. Either `closePosition=true` (no quantity): it closes the whole
 * position of its side when the mark price crosses `stopPrice`; or `reduceOnly=true` with a `quantity`
 * (base asset, MARKET_LOT_SIZE): it closes at most that much (Binance "New Algo Order": quantity and
 * reduceOnly are allowed for conditional orders without closePosition; reduceOnly "cannot be sent with
 * closePosition=true"). A SELL stop triggers at mark ≤ stopPrice, a BUY stop at mark ≥ stopPrice;
 * TAKE_PROFIT_MARKET the other way round. Binance refuses a second closePosition order of one side and
 * type (-4130), not a quantity one beside it: a protective stop is moved without a gap through the
 * quantity form (src/engine/protect/stops.ts).
 */
export type ConditionalType = 'STOP_MARKET' | 'TAKE_PROFIT_MARKET';
/** Binance algo order statuses (`algoStatus`): NEW rests; TRIGGERED/FINISHED: it fired and created a normal order (new id). */
export type AlgoStatus = 'NEW' | 'TRIGGERING' | 'TRIGGERED' | 'FINISHED' | 'CANCELED' | 'REJECTED' | 'EXPIRED';
export interface ConditionalOrderRequest {
  symbol: string;
  /** SELL protects a LONG, BUY protects a SHORT. */
  side: Side;
  type: ConditionalType;
  /** Trigger price (USD), on the mark price. */
  stopPrice: number;
  /** Client id: `qtp-{plan_id-derived}-{seq}` (≤ 36 chars, Binance's clientAlgoId limit); reused on resend so a duplicate is refused. */
  clientAlgoId: string;
  /**
   * Absent: `closePosition=true` (the whole position). Present: `reduceOnly=true`, `closePosition=false`
   * with this quantity (base asset; on the MARKET_LOT_SIZE step, else -4023 / -4003 / -1013 / -4005 as a
   * market order; Binance "New Algo Order").
   */
  quantity?: number;
}
export interface ConditionalOrder {
  algoId: string;
  clientAlgoId: string;
  symbol: string;
  side: Side;
  type: ConditionalType;
  stopPrice: number;
  /** true: closes the whole position of its side; false: a reduce-only order of `quantity`. */
  closePosition: boolean;
  /** The reduce-only quantity (base asset) when `closePosition` is false. */
  quantity?: number;
  workingType: 'MARK_PRICE';
  status: AlgoStatus;
  /** epoch ms */
  createdAt: number;
  /** epoch ms */
  updatedAt: number;
  /** The normal order a trigger created (TRIGGERED/FINISHED), when known. */
  triggeredOrderId?: string;
  /**
   * Optional (h18bin): the average price (USD) of the normal order a trigger created, when the
   * exchange reports it (Binance `actualPrice`; absent or 0 while unknown).
   */
  triggeredPrice?: number;
}

export interface Exchange {
  readonly name: 'paper' | 'binance';
  readonly mode: Mode;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Rules of a market, or undefined when the symbol is not traded there. */
  rules(symbol: string): MarketRules | undefined;
  symbols(): string[];
  setLeverage(symbol: string, leverage: number): Promise<void>;
  /** Sends a market order. Throws ExchangeError on refusal. */
  submitMarketOrder(req: OrderRequest): Promise<OrderAck>;
  /**
   * Optional: sends several market orders in one call; each result is the acknowledgement
   * or the ExchangeError that order met. Throws only for failures of the whole call.
   */
  submitMarketOrders?(reqs: OrderRequest[]): Promise<(OrderAck | ExchangeError)[]>;
  /** Looks an order up by its client id (null when the exchange never saw it). */
  fetchOrderByClientId(symbol: string, clientOrderId: string): Promise<OrderAck | null>;
  fetchPositions(): Promise<ExchangePosition[]>;
  fetchBalance(): Promise<Balance>;
  /**
   * Optional: whether the exchange forbids requests now (a 418 IP ban, a 429 Retry-After,
   * the minute's request weight used up), shared by every process on the host; null when free.
   */
  limitedUntil?(): Promise<{ until: number; kind: string; reason: string } | null>;
  /** Places a conditional order, closePosition or reduce-only with a quantity (Algo Order API on Binance). Throws ExchangeError (may be unknownOutcome: look it up by clientAlgoId). */
  placeConditionalOrder?(req: ConditionalOrderRequest): Promise<ConditionalOrder>;
  /** Cancels one; returns its final state. When the exchange says it is unknown (-2011, e.g. it triggered), returns fetchConditionalOrder's answer (or null). */
  cancelConditionalOrder?(symbol: string, clientAlgoId: string): Promise<ConditionalOrder | null>;
  /** Looks one up by client id, open or not (null when never seen). */
  fetchConditionalOrder?(symbol: string, clientAlgoId: string): Promise<ConditionalOrder | null>;
  /** Every conditional order resting now (status NEW), for one symbol or all. */
  fetchOpenConditionalOrders?(symbol?: string): Promise<ConditionalOrder[]>;
}
