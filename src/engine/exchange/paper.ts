/**
 * The embedded paper exchange: behaves like Binance USD-M futures (one-way position
 * mode, isolated margin, market orders at the mark plus slippage, taker fee, Binance's
 * refusals and error codes). Its state lives in Redis (`paper:*` keys from Names), so it
 * survives restarts and several executors can share it: each order is applied by one
 * Lua script that checks the account's sequence number (optimistic concurrency) and
 * refuses a client order id it has seen before.
 *
 * Split by concern: Binance's rules are order-rules.ts, the fill model paper-fill.ts, the
 * state kept in Redis (its scripts and hash readers) paper-state.ts; this file orders them.
 */
import type { Redis } from 'ioredis';
import { ORDER_TTL_S, PAPER_ORDER_LOG_MAX, type Names } from '../../contract/names.js';
import type { Logger } from '../../log.js';
import { loadMarkets } from './markets.js';
import { FaultInjector, faultError, type FaultKind, type FaultOptions } from './paper-faults.js';
import { BINANCE, checkLeverage } from './order-rules.js';
import { decideFill } from './paper-fill.js';
import { ackFromHash, APPLY_BATCH, APPLY_ORDER, flat, n, readPaperPosition } from './paper-state.js';
import { PaperAlgoBook, type TriggeredFill } from './paper-algo.js';
import type { Balance, ConditionalOrder, ConditionalOrderRequest, Exchange, ExchangePosition, MarketRules, OrderAck, OrderRequest } from './types.js';
import { ExchangeError } from './types.js';

export interface PaperOptions {
  redis: Redis;
  names: Names;
  /** Market rules; default: QT_MARKETS_FILE (marketsFile) or the shipped snapshot. */
  markets?: Map<string, MarketRules>;
  marketsFile?: string;
  /** Starting USDT balance, written once when the account does not exist. */
  balance: number;
  slippageBps: number;
  takerFee: number;
  faults?: FaultOptions;
  log?: Logger;
  now?: () => number;
  /** MAXLEN ~ of execution.result, where triggered stops announce their fills (QT_STREAM_MAXLEN; default 100000). */
  streamMaxLen?: number;
}

const MAX_ATTEMPTS = 20;
/**
 * Before trying again after a RETRY: the first time at once (mostly a price that moved since
 * it was cached: nobody else is writing), then a random pause growing with the attempts
 * (another instance is trading on the same account).
 */
const backoff = (attempt: number) => (attempt === 0 ? Promise.resolve() : new Promise((r) => setTimeout(r, Math.random() * 5 * attempt)));
export class PaperExchange implements Exchange {
  readonly name = 'paper' as const;
  readonly mode = 'PAPER' as const;
  private readonly markets: Map<string, MarketRules>;
  private readonly faults: FaultInjector;
  private readonly now: () => number;
  private accountReady = false;
  /** Orders of this instance run one at a time; the script guards against other instances. */
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The state this instance last read or wrote (account, positions, prices). Orders are
   * decided on it and the script refuses (RETRY) when the account's sequence number or the
   * symbol's price moved meanwhile; then the state is read again. Saves a round trip per order.
   */
  private cache: { account: Record<string, string>; positions: Map<string, Record<string, string>>; prices: Map<string, [string | null, string | null]> } | null = null;

  /** Resting conditional orders (paper-algo.ts). */
  private readonly algos: PaperAlgoBook;

  constructor(private readonly o: PaperOptions) {
    this.markets = o.markets ?? loadMarkets(o.marketsFile);
    this.faults = new FaultInjector(o.faults);
    this.now = o.now ?? Date.now;
    this.algos = new PaperAlgoBook({
      redis: o.redis,
      names: o.names,
      now: () => this.now(),
      rules: (s) => this.markets.get(s),
      // A trigger's MARKET order takes the same path as any other (no injected faults: it is the exchange's own).
      submit: (req) => this.execute(req),
      fetchOrder: async (sym, cid) => {
        const ack = ackFromHash(await o.redis.hgetall(o.names.paperOrder(cid)));
        return ack && ack.symbol === sym ? ack : null;
      },
      streamMaxLen: o.streamMaxLen ?? 100_000,
    });
  }

