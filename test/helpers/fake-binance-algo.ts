/**
 * The test Binance server's Algo Order API (USD-M conditional orders), kept apart from
 * fake-binance.ts, which routes to it. Since 2025-12-09 Binance takes STOP_MARKET /
 * TAKE_PROFIT_MARKET (and STOP, TAKE_PROFIT, TRAILING_STOP_MARKET) only here; the old
 * `POST /fapi/v1/order` answers -4120 (Binance derivatives change log 2025-11-06;
 * BINANCE-USDM-RULES.md "Conditional orders"; freqtrade#12610, ccxt#27474).
 *
 * Endpoints (Binance USD-M REST docs, "New Algo Order", "Query Algo Order", "Cancel Algo
 * Order", "Current All Algo Open Orders", "Query All Algo Orders"):
 *   POST   /fapi/v1/algoOrder       place (algoType=CONDITIONAL)
 *   GET    /fapi/v1/algoOrder       one, by algoId or clientAlgoId, open or not
 *   DELETE /fapi/v1/algoOrder       cancel one that rests (NEW)
 *   GET    /fapi/v1/openAlgoOrders  those resting (NEW), one symbol or all
 *   GET    /fapi/v1/allAlgoOrders   every one of a symbol
 * Each rule below names its source; where the documents leave the answer open, the fake
 * gives the worse one and says so. The fake serves what the engine sends: STOP_MARKET and
 * TAKE_PROFIT_MARKET with closePosition=true, or with `quantity` and `reduceOnly=true` (New Algo
 * Order: quantity and reduceOnly are allowed for CONDITIONAL orders without closePosition).
 */
import { checkQuantity } from '../../src/engine/exchange/order-rules.js';
import { ExchangeError } from '../../src/engine/exchange/types.js';
import { isMultipleOf } from '../../src/engine/exchange/precision.js';
import type { MarketRules } from '../../src/engine/exchange/types.js';

type Params = Record<string, string>;
type Reply = { status: number; body: unknown };
const err = (status: number, code: number, msg: string): Reply => ({ status, body: { code, msg } });

/** What the algo module needs of the server: rules, prices, positions and its normal-order book. */
export interface AlgoHost {
  readonly rules: Map<string, MarketRules>;
  readonly positions: Map<string, { side: 'LONG' | 'SHORT'; qty: number }>;
  readonly exchangeInfo: unknown;
  quote(symbol: string): { price: number; mark: number; time: number };
  /** Places a normal order (POST /fapi/v1/order's logic) and returns its reply. */
  placeOrder(p: Params): Reply;
}

/** An algo order as Binance's Query Algo Order returns it (field names and string numbers as Binance's). */
export interface AlgoOrder {
  algoId: number;
  clientAlgoId: string;
  algoType: 'CONDITIONAL';
  orderType: string;
  symbol: string;
  side: 'BUY' | 'SELL';
  positionSide: 'BOTH';
  timeInForce: string;
  quantity: string;
  algoStatus: string;
  actualOrderId: string;
  actualPrice: string;
  triggerPrice: string;
  price: string;
  icebergQuantity: null;
  selfTradePreventionMode: string;
  workingType: 'MARK_PRICE' | 'CONTRACT_PRICE';
  priceMatch: 'NONE';
  closePosition: boolean;
  priceProtect: boolean;
  reduceOnly: boolean;
  createTime: number;
  updateTime: number;
  triggerTime: number;
  goodTillDate: number;
}

