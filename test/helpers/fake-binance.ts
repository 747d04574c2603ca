/**
 * A fake Binance USD-M REST server (node:http on 127.0.0.1, free port) answering what
 * ccxt's binanceusdm calls. It checks the API key and the HMAC-SHA256 signature, applies
 * Binance's order rules (src/engine/exchange/order-rules.ts, shared with the paper exchange:
 * -4003/-1111/-4023/-1013/-4005, -2022, -4164, -4131, -4028, -2027, margin -2019; the
 * leverage brackets it serves: fake-binance-rules.ts) plus duplicate client ids (-4116, among open orders only, as Binance),
 * keeps positions, and can be told to fail the next call or to accept
 * an order and then not answer. ccxt keeps its real hostnames (so its USD-M error table
 * stays selected); `fetch` rewrites them to this server.
 *
 * Order identity, lost and failed replies after acceptance, partial-fill replies, lagging
 * lookups, server time and -1021, 429/418 with Retry-After and the weight header are
 * played by `faults` (fake-binance-faults.ts), each naming the Binance document or report
 * it follows. The Algo Order API (conditional orders: STOP_MARKET / TAKE_PROFIT_MARKET since
 * 2025-12-09, -4120 on /fapi/v1/order, the trigger on the mark price) is `algo`
 * (fake-binance-algo.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { loadMarkets, packageRoot, SNAPSHOT_FILE } from '../../src/engine/exchange/markets.js';
import { leverageBracketBody, maxNotionalValue } from './fake-binance-rules.js';
import { decideFill, type PaperAccount, type PaperPosition } from '../../src/engine/exchange/paper-fill.js';
import { ExchangeError, type MarketRules } from '../../src/engine/exchange/types.js';
import { FakeBinanceFaults } from './fake-binance-faults.js';
import { ALGO_ONLY_REPLY, ALGO_ONLY_TYPES, FakeBinanceAlgo } from './fake-binance-algo.js';

/** Statuses of an open order: Binance refuses a client id (-4116) only while its order is open (BINANCE-USDM-RULES, Order identity). */
const OPEN_STATUSES = new Set(['NEW', 'PARTIALLY_FILLED']);

export interface Failure {
  status?: number;
  code?: number;
  msg?: string;
  /** Only a request whose path contains this fails (default: the next request of any path). */
  path?: string;
  /** Retry-After (seconds) sent with a 429/418 (default 0). */
  retryAfterS?: number;
}

export interface Call {
  method: string;
  path: string;
  host: string;
  params: Record<string, string>;
  status: number;
  /** When the request arrived (epoch ms). */
  at: number;
}

type Params = Record<string, string>;
type Order = Record<string, string | number | boolean>;
type Trade = Record<string, string | number | boolean>;
type Reply = { status: number; body: unknown };

const DEFAULT_PRICES: Record<string, number> = {
  BTCUSDT: 100000, ETHUSDT: 4000, SOLUSDT: 200, XRPUSDT: 2.5, BNBUSDT: 1000, ADAUSDT: 0.8, LINKUSDT: 20,
  LTCUSDT: 100, DOTUSDT: 5, AVAXUSDT: 30, NEARUSDT: 3, SUIUSDT: 3, ALGOUSDT: 0.25, AEVOUSDT: 0.1,
};

const err = (status: number, code: number, msg: string): Reply => ({ status, body: { code, msg } });

export class FakeBinance {
  readonly calls: Call[] = [];
  /** Binance's identity, fault, clock and rate-limit behaviours (fake-binance-faults.ts). */
  readonly faults = new FakeBinanceFaults();
  /** Binance's Algo Order API: conditional orders and their trigger (fake-binance-algo.ts). */
  readonly algo: FakeBinanceAlgo = new FakeBinanceAlgo(this);
  readonly rules: Map<string, MarketRules> = loadMarkets();
  readonly positions = new Map<string, PaperPosition>();
  readonly orders: Order[] = [];
  readonly trades: Trade[] = [];
  account: PaperAccount;
  takerFee = 0.0004;
  /** How far a MARKET order's fill moves from the mark against the taker (bps): the book's depth, as the paper exchange's QT_PAPER_SLIPPAGE_BPS. */
  slippageBps = 0;
  readonly exchangeInfo: unknown = JSON.parse(readFileSync(join(packageRoot(), SNAPSHOT_FILE), 'utf8'));
  private readonly prices = new Map<string, { price: number; mark: number; time?: number }>();
  private readonly leverage = new Map<string, number>();
  private failures: Failure[] = [];
  private holdNextOrder = false;
  /** The account's position mode (GET/POST /fapi/v1/positionSide/dual). */
  dualSidePosition = false;
  private held = new Set<ServerResponse>();
  private nextOrderId = 8_000_000_001;
  private server = createServer((req, res) => void this.onRequest(req, res));
  url = '';