  /** Places a resting STOP_MARKET / TAKE_PROFIT_MARKET closePosition order (paper-algo.ts: Binance's rules and codes). */
  async placeConditionalOrder(req: ConditionalOrderRequest): Promise<ConditionalOrder> {
    this.callFault();
    return this.algos.place(req);
  }
  /** Cancels a resting one; returns its state (not resting: the lookup, as Binance's -2011 is answered by the adapters). */
  async cancelConditionalOrder(symbol: string, clientAlgoId: string): Promise<ConditionalOrder | null> {
    this.callFault();
    return this.algos.cancel(symbol, clientAlgoId);
  }
  async fetchConditionalOrder(symbol: string, clientAlgoId: string): Promise<ConditionalOrder | null> {
    this.callFault();
    return this.algos.fetch(symbol, clientAlgoId);
  }
  async fetchOpenConditionalOrders(symbol?: string): Promise<ConditionalOrder[]> {
    this.callFault();
    return this.algos.open(symbol);
  }
  /**
   * Fires the resting orders the stored marks have crossed (and completes triggers a crash
   * interrupted); each fill is announced on `execution.result`. Called by the market stage after
   * every price write, so a crossed stop closes its position with no trading stage running.
   */
  async triggerConditionalOrders(): Promise<TriggeredFill[]> {
    const fills = await this.algos.trigger();
    if (fills.length) this.cache = null;
    return fills;
  }

  /** Makes the next order submission fail with this fault (tests, reliability suites). */
  failNext(kind: FaultKind): void {
    this.faults.failNext(kind);
  }
  get injectedFaults(): Record<FaultKind, number> {
    return this.faults.injected;
  }

  async start(): Promise<void> {
    await this.ensureAccount();
  }
  async stop(): Promise<void> {
    /* state lives in Redis; the connection belongs to the caller */
  }

  rules(symbol: string): MarketRules | undefined {
    return this.markets.get(symbol);
  }
  symbols(): string[] {
    return [...this.markets.keys()];
  }

  private async ensureAccount(): Promise<void> {
    if (this.accountReady) return;
    const key = this.o.names.paperAccount();
    const set = await this.o.redis.hsetnx(key, 'wallet', String(this.o.balance));
    if (set) await this.o.redis.hset(key, 'created_at', String(this.now()), 'starting_balance', String(this.o.balance));
    this.accountReady = true;
  }

  private rulesOrThrow(symbol: string): MarketRules {
    const r = this.markets.get(symbol);
    if (!r) throw new ExchangeError(`Invalid symbol: ${symbol} is not traded on the paper exchange`, 'symbol_not_allowed', BINANCE.invalidSymbol);
    return r;
  }

  private callFault(): void {
    const k = this.faults.nextForCall();
    if (k) throw faultError(k);
  }

  async setLeverage(symbol: string, leverage: number): Promise<void> {
    this.callFault();
    const rules = this.rulesOrThrow(symbol);
    checkLeverage(rules, leverage);
    await this.ensureAccount();
    // The sequence number moves too, so every instance's cached account is re-read.
    await this.o.redis.multi().hset(this.o.names.paperAccount(), `lev:${symbol}`, String(leverage)).hincrby(this.o.names.paperAccount(), 'seq', 1).exec();
    this.cache = null;
  }

  async submitMarketOrder(req: OrderRequest): Promise<OrderAck> {
    const fault = this.faults.nextForOrder();
    if (fault && fault !== 'timeout_after') throw faultError(fault);
    if (fault === 'timeout_after') {
      // The order reaches the exchange; the answer is lost on the way back.
      await this.execute(req).catch(() => undefined);
      throw faultError(fault);
    }
    return this.execute(req);
  }