/** Conditional types Binance moved to the Algo Service (change log 2025-11-06): -4120 on /fapi/v1/order. */
export const ALGO_ONLY_TYPES: ReadonlySet<string> = new Set(['STOP', 'STOP_MARKET', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET', 'TRAILING_STOP_MARKET']);

/** Binance's -4120 body (error-code page; answered since 2025-12-09; freqtrade#12610, sieblyio/binance#609). */
export const ALGO_ONLY_REPLY: Reply = err(400, -4120, 'Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.');

/** Binance `clientAlgoId` rule (New Algo Order: "must match ^[\.A-Z\:/a-z0-9_-]{1,36}$"). */
const CLIENT_ALGO_ID = /^[.A-Z:/a-z0-9_-]{1,36}$/;

export class FakeBinanceAlgo {
  readonly algoOrders: AlgoOrder[] = [];
  /**
   * How long a triggered order shows TRIGGERED (placed in the matching engine) before
   * FINISHED (filled) on lookups, ms. Binance's ALGO_UPDATE event lists both states
   * (User Data Streams, "Event: Algo Order Update"); 0: FINISHED at once.
   */
  triggeredForMs = 0;
  /**
   * A lookup (GET /fapi/v1/algoOrder) of an order younger than this answers -2013, as
   * normal orders can (ccxt#1786, nautilus_trader#4215); not documented for the Algo
   * Service either way, so a test can play it. 0: visible at once.
   */
  lookupLagMs = 0;
  /** Algo orders that fired, in order (for the tests' checks). */
  readonly fired: { algoId: number; orderId: string | undefined; status: string }[] = [];
  private nextAlgoId = 3_000_000_000_001;

  constructor(private readonly host: AlgoHost) {}

  /** POST /fapi/v1/algoOrder (New Algo Order). */
  place(p: Params): Reply {
    // "algoType: Only support CONDITIONAL" (mandatory)
    if (!p.algoType) return err(400, -1102, "Mandatory parameter 'algoType' was not sent, was empty/null, or malformed.");
    if (p.algoType !== 'CONDITIONAL') return err(400, -1130, 'Invalid data sent for a parameter: algoType (only CONDITIONAL).');
    const rules = this.host.rules.get(p.symbol ?? '');
    if (!rules) return err(400, -1121, 'Invalid symbol.');
    if (p.side !== 'BUY' && p.side !== 'SELL') return err(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.");
    if (!p.type) return err(400, -1102, "Mandatory parameter 'type' was not sent, was empty/null, or malformed.");
    if (p.type !== 'STOP_MARKET' && p.type !== 'TAKE_PROFIT_MARKET') return err(400, -1116, 'Invalid orderType (the fake serves STOP_MARKET / TAKE_PROFIT_MARKET only).');
    const closePosition = p.closePosition === 'true';
    // New Algo Order: quantity "Cannot be sent with closePosition=true (Close-All)" → -4137
    // "Quantity must be zero with closePosition equals true" (error-code page; BINANCE-USDM-RULES.md).
    if (closePosition && p.quantity !== undefined) return err(400, -4137, 'Quantity must be zero with closePosition equals true.');
    // closePosition "cannot be used with reduceOnly" (New Algo Order, closePosition row): the
    // parameter is refused as not required (-1106), as Binance answers a parameter that may not be sent.
    if (closePosition && p.reduceOnly !== undefined) return err(400, -1106, "Parameter 'reduceonly' sent when not required.");
    // Without closePosition: `quantity` with reduceOnly=true (New Algo Order: "reduceOnly … true or
    // false, default false; cannot be sent with closePosition=true"); the quantity passes
    // MARKET_LOT_SIZE like a market order's (-4003 / -1111 / -4023 / -1013 / -4005, exchangeInfo filters).
    // A non-reduce-only conditional order is not what the engine sends: the fake refuses it.
    if (!closePosition && (p.quantity === undefined || p.reduceOnly?.toLowerCase() !== 'true')) {
      return err(400, -1116, 'Invalid orderType (the fake serves closePosition=true or reduceOnly=true with quantity only).');
    }
    if (!closePosition) {
      try {
        checkQuantity(rules, p.quantity!);
      } catch (e) {
        if (e instanceof ExchangeError) return err(400, Number(e.code), e.message);
        throw e;
      }
    }
    // triggerPrice: PRICE_FILTER applies (exchangeInfo filters: min, max, tick; -4013/-4007/-4014 on Binance's error-code page)
    const trigger = Number(p.triggerPrice);
    if (p.triggerPrice === undefined || !Number.isFinite(trigger) || trigger <= 0) return err(400, -1102, "Mandatory parameter 'triggerprice' was not sent, was empty/null, or malformed.");
    if (trigger < rules.minPrice) return err(400, -4013, 'Price less than min price.');
    if (trigger > rules.maxPrice) return err(400, -4007, 'Stop price greater than max price.');
    if (!isMultipleOf(trigger, rules.tickSize)) return err(400, -4014, 'Price not increased by tick size.');
    const workingType = p.workingType ?? 'CONTRACT_PRICE'; // "Default CONTRACT_PRICE"
    if (workingType !== 'MARK_PRICE' && workingType !== 'CONTRACT_PRICE') return err(400, -1130, 'Invalid data sent for a parameter: workingType.');
    const clientAlgoId = p.clientAlgoId ?? `fakealgo${this.nextAlgoId}`; // "automatically generated if not sent"
    if (!CLIENT_ALGO_ID.test(clientAlgoId)) return err(400, -4015, 'Client order id is not valid.');
    // "clientAlgoId … cannot be repeated among open orders" (New Algo Order). The algo pages name no
    // code of their own: the fake answers Binance's USD-M duplicate code -4116 (error-code page);
    // a clientAlgoId of an order that is no longer open is accepted again, as Binance documents.
    if (this.algoOrders.some((o) => o.clientAlgoId === clientAlgoId && this.statusOf(o) === 'NEW')) return err(400, -4116, 'ClientOrderId is duplicated.');
    // -4130 "An open stop or take profit order with GTE and closePosition in the direction is
    // existing." (Binance "Error Codes"; users of the algo endpoint report it for a second
    // closePosition STOP_MARKET on one side): one closePosition order per side and type. A stop and
    // a take-profit on the same side may rest together. The paper exchange answers the same
    // (src/engine/exchange/paper-algo.ts). qt rests at most two stops per side (two only between a move's place and cancel),
    // so exchangeInfo's MAX_NUM_ALGO_ORDERS (-4045, BTCUSDT 10) cannot be reached here.
    // The code names closePosition: a quantity (reduce-only) order is neither refused by it nor counted.
    if (closePosition && this.algoOrders.some((o) => o.symbol === rules.symbol && o.side === p.side && o.orderType === p.type && o.closePosition && this.statusOf(o) === 'NEW')) {
      return err(400, -4130, 'An open stop or take profit order with GTE and closePosition in the direction is existing.');
    }
    // A stop already crossed is refused: -2021 "Order would immediately trigger." (error-code page; ccxt maps it to OrderImmediatelyFillable).
    if (this.crossed(rules.symbol, p.side, p.type, trigger, workingType)) return err(400, -2021, 'Order would immediately trigger.');
    const now = Date.now();
    const o: AlgoOrder = {
      algoId: this.nextAlgoId++, clientAlgoId, algoType: 'CONDITIONAL', orderType: p.type, symbol: rules.symbol, side: p.side, positionSide: 'BOTH',
      timeInForce: p.timeInForce ?? 'GTC', quantity: closePosition ? '0' : p.quantity!, algoStatus: 'NEW', actualOrderId: '', actualPrice: '0.00000', triggerPrice: p.triggerPrice,
      price: '0', icebergQuantity: null, selfTradePreventionMode: p.selfTradePreventionMode ?? 'EXPIRE_MAKER', workingType, priceMatch: 'NONE',
      closePosition, priceProtect: p.priceProtect?.toUpperCase() === 'TRUE', reduceOnly: !closePosition, createTime: now, updateTime: now, triggerTime: 0, goodTillDate: 0,
    };
    this.algoOrders.push(o);
    return { status: 200, body: this.view(o) };
  }

  /**
   * GET /fapi/v1/algoOrder (Query Algo Order): "Either algoId or clientAlgoId must be sent";
   * found open or not (the 3-day / 90-day expiry of the docs is not played). Unknown: -2013.
   */
  query(p: Params): Reply {
    if (!p.algoId && !p.clientAlgoId && !p.algoid && !p.clientalgoid) return err(400, -1102, "Mandatory parameter 'algoid' was not sent, was empty/null, or malformed.");
    const o = this.find(p);
    if (!o || Date.now() - o.createTime < this.lookupLagMs) return err(400, -2013, 'Order does not exist.');
    return { status: 200, body: this.view(o) };
  }

  /**
   * DELETE /fapi/v1/algoOrder (Cancel Algo Order): "Cancel an active algo order": only a
   * NEW one. One that fired (or was cancelled) or was never seen answers -2011 "Unknown
   * order sent." (freqtrade#12681: DELETE /fapi/v1/algoOrder of a triggered stop; ccxt#27486).
   */
  cancel(p: Params): Reply {
    if (!p.algoId && !p.clientAlgoId && !p.algoid && !p.clientalgoid) return err(400, -1102, "Mandatory parameter 'algoid' was not sent, was empty/null, or malformed.");
    const o = this.find(p);
    if (!o || this.statusOf(o) !== 'NEW') return err(400, -2011, 'Unknown order sent.');
    o.algoStatus = 'CANCELED';
    o.updateTime = Date.now();
    return { status: 200, body: { algoId: o.algoId, clientAlgoId: o.clientAlgoId, code: '200', msg: 'success' } };
  }

  /** GET /fapi/v1/openAlgoOrders (Current All Algo Open Orders): NEW ones; all symbols when none is sent. */
  open(p: Params): Reply {
    if (p.symbol && !this.host.rules.has(p.symbol)) return err(400, -1121, 'Invalid symbol.');
    const rows = this.algoOrders.filter(
      (o) => this.statusOf(o) === 'NEW' && (!p.symbol || o.symbol === p.symbol) && (!p.algoType || o.algoType === p.algoType) && (!p.algoId || String(o.algoId) === p.algoId),
    );
    return { status: 200, body: rows.map((o) => this.view(o)) };
  }

  /** GET /fapi/v1/allAlgoOrders (Query All Algo Orders): symbol mandatory; every status. */
  all(p: Params): Reply {
    if (!p.symbol) return err(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
    if (!this.host.rules.has(p.symbol)) return err(400, -1121, 'Invalid symbol.');
    return { status: 200, body: this.algoOrders.filter((o) => o.symbol === p.symbol).map((o) => this.view(o)) };
  }

  /**
   * The trigger (called whenever a price moves): every NEW order of the symbol whose
   * condition holds fires. New Order / New Algo Order, "Condition orders will be triggered
   * when": STOP_MARKET BUY at price ≥ triggerPrice, SELL at price ≤ triggerPrice;
   * TAKE_PROFIT_MARKET BUY at ≤, SELL at ≥; the price is the mark price for
   * workingType=MARK_PRICE, the last price for CONTRACT_PRICE. Firing places a normal
   * MARKET order with a new orderId (Query Algo Order: `actualOrderId`) that closes the
   * whole position (closePosition, "Close-All"), or, for a reduce-only order with a
   * quantity, min(quantity, position) (reduce-only never opens or flips a position). With no position on the side it closes
   * the matching engine refuses it (reduce-only, -2022) and the algo order ends REJECTED
   * ("denied by the matching engine", Event: Algo Order Update).
   */
  onPrice(symbol: string): void {
    for (const o of this.algoOrders) {
      if (o.symbol !== symbol || this.statusOf(o) !== 'NEW') continue;
      if (!this.crossed(symbol, o.side, o.orderType, Number(o.triggerPrice), o.workingType)) continue;
      this.fire(o);
    }
  }

  private fire(o: AlgoOrder): void {
    const now = Date.now();
    o.triggerTime = now;
    o.updateTime = now;
    const pos = this.host.positions.get(o.symbol);
    const closes = pos && ((o.side === 'SELL' && pos.side === 'LONG') || (o.side === 'BUY' && pos.side === 'SHORT'));
    if (!pos || !closes) {
      o.algoStatus = 'REJECTED';
      this.fired.push({ algoId: o.algoId, orderId: undefined, status: o.algoStatus });
      return;
    }
    // The triggered order's own client id is not documented; the fake gives it a fresh one
    // (never the clientAlgoId), so nothing may find it by the algo order's id.
    const qty = o.closePosition ? String(pos.qty) : Number(o.quantity) <= pos.qty ? o.quantity : String(pos.qty);
    const reply = this.host.placeOrder({ symbol: o.symbol, side: o.side, type: 'MARKET', quantity: qty, reduceOnly: 'true', newClientOrderId: `algotrig${o.algoId}` });
    if (reply.status !== 200) {
      o.algoStatus = 'REJECTED';
      this.fired.push({ algoId: o.algoId, orderId: undefined, status: o.algoStatus });
      return;
    }
    const order = reply.body as Record<string, string | number | boolean>;
    // The normal order shows where it came from (Query Order: origType, stopPrice, closePosition, workingType).
    Object.assign(order, { origType: o.orderType, stopPrice: o.triggerPrice, closePosition: o.closePosition, workingType: o.workingType });
    o.actualOrderId = String(order.orderId);
    o.actualPrice = String(order.avgPrice);
    o.algoStatus = 'FINISHED';
    (o as AlgoOrder & { _triggeredUntil?: number })._triggeredUntil = now + this.triggeredForMs;
    this.fired.push({ algoId: o.algoId, orderId: o.actualOrderId, status: o.algoStatus });
  }

  private crossed(symbol: string, side: string, type: string, trigger: number, workingType: string): boolean {
    const q = this.host.quote(symbol);
    const px = workingType === 'MARK_PRICE' ? q.mark : q.price;
    const up = (side === 'BUY') === (type === 'STOP_MARKET' || type === 'STOP'); // BUY stop / SELL take-profit fire on the way up
    return up ? px >= trigger : px <= trigger;
  }

  private find(p: Params): AlgoOrder | undefined {
    const id = p.algoId ?? p.algoid;
    const cid = p.clientAlgoId ?? p.clientalgoid;
    return this.algoOrders.find((o) => (id ? String(o.algoId) === id : o.clientAlgoId === cid));
  }

  private statusOf(o: AlgoOrder): string {
    return this.view(o).algoStatus;
  }

  /** The order as a reply or lookup shows it now (TRIGGERED while `triggeredForMs` runs). */
  private view(o: AlgoOrder): AlgoOrder {
    const { _triggeredUntil: until, ...pub } = o as AlgoOrder & { _triggeredUntil?: number };
    if (pub.algoStatus === 'FINISHED' && until !== undefined && Date.now() < until) return { ...pub, algoStatus: 'TRIGGERED' };
    return { ...pub };
  }
}
