/**
 * The fake Binance server's order-identity, fault, time and rate-limit behaviours, kept
 * apart from its filters (fake-binance.ts imports this module). Each behaviour models
 * Binance USD-M's documented behaviour, and where the documentation allows two answers,
 * the worse one; the source is named on each (see ../../../shared/spec/BINANCE-USDM-RULES.md).
 */

type Reply = { status: number; body: unknown };
const err = (status: number, code: number, msg: string): Reply => ({ status, body: { code, msg } });

/** What happens to the next accepted order's reply (one-shot, in order). */
export type AfterAccept =
  /**
   * The connection is dropped after the order was accepted: the client sees a network
   * failure, the order exists (Binance General Info: "it is possible that the request was
   * executed"; nautilus_trader#1030).
   */
  | { kind: 'drop' }
  /**
   * An HTTP 5xx with Binance's JSON body after the order was accepted: `-1006 Execution
   * status unknown` / `-1007 Timeout waiting for response` (Binance error-code page: the
   * outcome is unknown; ccxt raises OperationFailed / RequestTimeout, the HTTP status lost).
   */
  | { kind: 'error'; status: number; code: number; msg: string }
  /**
   * The reply says PARTIALLY_FILLED with `executedQty` = `shown`, and lookups keep saying
   * so for `forMs`; then FILLED with the whole quantity (a MARKET order sweeping several
   * price levels: the reply is sent before the last match; issue report of 236.26 SOL).
   */
  | { kind: 'partial'; shown: number; forMs: number };

/**
 * Binance's per-IP limits, its clock and its order-lookup lag, as the fake plays them.
 * Each field is a knob a test turns; defaults are Binance's normal behaviour.
 */
export class FakeBinanceFaults {
  /**
   * An order created less than this long ago answers -2013 "Order does not exist." on
   * GET /fapi/v1/order (an order is not always visible at once: ccxt#1786,
   * nautilus_trader#4215, sonvister/Binance#77). 0: visible at once.
   */
  lookupLagMs = 0;
  /** server time − local time, ms (GET /fapi/v1/time and the -1021 check follow it). */
  serverClockOffsetMs = 0;
  /** Requests weight used in the current minute (X-MBX-USED-WEIGHT-1M; Binance General Info "IP limits"). */
  usedWeight = 0;
  private weightMinute = 0;
  /** Epoch ms until which every request answers 418 -1003 (IP ban; Retry-After in seconds). */
  banUntil = 0;
  /** Requests that arrived while banned (a client that honours a ban sends none). */
  readonly duringBan: { method: string; path: string }[] = [];
  private after: AfterAccept[] = [];
  private expiries: { status: 'EXPIRED' | 'EXPIRED_IN_MATCH' | 'CANCELED'; executedQty: number }[] = [];

  /**
   * The next order ends `status` with only `executedQty` executed (> 0): a MARKET order
   * stopped by self-trade prevention (EXPIRED_IN_MATCH, mandatory on futures since
   * 2024-12-10) or by the book running out (EXPIRED). Binance USD-M order statuses: these
   * are final and may carry executedQty > 0; the position moves by that part only.
   */
  expireNext(status: 'EXPIRED' | 'EXPIRED_IN_MATCH' | 'CANCELED', executedQty: number): void {
    this.expiries.push({ status, executedQty });
  }

  takeExpiry(): { status: 'EXPIRED' | 'EXPIRED_IN_MATCH' | 'CANCELED'; executedQty: number } | undefined {
    return this.expiries.shift();
  }
  private pending429: { retryAfterS: number; path?: string }[] = [];

  /** The next accepted order's reply is replaced (see AfterAccept). */
  afterAccept(a: AfterAccept): void {
    this.after.push(a);
  }

  takeAfterAccept(): AfterAccept | undefined {
    return this.after.shift();
  }

  /**
   * 418 for `seconds`: "Way too many requests; IP banned until {ms}" with Retry-After
   * (Binance General Info: "repeatedly violating rate limits and/or failing to back off
   * after receiving 429s will result in an automated IP ban (HTTP status 418)… from 2
   * minutes to 3 days"; freqtrade#12441, nefertiti#55).
   */
  ban(seconds: number): void {
    this.banUntil = Date.now() + seconds * 1000;
  }