  private execute(req: OrderRequest): Promise<OrderAck> {
    const run = this.queue.then(() => this.executeNow(req));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async executeNow(req: OrderRequest): Promise<OrderAck> {
    const rules = this.rulesOrThrow(req.symbol);
    await this.ensureAccount();
    const nm = this.o.names;
    const keys = [nm.paperAccount(), nm.paperPosition(req.symbol), nm.paperOrder(req.clientOrderId), nm.paperOrderLog()];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const cached = this.cached([req.symbol]);
      const st = await this.stateFor(req.symbol);
      const account = st.account;
      const posHash = st.position;
      const [markRaw, priceRaw] = st.price;
      const mark = n(markRaw ?? undefined) > 0 ? n(markRaw ?? undefined) : n(priceRaw ?? undefined);
      let decided: ReturnType<PaperExchange['decide']>;
      try {
        if (!(mark > 0)) throw new ExchangeError(`no price for ${req.symbol}: the paper exchange fills at the price key's mark`, 'price_unavailable', 'NO_PRICE');
        decided = this.decide(req, rules, mark, account, posHash);
      } catch (e) {
        this.cache = null;
        // A refusal is decided on current state too (issue 17): one decided on cached state
        // (another instance may have traded, the price may have moved) is decided again on a fresh read.
        if (e instanceof ExchangeError && cached) continue;
        throw e;
      }
      const { ack, payload } = decided;
      const [status, orderId] = (await this.o.redis.eval(
        APPLY_ORDER, 5, ...keys, nm.price(req.symbol), account.seq ?? '0', req.clientOrderId, JSON.stringify(payload), markRaw ?? '', priceRaw ?? '',
        ORDER_TTL_S, PAPER_ORDER_LOG_MAX,
      )) as [string, string];
      if (status === 'DUP') {
        this.cache = null;
        throw duplicateError(req.clientOrderId);
      }
      if (status === 'OK') {
        this.remember(req.symbol, account, payload.a, payload.p);
        this.o.log?.debug('paper fill', { symbol: req.symbol, side: req.side, qty: ack.filledQty, price: ack.avgPrice, cid: req.clientOrderId });
        return { ...ack, orderId };
      }
      // RETRY: another instance changed the account, or the price moved, between our read and our write.
      this.cache = null;
      await backoff(attempt);
    }
    throw new ExchangeError('paper exchange busy: too many concurrent orders, try again', 'exchange_unavailable', 'BUSY', { retryable: true });
  }

