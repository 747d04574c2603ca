/**
 * Binance USD-M futures through ccxt's `binanceusdm`, behind the same Exchange interface
 * as the paper exchange. DEMO is Binance's futures demo trading (`enableDemoTrading`,
 * demo-fapi.binance.com; never `setSandboxMode`, which refuses signed futures calls);
 * LIVE needs `--live` and QT_LIVE_CONFIRM. Symbols are Binance ids (`BTCUSDT`) outside,
 * ccxt's unified `BTC/USDT:USDT` inside. Every failure leaves as an ExchangeError built
 * by errors.ts; no ccxt message (which holds signed URLs) and no credential leaves here.
 *
 * Binance's real behaviour (BINANCE-USDM-RULES.md): the clock offset to GET /fapi/v1/time
 * is measured at start, every `clockCheckMs` and at once after a -1021, and requests are
 * signed with it (ccxt's `options.timeDifference`); the per-IP limits (418 ban, 429
 * Retry-After, request weight) are shared through Redis (limits.ts); QT_BINANCE_BASE_URL
 * replaces the fapi host on the wire.
 */
import type { Config } from '../../../config/config.js';
import { registerSecret } from '../../../config/redact.js';
import type { Mode } from '../../../contract/codes.js';
import { UsageError } from '../../../errors.js';
import type { Logger } from '../../../log.js';
import { parseLeverageBrackets, type LeverageBracket } from '../leverage-brackets.js';
import { withBrackets } from '../markets.js';
import { BINANCE, checkQuantityPrecision } from '../order-rules.js';
import {
  ExchangeError, type Balance, type ConditionalOrder, type ConditionalOrderRequest, type Exchange, type ExchangePosition, type MarketRules, type OrderAck, type OrderRequest,
} from '../types.js';
import { ConditionalOrders } from './conditional-orders.js';
import type { Redis } from 'ioredis';
import { createClient, type BinanceUsdm } from './ccxt-loader.js';
import { isOrderNotFound, mapBinanceError, TIMESTAMP_OUTSIDE_RECV_WINDOW, type ErrorContext } from './errors.js';
import { ExchangeLimits } from './limits.js';
import { binanceHostOf, isBinanceHost } from './host.js';

export { binanceHostOf, isBinanceHost } from './host.js';
import { marketRules, orderAck, positionFrom, type CcxtMarket, type CcxtOrder } from './mapping.js';

export interface BinanceExchangeOptions {
  /** A fetch to route ccxt's requests through (tests: the local fake server). */
  fetchImplementation?: typeof fetch;
  /** ccxt request timeout (default 10 s). */
  timeoutMs?: number;
  /** ccxt's client-side rate limiter (default on; off against the local fake). */
  enableRateLimit?: boolean;
  /** Market refresh period (default hourly). */
  marketsRefreshMs?: number;
  /** The shared Redis state of Binance's per-IP limits and the clock offset (`{prefix}:exchange:limits`); without it, this process's own. */
  redis?: Redis;
  /** How often the clock offset to GET /fapi/v1/time is measured again (default 5 minutes). */
  clockCheckMs?: number;
}


/** Checks the mode switches and the credentials; every problem is a UsageError (exit 2). */
export function checkBinanceConfig(config: Config): { mode: Mode; apiKey: string; apiSecret: string } {
  const mode: Mode = config.binanceMode === 'live' ? 'LIVE' : 'DEMO';
  if (mode === 'LIVE' && !config.liveConfirmed) {
    throw new UsageError(
      'live trading needs both --live and QT_LIVE_CONFIRM=I_UNDERSTAND_THIS_TRADES_REAL_MONEY (QT_LIVE_CONFIRM is not set to that phrase)',
    );
  }
  const host = binanceHostOf(config);
  if (mode === 'LIVE' && !isBinanceHost(host) && !config.baseUrlConfirmed) {
    throw new UsageError(
      `QT_BINANCE_BASE_URL: live trading through ${host}, which is not a Binance host, needs QT_BINANCE_BASE_URL_CONFIRM=I_UNDERSTAND_THIS_TRADES_REAL_MONEY as well`,
    );
  }
  const missing: string[] = [];
  if (!config.binance.apiKey) missing.push('BINANCE_API_KEY is not set (nor BINANCE_API_KEY_FILE)');
  if (!config.binance.apiSecret) missing.push('BINANCE_API_SECRET is not set (nor BINANCE_API_SECRET_FILE)');
  if (missing.length) throw new UsageError(missing.join('; '), missing);
  return { mode, apiKey: config.binance.apiKey!, apiSecret: config.binance.apiSecret! };
}