  /** The next request (of this path) answers 429 -1003 with Retry-After (Binance General Info). */
  tooMany(retryAfterS: number, path?: string): void {
    this.pending429.push({ retryAfterS, path });
  }

  serverTime(): number {
    return Date.now() + this.serverClockOffsetMs;
  }

  /**
   * Before routing: the ban, a 429, then (signed requests) the timestamp rule:
   * serverTime − recvWindow ≤ timestamp < serverTime + 1000, else -1021 (Binance
   * "Timing security"; python-binance#60). recvWindow defaults to 5000 when not sent.
   */
  before(method: string, path: string, params: Record<string, string>, signed: boolean): { reply: Reply; retryAfterS?: number } | undefined {
    this.weigh(path, params);
    const now = Date.now();
    if (now < this.banUntil) {
      this.duringBan.push({ method, path });
      const until = this.banUntil;
      return { reply: err(418, -1003, `Way too many requests; IP(127.0.0.1) banned until ${until}. Please use the websocket for live updates to avoid bans.`), retryAfterS: Math.ceil((until - now) / 1000) };
    }
    const i = this.pending429.findIndex((p) => !p.path || path.includes(p.path));
    if (i >= 0) {
      const [p] = this.pending429.splice(i, 1);
      return { reply: err(429, -1003, 'Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. Please use the websocket for live updates to avoid polling the API.'), retryAfterS: p.retryAfterS };
    }
    if (signed && params.timestamp) {
      const ts = Number(params.timestamp);
      const server = this.serverTime();
      const recvWindow = Number(params.recvWindow ?? 5000);
      if (ts >= server + 1000) return { reply: err(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.") };
      if (server - ts > recvWindow) return { reply: err(400, -1021, 'Timestamp for this request is outside of the recvWindow.') };
    }
    return undefined;
  }

  /** Response headers every reply carries (Binance General Info: X-MBX-USED-WEIGHT-1M; Retry-After on 429/418). */
  headers(retryAfterS?: number): Record<string, string> {
    const h: Record<string, string> = { 'x-mbx-used-weight-1m': String(this.usedWeight) };
    if (retryAfterS !== undefined) h['retry-after'] = String(retryAfterS);
    return h;
  }

  /** Request weights of the endpoints the engine calls (Binance USD-M endpoint pages), default 1. */
  private weigh(path: string, params: Record<string, string> = {}): void {
    const minute = Math.floor(Date.now() / 60_000);
    if (minute !== this.weightMinute) {
      this.weightMinute = minute;
      this.usedWeight = 0;
    }
    // Current All Algo Open Orders: "1 for a single symbol; 40 when the symbol parameter is omitted".
    this.usedWeight += path === '/fapi/v1/openAlgoOrders' && !params.symbol ? 40 : (WEIGHTS[path] ?? 1);
  }

  /**
   * What a lookup of `order` shows now: -2013 while it is younger than the lookup lag,
   * PARTIALLY_FILLED while a partial reply's time runs, else the order.
   */
  view(order: Record<string, string | number | boolean>): Reply {
    const created = Number(order.time);
    if (Date.now() - created < this.lookupLagMs) return err(400, -2013, 'Order does not exist.');
    return { status: 200, body: this.shown(order) };
  }

  /** The order as its reply or a lookup shows it at this moment (partial fills). */
  shown(order: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
    const until = Number(order._partialUntil ?? 0);
    const { _partialUntil: _u, _partialQty: q, ...pub } = order;
    if (Date.now() < until) {
      const avg = Number(order.avgPrice);
      return { ...pub, status: 'PARTIALLY_FILLED', executedQty: String(q), cumQty: String(q), cumQuote: String(Number(q) * avg) };
    }
    return pub;
  }
}

const WEIGHTS: Record<string, number> = {
  '/fapi/v1/exchangeInfo': 1,
  '/fapi/v1/leverageBracket': 1,
  '/fapi/v2/positionRisk': 5,
  '/fapi/v3/positionRisk': 5,
  '/fapi/v2/account': 5,
  '/fapi/v3/account': 5,
  '/fapi/v1/userTrades': 5,
  '/fapi/v1/allAlgoOrders': 5,
};