  /**
   * Sends several market orders in one round trip (the executor's batch). Each result is
   * the order's acknowledgement or the ExchangeError Binance would have answered; orders
   * are decided in sequence on the evolving state, exactly as one-by-one submission would.
   * With fault injection configured, orders go one by one (faults are per call).
   */
  async submitMarketOrders(reqs: OrderRequest[]): Promise<(OrderAck | ExchangeError)[]> {
    if (this.faults.active) {
      const out: (OrderAck | ExchangeError)[] = [];
      for (const r of reqs) out.push(await this.submitMarketOrder(r).catch((e) => (e instanceof ExchangeError ? e : Promise.reject(e))));
      return out;
    }
    const run = this.queue.then(() => this.executeBatchNow(reqs));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async executeBatchNow(reqs: OrderRequest[]): Promise<(OrderAck | ExchangeError)[]> {
    await this.ensureAccount();
    const nm = this.o.names;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const results: (OrderAck | ExchangeError | Omit<OrderAck, 'orderId'>)[] = [];
      const accepted: { i: number; req: OrderRequest; p: string[]; o: string[] }[] = [];
      const symbols = [...new Set(reqs.map((r) => r.symbol))];
      const cached = this.cached(symbols.filter((x) => this.markets.has(x)));
      const states = new Map<string, Awaited<ReturnType<PaperExchange['stateFor']>>>();
      for (const [sym, st] of await this.statesFor(symbols.filter((x) => this.markets.has(x)))) states.set(sym, st);
      let account = { ...(this.cache?.account ?? {}) };
      const positions = new Map<string, Record<string, string>>();
      for (const [s, st] of states) positions.set(s, st.position);
      let lastA: string[] = [];
      reqs.forEach((req, i) => {
        try {
          const rules = this.rulesOrThrow(req.symbol);
          const [markRaw, priceRaw] = states.get(req.symbol)!.price;
          const mark = n(markRaw ?? undefined) > 0 ? n(markRaw ?? undefined) : n(priceRaw ?? undefined);
          if (!(mark > 0)) throw new ExchangeError(`no price for ${req.symbol}: the paper exchange fills at the price key's mark`, 'price_unavailable', 'NO_PRICE');
          const { ack, payload } = this.decide(req, rules, mark, account, positions.get(req.symbol)!);
          for (let k = 0; k + 1 < payload.a.length; k += 2) account[payload.a[k]] = payload.a[k + 1];
          const pos: Record<string, string> = {};
          for (let k = 0; k + 1 < payload.p.length; k += 2) pos[payload.p[k]] = payload.p[k + 1];
          positions.set(req.symbol, pos);
          lastA = payload.a;
          results.push(ack);
          accepted.push({ i, req, p: payload.p, o: payload.o });
        } catch (e) {
          if (!(e instanceof ExchangeError)) throw e;
          results.push(e);
        }
      });
      if (cached && results.some((r) => r instanceof ExchangeError && r.reason !== 'symbol_not_allowed')) {
        // A refusal decided on cached state: decide the whole batch again on a fresh read (issue 17).
        this.cache = null;
        continue;
      }
      if (accepted.length === 0) return results as ExchangeError[];
      const priceSyms = [...new Set(accepted.map((a) => a.req.symbol))];
      const keys = [nm.paperAccount(), nm.paperOrderLog()];
      for (const a of accepted) keys.push(nm.paperPosition(a.req.symbol), nm.paperOrder(a.req.clientOrderId));
      for (const s of priceSyms) keys.push(nm.price(s));
      const before = this.cache?.account ?? {};
      const arg = JSON.stringify({
        n: accepted.length,
        orders: accepted.map((a) => ({ cid: a.req.clientOrderId, p: a.p, o: a.o })),
        a: lastA,
        prices: priceSyms.map((s) => states.get(s)!.price.map((x) => x ?? '')),
        ttl: ORDER_TTL_S,
        logmax: PAPER_ORDER_LOG_MAX,
      });
      const res = (await this.o.redis.eval(APPLY_BATCH, keys.length, ...keys, before.seq ?? '0', arg)) as string[];
      if (res[0] === 'OK') {
        accepted.forEach((a, k) => {
          results[a.i] = { ...(results[a.i] as Omit<OrderAck, 'orderId'>), orderId: res[k + 1] };
        });
        account.seq = String(Number(before.seq ?? '0') + 1);
        const c = this.cache!;
        c.account = account;
        for (const [s, pos] of positions) c.positions.set(s, pos);
        return results as (OrderAck | ExchangeError)[];
      }
      this.cache = null;
      if (res[0] === 'DUP') {
        // A client id the exchange has seen: let each order meet its own answer, one by one.
        const out: (OrderAck | ExchangeError)[] = [];
        for (const r of reqs) out.push(await this.executeNow(r).catch((e) => (e instanceof ExchangeError ? e : Promise.reject(e))));
        return out;
      }
      await backoff(attempt);
    }
    throw new ExchangeError('paper exchange busy: too many concurrent orders, try again', 'exchange_unavailable', 'BUSY', { retryable: true });
  }