export async function createBinanceExchange(config: Config, log: Logger, opts: BinanceExchangeOptions = {}): Promise<Exchange> {
  const { mode, apiKey, apiSecret } = checkBinanceConfig(config);
  registerSecret(apiKey);
  registerSecret(apiSecret);
  const xlog = log.child({ exchange: 'binance', mode });
  const limits = new ExchangeLimits({ redis: opts.redis, key: config.names.exchangeLimits(), log: xlog });
  const client = await createClient({
    apiKey,
    secret: apiSecret,
    demo: mode === 'DEMO',
    timeoutMs: opts.timeoutMs,
    enableRateLimit: opts.enableRateLimit,
    fetchImplementation: opts.fetchImplementation,
    limits,
    baseUrl: config.binanceBaseUrl,
  });
  return new BinanceExchange(client, mode, xlog, opts.marketsRefreshMs ?? 3_600_000, limits, opts.clockCheckMs ?? 300_000);
}

class BinanceExchange implements Exchange {
  readonly name = 'binance' as const;
  private markets = new Map<string, { unified: string; rules: MarketRules }>();
  private brackets = new Map<string, LeverageBracket[]>();
  private leverageSet = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private clockTimer: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private measuring: Promise<number> | undefined;
  /** The last measured offset, local − Binance clock, ms (what ccxt subtracts when it signs). */
  clockOffsetMs = 0;

  constructor(
    private readonly ex: BinanceUsdm,
    readonly mode: Mode,
    private readonly log: Logger,
    private readonly refreshMs: number,
    readonly limits: ExchangeLimits,
    private readonly clockCheckMs: number,
  ) {}

  /**
   * Measures the offset to GET /fapi/v1/time (ccxt's loadTimeDifference: local clock after
   * the reply − serverTime) and signs every later request with it (`options.timeDifference`).
   * Binance: a signed request needs serverTime − recvWindow ≤ timestamp < serverTime + 1000
   * (else -1021; python-binance#60). Recorded in the limits hash for CLOCK_SKEW.
   */
  measureClock(): Promise<number> {
    this.measuring ??= (async () => {
      try {
        const offset = Number(await this.ex.loadTimeDifference());
        this.clockOffsetMs = Number.isFinite(offset) ? offset : 0;
        this.limits.recordClock(this.clockOffsetMs);
        if (Math.abs(this.clockOffsetMs) >= 1000) this.log.warn('binance: the local clock is off; requests are signed with the measured offset (check NTP)', { clock_offset_ms: this.clockOffsetMs });
        return this.clockOffsetMs;
      } catch (e) {
        throw mapBinanceError(e, { op: 'time' });
      } finally {
        this.measuring = undefined;
      }
    })();
    return this.measuring;
  }

  /** Maps a failure; a -1021 has the clock measured again at once, so the retry is signed right. */
  private failed(e: unknown, ctx: ErrorContext): ExchangeError {
    const err = mapBinanceError(e, ctx);
    if (err.code === TIMESTAMP_OUTSIDE_RECV_WINDOW) {
      this.measureClock().catch((x: unknown) => this.log.warn('binance: clock offset not measured', { error: x instanceof Error ? x.message : String(x) }));
    }
    return err;
  }

  /** Whether Binance forbids requests now (418 ban, 429 Retry-After, weight used up), from the state every process shares. */
  async limitedUntil(): Promise<{ until: number; kind: string; reason: string } | null> {
    return this.limits.hold();
  }

