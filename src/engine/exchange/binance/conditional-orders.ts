/**
 * The Binance adapter's conditional orders (issue 18): protective closePosition STOP_MARKET /
 * TAKE_PROFIT_MARKET orders through Binance's Algo Order API, called with ccxt's implicit
 * methods (algo.ts builds the request and reads the rows; docs/binance.md "Protective stops
 * on the exchange"). Kept apart from adapter.ts, which delegates its four Exchange methods here.
 * Every failure leaves as an ExchangeError through the adapter's own mapping (clock resync
 * on -1021 included); no ccxt message and no credential leaves here.
 */
import type { Logger } from '../../../log.js';
import { ExchangeError, type ConditionalOrder, type ConditionalOrderRequest, type MarketRules } from '../types.js';
import { algoApiOf, algoOrderParams, conditionalOrderFrom, foreignReason, type AlgoApi } from './algo.js';
import { binanceCodeOf, CANCEL_UNKNOWN_CODES, isOrderNotFound, ORDER_NOT_FOUND, type ErrorContext } from './errors.js';

/** What ConditionalOrders needs of the adapter. */
export interface ConditionalOrdersDeps {
  /** The ccxt binanceusdm client. */
  client(): unknown;
  /** The market's rules; throws ExchangeError `symbol_not_allowed` for a symbol not traded. */
  rules(symbol: string): MarketRules;
  /** The adapter's error mapping (errors.ts, plus the clock resync after -1021). */
  failed(e: unknown, ctx: ErrorContext): ExchangeError;
  log(): Logger;
}

export class ConditionalOrders {
  constructor(private readonly d: ConditionalOrdersDeps) {}

  private algo(): AlgoApi {
    return algoApiOf(this.d.client());
  }

  private get log(): Logger {
    return this.d.log();
  }

  private failed(e: unknown, ctx: ErrorContext): ExchangeError {
    return this.d.failed(e, ctx);
  }

  /**
   * POST /fapi/v1/algoOrder: a closePosition (or, with `req.quantity`, reduce-only)
   * STOP_MARKET / TAKE_PROFIT_MARKET on the mark price (algo.ts algoOrderParams). Throws ExchangeError: `duplicate` (-4116/-20132) when
   * the clientAlgoId rests already; -2021 when the trigger is already crossed; a timeout or
   * 5xx is `unknownOutcome` (look it up with fetchConditionalOrder before placing again).
   */
  async place(req: ConditionalOrderRequest): Promise<ConditionalOrder> {
    const params = algoOrderParams(req, this.d.rules(req.symbol));
    let raw: unknown;
    try {
      raw = await this.algo().fapiPrivatePostAlgoOrder(params);
    } catch (e) {
      const err = this.failed(e, { op: 'algoOrder', symbol: req.symbol, submit: true });
      this.log.warn('binance conditional order failed', {
        symbol: req.symbol, type: req.type, side: req.side, stop_price: params.triggerPrice, client_algo_id: req.clientAlgoId,
        reason: err.reason, code: err.code, unknown_outcome: err.unknownOutcome, error: err.message,
      });
      throw err;
    }
    const o = conditionalOrderFrom(raw);
    if (!o) {
      // Accepted (HTTP 200) but not readable as the order sent: its state is unknown, look it up.
      throw new ExchangeError(`binance algoOrder ${req.symbol}: the reply is not the conditional order sent`, 'exchange_unavailable', 'unreadable_reply', { retryable: true, unknownOutcome: true });
    }
    this.log.info('binance conditional order', { symbol: o.symbol, type: o.type, side: o.side, stop_price: o.stopPrice, status: o.status, algo_id: o.algoId, client_algo_id: o.clientAlgoId });
    return o;
  }

  /**
   * DELETE /fapi/v1/algoOrder by clientAlgoId, then its final state (GET). When Binance
   * answers that it does not know the order as open (-2011: it triggered, was cancelled or
   * never existed; freqtrade#12681), returns what fetchConditionalOrder finds (or null).
   */
  async cancel(symbol: string, clientAlgoId: string): Promise<ConditionalOrder | null> {
    this.d.rules(symbol);
    try {
      await this.algo().fapiPrivateDeleteAlgoOrder({ clientAlgoId });
    } catch (e) {
      const code = binanceCodeOf(e);
      if (code === undefined || !CANCEL_UNKNOWN_CODES.includes(code)) throw this.failed(e, { op: 'cancel algoOrder', symbol });
      this.log.info('binance conditional order not open at cancel: looking up its final state', { symbol, client_algo_id: clientAlgoId, code });
    }
    return this.fetch(symbol, clientAlgoId);
  }

  /** GET /fapi/v1/algoOrder by clientAlgoId, open or not; null when Binance does not know it (-2013). */
  async fetch(symbol: string, clientAlgoId: string): Promise<ConditionalOrder | null> {
    this.d.rules(symbol);
    let raw: unknown;
    try {
      raw = await this.algo().fapiPrivateGetAlgoOrder({ clientAlgoId });
    } catch (e) {
      if (binanceCodeOf(e) === ORDER_NOT_FOUND || isOrderNotFound(e)) return null;
      throw this.failed(e, { op: 'get algoOrder', symbol });
    }
    const o = conditionalOrderFrom(raw);
    if (!o) {
      const why = raw && typeof raw === 'object' ? (foreignReason(raw as Record<string, unknown>) ?? 'no ids') : 'empty';
      throw new ExchangeError(`binance get algoOrder ${symbol}: ${clientAlgoId} is not a protective order qt placed (${why})`, 'exchange_rejected', 'foreign_algo_order');
    }
    if (o.symbol !== symbol) {
      throw new ExchangeError(`binance get algoOrder ${symbol}: ${clientAlgoId} belongs to ${o.symbol}`, 'exchange_rejected', 'foreign_algo_order');
    }
    return o;
  }

  /**
   * GET /fapi/v1/openAlgoOrders (weight 1 with a symbol, 40 without): the protective orders
   * resting now: closePosition STOP_MARKET / TAKE_PROFIT_MARKET on the mark price, and
   * reduce-only ones with a quantity under qt's client ids (`qtp-`, the gapless move of
   * src/engine/protect/stops.ts). Other rows (placed by hand, say) are left out and counted
   * in a warning.
   */
  async open(symbol?: string): Promise<ConditionalOrder[]> {
    if (symbol) this.d.rules(symbol);
    let raw: unknown;
    try {
      raw = await this.algo().fapiPrivateGetOpenAlgoOrders(symbol ? { symbol, algoType: 'CONDITIONAL' } : { algoType: 'CONDITIONAL' });
    } catch (e) {
      throw this.failed(e, { op: 'openAlgoOrders', symbol });
    }
    const rows = Array.isArray(raw) ? raw : [];
    const out: ConditionalOrder[] = [];
    let foreign = 0;
    for (const r of rows) {
      const o = conditionalOrderFrom(r);
      if (o && o.status === 'NEW') out.push(o);
      else if (!o) foreign++;
    }
    if (foreign) this.log.warn('binance open algo orders not placed by qt (not its closePosition or qtp- reduce-only stops on the mark price) are not listed', { symbol, count: foreign });
    return out;
  }
}