  /** Decides one order on the given state: the acknowledgement and the state to write. Throws Binance's refusals. */
  private decide(req: OrderRequest, rules: MarketRules, mark: number, account: Record<string, string>, posHash: Record<string, string>): { ack: Omit<OrderAck, 'orderId'>; payload: { a: string[]; p: string[]; o: string[] } } {
    const leverage = n(account[`lev:${req.symbol}`], req.leverage);
    const fill = decideFill({
      req,
      rules,
      mark,
      account: { wallet: n(account.wallet), marginUsed: n(account.margin_used) },
      position: readPaperPosition(posHash),
      leverage,
      slippageBps: this.o.slippageBps,
      takerFee: this.o.takerFee,
    });
    const ts = this.now();
    const ack: Omit<OrderAck, 'orderId'> = {
      clientOrderId: req.clientOrderId,
      symbol: req.symbol,
      side: req.side,
      status: 'FILLED',
      filledQty: fill.fillQty,
      avgPrice: fill.price,
      fee: fill.fee,
      realizedPnl: fill.realizedPnl,
      reduceOnly: req.reduceOnly,
      ts,
    };
    const p = fill.position;
    const payload = {
      a: flat({
        wallet: fill.account.wallet,
        margin_used: fill.account.marginUsed,
        fees_paid: n(account.fees_paid) + fill.fee,
        realized_pnl: n(account.realized_pnl) + fill.realizedPnl,
        updated_at: ts,
      }),
      p: p
        ? flat({ symbol: req.symbol, side: p.side, qty: p.qty, entry_price: p.entryPrice, leverage: p.leverage, margin: p.margin, updated_at: ts })
        : [],
      o: flat({
        client_order_id: ack.clientOrderId,
        symbol: ack.symbol,
        side: ack.side,
        status: ack.status,
        filled_qty: ack.filledQty,
        avg_price: ack.avgPrice,
        fee: ack.fee,
        realized_pnl: ack.realizedPnl,
        reduce_only: ack.reduceOnly,
        requested_qty: req.qty,
        ts,
      }),
    };
    return { ack, payload };
  }

  /** True when the state of all these symbols would come from this instance's cache (no read). */
  private cached(symbols: string[]): boolean {
    const c = this.cache;
    return !!c && symbols.every((s) => c.positions.has(s) && c.prices.has(s));
  }

  /** Account, position and price for an order: from the cache, or one round trip. */
  private async stateFor(symbol: string): Promise<{ account: Record<string, string>; position: Record<string, string>; price: [string | null, string | null] }> {
    const c = this.cache;
    if (c && c.positions.has(symbol) && c.prices.has(symbol)) {
      return { account: c.account, position: c.positions.get(symbol)!, price: c.prices.get(symbol)! };
    }
    const nm = this.o.names;
    const res = await this.o.redis.multi().hgetall(nm.paperAccount()).hgetall(nm.paperPosition(symbol)).hmget(nm.price(symbol), 'mark', 'price').exec();
    if (!res) throw new Error('paper exchange: state read aborted');
    for (const [err] of res) if (err) throw err;
    const account = res[0][1] as Record<string, string>;
    const position = res[1][1] as Record<string, string>;
    const price = res[2][1] as [string | null, string | null];
    // A new account read invalidates every other cached position (another instance may have traded).
    const fresh = !c || c.account.seq !== account.seq ? { account, positions: new Map(), prices: new Map() } : { ...c, account };
    fresh.positions.set(symbol, position);
    fresh.prices.set(symbol, price);
    this.cache = fresh;
    return { account, position, price };
  }