  start(): Promise<void> {
    this.started ??= (async () => {
      await this.measureClock();
      this.clockTimer ??= setInterval(() => {
        this.measureClock().catch((e: unknown) => this.log.warn('binance: clock offset not measured', { error: e instanceof Error ? e.message : String(e) }));
      }, this.clockCheckMs);
      this.clockTimer.unref();
      // reload: ccxt keeps a failed load's promise and would hand it back to a retry
      await this.loadMarkets(true);
      await this.loadLeverageBrackets();
      await this.checkPositionMode();
      this.timer = setInterval(() => {
        this.loadMarkets(true).catch((e) => this.log.warn('binance markets refresh failed', { error: mapBinanceError(e, { op: 'loadMarkets' }).message }));
      }, this.refreshMs);
      this.timer.unref();
    })().catch((e) => {
      this.started = undefined;
      throw this.failed(e, { op: 'start' });
    });
    return this.started;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.timer = undefined;
    this.clockTimer = undefined;
    await this.limits.flush();
    this.started = undefined;
  }

  private async loadMarkets(reload: boolean): Promise<void> {
    let all: Record<string, CcxtMarket>;
    try {
      all = (await this.ex.loadMarkets(reload)) as unknown as Record<string, CcxtMarket>;
    } catch (e) {
      throw this.failed(e, { op: 'loadMarkets' });
    }
    const next = new Map<string, { unified: string; rules: MarketRules }>();
    for (const m of Object.values(all)) {
      if (!m.swap || !m.linear || m.settle !== 'USDT' || m.active === false) continue;
      const rules = marketRules(m);
      if (rules) next.set(m.id, { unified: m.symbol, rules: this.bracketed(m.id, rules) });
    }
    this.markets = next;
    this.log.info('binance markets loaded', { markets: next.size, reload });
  }

  /**
   * The engine trades one-way mode (one position per symbol, orders without positionSide).
   * An account in hedge mode would refuse every order (-4061); say so at start, with the fix.
   */
  private async checkPositionMode(): Promise<void> {
    let hedged: boolean | undefined;
    try {
      hedged = (await this.ex.fetchPositionMode()).hedged as boolean | undefined;
    } catch (e) {
      const err = this.failed(e, { op: 'positionSide/dual' });
      if (err.reason === 'auth_failed' || err.retryable) throw err;
      this.log.warn('binance position mode unknown (positionSide/dual refused); qt assumes one-way mode', { reason: err.reason, error: err.message });
      return;
    }
    if (hedged) {
      throw new ExchangeError(
        `binance: the account is in hedge mode (dualSidePosition=true); qt trades one-way mode and every order would be refused (-4061). ` +
          `Switch the account to one-way mode (Binance futures: Preferences > Position Mode > One-way, with no open positions or orders) and start again`,
        'exchange_rejected', 'HEDGE_MODE', { retryable: false, fix: 'switch the Binance futures account to one-way position mode' },
      );
    }
  }

  /**
   * The account's leverage brackets (signed GET /fapi/v1/leverageBracket, ccxt
   * fapiPrivateGetLeverageBracket): every bracket is kept in the rules (`brackets`: the
   * notional cap per leverage) and `maxLeverage` is bracket 1's initialLeverage. When they
   * cannot be read, the shipped snapshot's (or the default table's) stay, with a warning.
   */
  private async loadLeverageBrackets(): Promise<void> {
    try {
      const raw = await (this.ex as unknown as { fapiPrivateGetLeverageBracket(p?: object): Promise<unknown> }).fapiPrivateGetLeverageBracket();
      for (const [symbol, bs] of parseLeverageBrackets(raw)) this.brackets.set(symbol, bs);
      for (const [id, m] of this.markets) m.rules = this.bracketed(id, m.rules);
    } catch (e) {
      const err = this.failed(e, { op: 'leverageBracket' });
      if (err.reason === 'auth_failed') throw err;
      this.log.warn('binance leverage brackets unavailable; using the shipped snapshot (docs/markets.md)', { reason: err.reason, error: err.message });
    }
  }

  /** Rules with the live brackets when read, else the shipped snapshot's or the default table. */
  private bracketed(id: string, rules: MarketRules): MarketRules {
    return withBrackets(rules, this.brackets.get(id));
  }