  constructor(
    readonly apiKey: string,
    readonly secret: string,
    balance: number,
  ) {
    this.account = { wallet: balance, marginUsed: 0 };
    for (const s of this.rules.keys()) this.prices.set(s, { price: DEFAULT_PRICES[s] ?? 1, mark: DEFAULT_PRICES[s] ?? 1 });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const r of this.held) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A fetch for ccxt's `fetchImplementation`: real Binance hostnames → this server. */
  readonly fetch: typeof fetch = (input, init) => {
    const u = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const m = /^https:\/\/([a-z0-9-]+\.binance\.com)(\/.*)$/.exec(u);
    if (!m) return Promise.reject(new TypeError(`fake-binance: refusing a non-Binance URL`));
    const headers = new Headers(init?.headers as ConstructorParameters<typeof Headers>[0]);
    headers.set('x-fake-host', m[1]);
    return fetch(this.url + m[2], { ...init, headers });
  };

  /** Sets a symbol's last and mark price (and optionally a fixed exchange timestamp); resting algo orders crossed by it fire. */
  setPrice(symbol: string, price: number, o: { mark?: number; time?: number } = {}): void {
    this.prices.set(symbol, { price, mark: o.mark ?? price, time: o.time });
    this.algo.onPrice(symbol);
  }

  /** The next matching request fails with this HTTP status and/or Binance code. */
  failNext(f: Failure): void {
    this.failures.push(f);
  }

  /** The next order is accepted (state changes) but the answer is held past the client's timeout. */
  timeoutAfterAccept(): void {
    this.holdNextOrder = true;
  }

  count(method: string, path: string): number {
    return this.calls.filter((c) => c.method === method && c.path === path).length;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const raw = method === 'GET' || method === 'DELETE' ? url.search.replace(/^\?/, '') : body;
    const params: Params = Object.fromEntries(new URLSearchParams(raw));
    const call: Call = { method, path: url.pathname, host: String(req.headers['x-fake-host'] ?? ''), params, status: 0, at: Date.now() };
    this.calls.push(call);
    const send = (r: Reply, retryAfterS?: number) => {
      call.status = r.status;
      if (res.destroyed) return;
      const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      res.writeHead(r.status, { 'content-type': typeof r.body === 'string' ? 'text/plain' : 'application/json', ...this.faults.headers(retryAfterS) });
      res.end(text);
    };
    const fi = this.failures.findIndex((f) => !f.path || url.pathname.includes(f.path));
    if (fi >= 0) {
      const [f] = this.failures.splice(fi, 1);
      const status = f.status ?? 400;
      if (f.code !== undefined) return send(err(status, f.code, f.msg ?? 'fake failure'), status === 429 || status === 418 ? (f.retryAfterS ?? 0) : undefined);
      // Binance sends Retry-After with every 429/418 (General Info, "Limits"); a failNext one says 0 s unless told.
      if (status === 429 || status === 418) return send(err(status, -1003, f.msg ?? 'Too many requests; current limit is 2400 requests per minute.'), f.retryAfterS ?? 0);
      return send({ status, body: f.msg ?? 'Service Unavailable' });
    }
    const route = `${method} ${url.pathname}`;
    const gate = this.faults.before(method, url.pathname, params, !!PRIVATE[route]);
    if (gate) return send(gate.reply, gate.retryAfterS);
    const pub = PUBLIC[route];
    if (pub) return send(pub(this, params));
    const priv = PRIVATE[route];
    if (!priv) return send(err(404, -5000, `fake-binance: no route ${route}`));
    const auth = this.checkAuth(req, raw);
    if (auth) return send(auth);
    const reply = priv(this, params);
    const placing = route === 'POST /fapi/v1/order' || route === 'POST /fapi/v1/algoOrder';
    const after = placing && reply.status === 200 ? this.faults.takeAfterAccept() : undefined;
    if (after?.kind === 'drop') {
      call.status = 200;
      res.socket?.destroy();
      return;
    }
    if (after?.kind === 'error') return send(err(after.status, after.code, after.msg));
    if (after?.kind === 'partial' && route === 'POST /fapi/v1/order') {
      const o = reply.body as Order;
      Object.assign(o, { _partialUntil: Date.now() + after.forMs, _partialQty: after.shown });
    }
    if (route === 'POST /fapi/v1/order' && reply.status === 200) reply.body = this.faults.shown(reply.body as Order);
    if (route === 'POST /fapi/v1/order' && reply.status === 200 && this.holdNextOrder) {
      this.holdNextOrder = false;
      call.status = 200;
      this.held.add(res);
      res.on('close', () => this.held.delete(res));
      const t = setTimeout(() => send(reply), 10_000);
      t.unref();
      return;
    }
    send(reply);
  }