  /**
   * The state of several symbols: from the cache when it has them all, else the account,
   * positions and prices of all of them in one round trip.
   */
  private async statesFor(symbols: string[]): Promise<Map<string, { account: Record<string, string>; position: Record<string, string>; price: [string | null, string | null] }>> {
    const out = new Map<string, { account: Record<string, string>; position: Record<string, string>; price: [string | null, string | null] }>();
    const c = this.cache;
    if (c && symbols.every((s) => c.positions.has(s) && c.prices.has(s))) {
      for (const s of symbols) out.set(s, { account: c.account, position: c.positions.get(s)!, price: c.prices.get(s)! });
      return out;
    }
    const nm = this.o.names;
    const tx = this.o.redis.multi().hgetall(nm.paperAccount());
    for (const s of symbols) tx.hgetall(nm.paperPosition(s)).hmget(nm.price(s), 'mark', 'price');
    const res = await tx.exec();
    if (!res) throw new Error('paper exchange: state read aborted');
    for (const [err] of res) if (err) throw err;
    const account = res[0]![1] as Record<string, string>;
    const fresh = !c || c.account.seq !== account.seq ? { account, positions: new Map(), prices: new Map() } : { ...c, account };
    symbols.forEach((s, i) => {
      const position = res[1 + 2 * i]![1] as Record<string, string>;
      const price = res[2 + 2 * i]![1] as [string | null, string | null];
      fresh.positions.set(s, position);
      fresh.prices.set(s, price);
      out.set(s, { account, position, price });
    });
    this.cache = fresh;
    return out;
  }

  /** After a successful order: the state this instance just wrote. */
  private remember(symbol: string, before: Record<string, string>, a: string[], p: string[]): void {
    const account = { ...before };
    for (let i = 0; i + 1 < a.length; i += 2) account[a[i]] = a[i + 1];
    account.seq = String(Number(before.seq ?? '0') + 1);
    const position: Record<string, string> = {};
    for (let i = 0; i + 1 < p.length; i += 2) position[p[i]] = p[i + 1];
    const c = this.cache ?? { account, positions: new Map(), prices: new Map() };
    c.account = account;
    c.positions.set(symbol, position);
    this.cache = c;
  }

  async fetchOrderByClientId(symbol: string, clientOrderId: string): Promise<OrderAck | null> {
    this.callFault();
    const h = await this.o.redis.hgetall(this.o.names.paperOrder(clientOrderId));
    const ack = ackFromHash(h);
    return ack && (!symbol || ack.symbol === symbol) ? ack : null;
  }

  async fetchPositions(): Promise<ExchangePosition[]> {
    this.callFault();
    const syms = this.symbols();
    const pipe = this.o.redis.pipeline();
    for (const s of syms) pipe.hgetall(this.o.names.paperPosition(s)).hmget(this.o.names.price(s), 'mark', 'price');
    const res = (await pipe.exec()) ?? [];
    const out: ExchangePosition[] = [];
    syms.forEach((symbol, i) => {
      const pos = readPaperPosition((res[2 * i]?.[1] ?? {}) as Record<string, string>);
      if (!pos) return;
      const [m, p] = (res[2 * i + 1]?.[1] ?? []) as (string | null)[];
      const mark = n(m ?? undefined) > 0 ? n(m ?? undefined) : n(p ?? undefined, pos.entryPrice);
      const sign = pos.side === 'LONG' ? 1 : -1;
      out.push({
        symbol,
        side: pos.side,
        qty: pos.qty,
        entryPrice: pos.entryPrice,
        markPrice: mark,
        unrealizedPnl: (mark - pos.entryPrice) * pos.qty * sign,
        leverage: pos.leverage,
      });
    });
    return out;
  }

  async fetchBalance(): Promise<Balance> {
    this.callFault();
    await this.ensureAccount();
    const h = await this.o.redis.hgetall(this.o.names.paperAccount());
    const wallet = n(h.wallet);
    return { asset: 'USDT', wallet, available: wallet - n(h.margin_used) };
  }
}

function duplicateError(cid: string): ExchangeError {
  return new ExchangeError(`ClientOrderId is duplicated: ${cid}`, 'duplicate', BINANCE.duplicate);
}

export { ackFromHash, readPaperPosition } from './paper-state.js';