  rules(symbol: string): MarketRules | undefined {
    return this.markets.get(symbol)?.rules;
  }

  symbols(): string[] {
    return [...this.markets.keys()];
  }

  private unified(symbol: string): string {
    const m = this.markets.get(symbol);
    if (!m) throw new ExchangeError(`binance: ${symbol} is not a USDT perpetual traded on Binance USD-M`, 'symbol_not_allowed', 'not_listed');
    return m.unified;
  }

  async setLeverage(symbol: string, leverage: number): Promise<void> {
    const unified = this.unified(symbol);
    const max = this.markets.get(symbol)!.rules.maxLeverage;
    if (!Number.isInteger(leverage) || leverage < 1 || leverage > max) {
      // Decided here as Binance would (-4028 above bracket 1's initialLeverage): ccxt refuses a fractional one itself.
      throw new ExchangeError(`binance setLeverage ${symbol}: Leverage ${leverage} is not valid (1..${max}, bracket 1's initialLeverage)`, 'leverage_exceeds_max', BINANCE.leverage);
    }
    try {
      // POST /fapi/v1/leverage itself, not ccxt's setLeverage: ccxt refuses anything above
      // 125 before sending (binance.js setLeverage: "leverage should be between 1 and 125"),
      // while Binance's bracket 1 allows 150x on BTCUSDT/ETHUSDT (GET /fapi/v1/leverageBracket,
      // data/binance-usdm-leverageBracket.json). The bound is bracket 1's, checked above.
      await (this.ex as unknown as { fapiPrivatePostLeverage(p: object): Promise<unknown> }).fapiPrivatePostLeverage({ symbol: this.ex.market(unified).id, leverage });
    } catch (e) {
      throw this.failed(e, { op: 'setLeverage', symbol });
    }
    this.leverageSet.set(symbol, leverage);
    this.log.debug('binance leverage set', { symbol, leverage });
  }

  async submitMarketOrder(req: OrderRequest): Promise<OrderAck> {
    const unified = this.unified(req.symbol);
    const rules = this.markets.get(req.symbol)!.rules;
    // ccxt would silently truncate a quantity off the step (or refuse 0 itself): the quantity
    // filters are decided here with Binance's own codes (-4003/-1111/-4023; order-rules.ts).
    try {
      checkQuantityPrecision(rules, req.qty);
    } catch (e) {
      if (e instanceof ExchangeError) throw new ExchangeError(`binance submit ${req.symbol}: ${e.message}`, e.reason, e.code);
      throw e;
    }
    if (!req.reduceOnly && this.leverageSet.get(req.symbol) !== req.leverage) await this.setLeverage(req.symbol, req.leverage);
    const params: Record<string, unknown> = { newClientOrderId: req.clientOrderId };
    if (req.reduceOnly) params.reduceOnly = true;
    let order: CcxtOrder;
    try {
      order = (await this.ex.createOrder(unified, 'market', req.side === 'BUY' ? 'buy' : 'sell', req.qty, undefined, params)) as unknown as CcxtOrder;
    } catch (e) {
      const err = this.failed(e, { op: 'submit', symbol: req.symbol, submit: true });
      this.log.warn('binance order failed', {
        symbol: req.symbol,
        client_order_id: req.clientOrderId,
        reason: err.reason,
        code: err.code,
        unknown_outcome: err.unknownOutcome,
        error: err.message,
      });
      throw err;
    }
    const ack = await this.withFills(req.symbol, unified, order);
    this.log.info('binance order', { symbol: ack.symbol, side: ack.side, status: ack.status, qty: ack.filledQty, price: ack.avgPrice, client_order_id: ack.clientOrderId });
    return ack;
  }

  async fetchOrderByClientId(symbol: string, clientOrderId: string): Promise<OrderAck | null> {
    const unified = this.unified(symbol);
    let order: CcxtOrder;
    try {
      order = (await this.ex.fetchOrder(undefined as unknown as string, unified, { origClientOrderId: clientOrderId })) as unknown as CcxtOrder;
    } catch (e) {
      if (isOrderNotFound(e)) return null;
      throw this.failed(e, { op: 'fetchOrder', symbol });
    }
    return this.withFills(symbol, unified, order);
  }