  private checkAuth(req: IncomingMessage, raw: string): Reply | undefined {
    const denied = err(401, -2015, 'Invalid API-key, IP, or permissions for action.');
    if (req.headers['x-mbx-apikey'] !== this.apiKey) return denied;
    const i = raw.lastIndexOf('&signature=');
    if (i < 0) return denied;
    const want = createHmac('sha256', this.secret).update(raw.slice(0, i)).digest();
    const got = Buffer.from(raw.slice(i + '&signature='.length), 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return denied;
    if (!/timestamp=\d+/.test(raw)) return err(400, -1102, "Mandatory parameter 'timestamp' was not sent.");
    return undefined;
  }

  quote(symbol: string): { price: number; mark: number; time: number } {
    const p = this.prices.get(symbol)!;
    return { ...p, time: p.time ?? Date.now() };
  }

  leverageOf(symbol: string): number {
    return this.leverage.get(symbol) ?? 20;
  }

  /** Bracket 1's initialLeverage (the served leverage brackets: the shipped snapshot). */
  maxLeverage(symbol: string): number {
    return this.rules.get(symbol)?.maxLeverage ?? 20;
  }

  setLeverage(p: Params): Reply {
    const r = this.rules.get(p.symbol ?? '');
    if (!r) return err(400, -1121, 'Invalid symbol.');
    const lev = Number(p.leverage);
    if (!Number.isInteger(lev) || lev < 1 || lev > this.maxLeverage(r.symbol)) return err(400, -4028, `Leverage ${p.leverage} is not valid`);
    this.leverage.set(r.symbol, lev);
    return { status: 200, body: { symbol: r.symbol, leverage: lev, maxNotionalValue: maxNotionalValue(r, lev) } };
  }

  placeOrder(p: Params): Reply {
    const rules = this.rules.get(p.symbol ?? '');
    if (!rules) return err(400, -1121, 'Invalid symbol.');
    // Conditional types moved to the Algo Service on 2025-12-09 (fake-binance-algo.ts).
    if (ALGO_ONLY_TYPES.has(p.type ?? '')) return ALGO_ONLY_REPLY;
    if (p.type !== 'MARKET') return err(400, -1116, 'Invalid orderType (the fake serves MARKET only).');
    const cid = p.newClientOrderId ?? `fake-${this.nextOrderId}`;
    if (!/^[.A-Z:/a-z0-9_-]{1,36}$/.test(cid)) return err(400, -1100, "Illegal characters found in parameter 'newClientOrderId'.");
    if (this.orders.some((o) => o.clientOrderId === cid && OPEN_STATUSES.has(String(this.faults.shown(o).status)))) return err(400, -4116, 'ClientOrderId is duplicated.');
    const side = p.side === 'SELL' ? 'SELL' : 'BUY';
    const reduceOnly = p.reduceOnly === 'true';
    const expiry = this.faults.takeExpiry(); // ends EXPIRED / EXPIRED_IN_MATCH / CANCELED with part executed
    const q = this.quote(rules.symbol);
    const pos = this.positions.get(rules.symbol) ?? null;
    let fill;
    try {
      fill = decideFill({
        req: { symbol: rules.symbol, side, qty: expiry ? expiry.executedQty : Number(p.quantity), reduceOnly, clientOrderId: cid, leverage: this.leverageOf(rules.symbol) },
        rules,
        mark: q.mark,
        account: this.account,
        position: pos,
        leverage: this.leverageOf(rules.symbol),
        slippageBps: this.slippageBps,
        takerFee: this.takerFee,
      });
    } catch (e) {
      if (e instanceof ExchangeError) return err(400, Number(e.code), e.message);
      throw e;
    }
    if (fill.position) this.positions.set(rules.symbol, fill.position);
    else this.positions.delete(rules.symbol);
    this.account = fill.account;
    const now = Date.now();
    const orderId = this.nextOrderId++;
    const order: Order = {
      orderId, symbol: rules.symbol, status: expiry?.status ?? 'FILLED', clientOrderId: cid, price: '0', avgPrice: String(fill.price),
      origQty: p.quantity ?? '0', executedQty: String(fill.fillQty), cumQty: String(fill.fillQty), cumQuote: String(fill.fillQty * fill.price),
      timeInForce: 'GTC', type: 'MARKET', reduceOnly, closePosition: false, side, positionSide: 'BOTH', stopPrice: '0',
      workingType: 'CONTRACT_PRICE', priceProtect: false, origType: 'MARKET', time: now, updateTime: now,
    };
    this.orders.push(order);
    this.trades.push({
      id: this.trades.length + 1, orderId, symbol: rules.symbol, side, price: String(fill.price), qty: String(fill.fillQty),
      quoteQty: String(fill.fillQty * fill.price), commission: String(fill.fee), commissionAsset: 'USDT',
      realizedPnl: String(fill.realizedPnl), positionSide: 'BOTH', buyer: side === 'BUY', maker: false, time: now,
    });
    return { status: 200, body: order };
  }

  findOrder(p: Params): Reply {
    const o = this.orders.find((x) => x.symbol === p.symbol && (p.orderId ? String(x.orderId) === p.orderId : x.clientOrderId === p.origClientOrderId));
    return o ? this.faults.view(o) : err(400, -2013, 'Order does not exist.');
  }

  positionRows(v2: boolean): Record<string, unknown>[] {
    const rows: Record<string, unknown>[] = [];
    for (const symbol of this.rules.keys()) {
      const pos = this.positions.get(symbol);
      if (!pos && !v2) continue;
      const mark = this.quote(symbol).mark;
      const amt = pos ? (pos.side === 'LONG' ? pos.qty : -pos.qty) : 0;
      const upnl = pos ? (mark - pos.entryPrice) * amt : 0;
      const row: Record<string, unknown> = {
        symbol, positionSide: 'BOTH', positionAmt: String(amt), entryPrice: String(pos?.entryPrice ?? 0), breakEvenPrice: '0',
        markPrice: String(mark), unRealizedProfit: String(upnl), liquidationPrice: '0', isolatedMargin: String(pos?.margin ?? 0),
        notional: String(amt * mark), isolatedWallet: String(pos?.margin ?? 0), updateTime: Date.now(),
      };
      if (v2) Object.assign(row, { leverage: String(this.leverageOf(symbol)), marginType: 'isolated', isAutoAddMargin: 'false', maxNotionalValue: '1000000' });
      else Object.assign(row, { marginAsset: 'USDT', initialMargin: String(pos?.margin ?? 0), maintMargin: '0', adl: 0 });
      rows.push(row);
    }
    return rows;
  }

  accountBody(): Record<string, unknown> {
    const upnl = this.positionRows(false).reduce((s, r) => s + Number(r.unRealizedProfit), 0);
    const a = this.account;
    const s = (n: number) => n.toFixed(8);
    const asset = {
      asset: 'USDT', walletBalance: s(a.wallet), unrealizedProfit: s(upnl), marginBalance: s(a.wallet + upnl), maintMargin: '0',
      initialMargin: s(a.marginUsed), positionInitialMargin: s(a.marginUsed), openOrderInitialMargin: '0', crossWalletBalance: s(a.wallet),
      crossUnPnl: '0', availableBalance: s(a.wallet - a.marginUsed), maxWithdrawAmount: s(a.wallet - a.marginUsed), updateTime: Date.now(),
    };
    return {
      totalInitialMargin: s(a.marginUsed), totalMaintMargin: '0', totalWalletBalance: s(a.wallet), totalUnrealizedProfit: s(upnl),
      totalMarginBalance: s(a.wallet + upnl), totalPositionInitialMargin: s(a.marginUsed), totalOpenOrderInitialMargin: '0',
      totalCrossWalletBalance: s(a.wallet), totalCrossUnPnl: '0', availableBalance: asset.availableBalance,
      maxWithdrawAmount: asset.maxWithdrawAmount, assets: [asset], positions: this.positionRows(false),
    };
  }
}

const bySymbol = (f: FakeBinance, p: Params, row: (s: string) => Record<string, unknown>): Reply => {
  if (p.symbol) return f.rules.has(p.symbol) ? { status: 200, body: row(p.symbol) } : err(400, -1121, 'Invalid symbol.');
  return { status: 200, body: [...f.rules.keys()].map(row) };
};

const PUBLIC: Record<string, (f: FakeBinance, p: Params) => Reply> = {
  'GET /fapi/v1/ping': () => ({ status: 200, body: {} }),
  'GET /fapi/v1/time': (f) => ({ status: 200, body: { serverTime: f.faults.serverTime() } }),
  'GET /fapi/v1/exchangeInfo': (f) => ({ status: 200, body: f.exchangeInfo }),
  'GET /fapi/v1/ticker/price': (f, p) => bySymbol(f, p, (s) => ({ symbol: s, price: String(f.quote(s).price), time: f.quote(s).time })),
  'GET /fapi/v2/ticker/price': (f, p) => bySymbol(f, p, (s) => ({ symbol: s, price: String(f.quote(s).price), time: f.quote(s).time })),
  'GET /fapi/v1/premiumIndex': (f, p) =>
    bySymbol(f, p, (s) => {
      const q = f.quote(s);
      return { symbol: s, markPrice: String(q.mark), indexPrice: String(q.mark), estimatedSettlePrice: String(q.mark), lastFundingRate: '0.0001', interestRate: '0.0001', nextFundingTime: q.time + 3_600_000, time: q.time };
    }),
};

const PRIVATE: Record<string, (f: FakeBinance, p: Params) => Reply> = {
  'GET /fapi/v1/positionSide/dual': (f) => ({ status: 200, body: { dualSidePosition: f.dualSidePosition } }),
  'POST /fapi/v1/leverage': (f, p) => f.setLeverage(p),
  'GET /fapi/v1/leverageBracket': (f, p) => leverageBracketBody(f.rules, p.symbol),
  'POST /fapi/v1/order': (f, p) => f.placeOrder(p),
  'GET /fapi/v1/order': (f, p) => f.findOrder(p),
  // Market orders fill at once: there is never an open order to cancel.
  'DELETE /fapi/v1/order': () => err(400, -2011, 'Unknown order sent.'),
  'POST /fapi/v1/algoOrder': (f, p) => f.algo.place(p),
  'GET /fapi/v1/algoOrder': (f, p) => f.algo.query(p),
  'DELETE /fapi/v1/algoOrder': (f, p) => f.algo.cancel(p),
  'GET /fapi/v1/openAlgoOrders': (f, p) => f.algo.open(p),
  'GET /fapi/v1/allAlgoOrders': (f, p) => f.algo.all(p),
  'GET /fapi/v2/positionRisk': (f, p) => ({ status: 200, body: f.positionRows(true).filter((r) => !p.symbol || r.symbol === p.symbol) }),
  'GET /fapi/v3/positionRisk': (f, p) => ({ status: 200, body: f.positionRows(false).filter((r) => !p.symbol || r.symbol === p.symbol) }),
  'GET /fapi/v2/account': (f) => ({ status: 200, body: f.accountBody() }),
  'GET /fapi/v3/account': (f) => ({ status: 200, body: f.accountBody() }),
  'GET /fapi/v2/balance': (f) => ({ status: 200, body: (f.accountBody().assets as unknown[]).map((a) => ({ ...(a as object), balance: (a as { walletBalance: string }).walletBalance })) }),
  'GET /fapi/v1/userTrades': (f, p) => ({
    status: 200,
    body: f.trades.filter((t) => t.symbol === p.symbol && (!p.orderId || String(t.orderId) === p.orderId)),
  }),
};

export async function startFakeBinance(o: { apiKey?: string; secret?: string; balance?: number } = {}): Promise<FakeBinance> {
  const f = new FakeBinance(o.apiKey ?? 'fakeKeyAAAAAAAAAAAAAAAAAAAAAAAA', o.secret ?? 'fakeSecretBBBBBBBBBBBBBBBBBBBBBB', o.balance ?? 10_000);
  await f.listen();
  return f;
}