  /** The order's ack with fee and realised PnL summed from its trades (userTrades). */
  private async withFills(symbol: string, unified: string, order: CcxtOrder): Promise<OrderAck> {
    const ack = orderAck(symbol, order);
    if (ack.filledQty <= 0) return ack;
    try {
      const trades = (await this.ex.fetchMyTrades(unified, undefined, undefined, { orderId: ack.orderId })) as unknown as {
        fee?: { cost?: number; currency?: string };
        info?: { realizedPnl?: string; commission?: string; commissionAsset?: string };
      }[];
      let fee = 0;
      let pnl = 0;
      for (const t of trades) {
        fee += Math.abs(Number(t.info?.commission ?? t.fee?.cost ?? 0)) || 0;
        pnl += Number(t.info?.realizedPnl ?? 0) || 0;
      }
      return { ...ack, fee, realizedPnl: pnl };
    } catch (e) {
      const err = mapBinanceError(e, { op: 'userTrades', symbol });
      this.log.warn('binance fills unavailable: fee and realised PnL reported as 0', { symbol, order_id: ack.orderId, reason: err.reason, error: err.message });
      return ack;
    }
  }

  async fetchPositions(): Promise<ExchangePosition[]> {
    let raw: unknown[];
    try {
      // v2 positionRisk carries the leverage; v3 omits it.
      raw = (await this.ex.fetchPositions(undefined, { useV2: true })) as unknown[];
    } catch (e) {
      throw this.failed(e, { op: 'fetchPositions' });
    }
    return raw.map((p) => positionFrom(p)).filter((p): p is ExchangePosition => p !== null);
  }

  async fetchBalance(): Promise<Balance> {
    let b: { info?: { assets?: { asset?: string; walletBalance?: string; availableBalance?: string }[] }; USDT?: { total?: number; free?: number } };
    try {
      b = (await this.ex.fetchBalance()) as unknown as typeof b;
    } catch (e) {
      throw this.failed(e, { op: 'fetchBalance' });
    }
    const usdt = b.info?.assets?.find((a) => a.asset === 'USDT');
    const wallet = Number(usdt?.walletBalance ?? b.USDT?.total ?? 0);
    const available = Number(usdt?.availableBalance ?? b.USDT?.free ?? 0);
    return { asset: 'USDT', wallet: Number.isFinite(wallet) ? wallet : 0, available: Number.isFinite(available) ? available : 0 };
  }

  // ---- Conditional orders: Binance's Algo Order API (conditional-orders.ts; docs/binance.md "Protective stops on the exchange")
  private readonly conditional = new ConditionalOrders({
    client: () => this.ex,
    rules: (symbol) => {
      this.unified(symbol);
      return this.markets.get(symbol)!.rules;
    },
    failed: (e, ctx) => this.failed(e, ctx),
    log: () => this.log,
  });

  /** See ConditionalOrders.place (POST /fapi/v1/algoOrder). */
  placeConditionalOrder(req: ConditionalOrderRequest): Promise<ConditionalOrder> {
    return this.conditional.place(req);
  }

  /** See ConditionalOrders.cancel (DELETE /fapi/v1/algoOrder, then its final state). */
  cancelConditionalOrder(symbol: string, clientAlgoId: string): Promise<ConditionalOrder | null> {
    return this.conditional.cancel(symbol, clientAlgoId);
  }

  /** See ConditionalOrders.fetch (GET /fapi/v1/algoOrder). */
  fetchConditionalOrder(symbol: string, clientAlgoId: string): Promise<ConditionalOrder | null> {
    return this.conditional.fetch(symbol, clientAlgoId);
  }

  /** See ConditionalOrders.open (GET /fapi/v1/openAlgoOrders). */
  fetchOpenConditionalOrders(symbol?: string): Promise<ConditionalOrder[]> {
    return this.conditional.open(symbol);
  }
}
