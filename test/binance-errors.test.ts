/**
 * Binance failures → reason codes: the pure mapping on its own, then each failure through
 * real ccxt against the fake server, the unknown-outcome timeout, and a secret scan.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import type { Logger } from '../src/log.js';
import { createBinanceExchange } from '../src/engine/exchange/binance/adapter.js';
import { AUTH_FIX, isOrderNotFound, mapBinanceError, parseCcxtError } from '../src/engine/exchange/binance/errors.js';
import { ExchangeError, type Exchange, type OrderRequest } from '../src/engine/exchange/types.js';
import { startFakeBinance, type FakeBinance } from './helpers/fake-binance.js';

/** An error shaped like ccxt's (class name + message with Binance's body). */
const ccxtErr = (name: string, message: string) => Object.assign(new Error(message), { name });
const body = (code: number, msg: string) => `binanceusdm {"code":${code},"msg":"${msg}"}`;

describe('mapBinanceError (pure)', () => {
  const cases: [string, Error, string, number | string, boolean][] = [
    ['-4164 min notional', ccxtErr('InvalidOrder', body(-4164, "Order's notional must be no smaller than 100 (unless you choose reduce only).")), 'below_min_notional', -4164, false],
    ['-1111 precision', ccxtErr('BadRequest', body(-1111, 'Precision is over the maximum defined for this asset.')), 'precision_invalid', -1111, false],
    ['-1013 min qty', ccxtErr('BadRequest', body(-1013, 'Filter failure: MARKET_LOT_SIZE')), 'below_min_qty', -1013, false],
    ['-2019 margin', ccxtErr('InsufficientFunds', body(-2019, 'Margin is insufficient.')), 'insufficient_margin', -2019, false],
    ['-2022 reduce only', ccxtErr('BadResponse', body(-2022, 'ReduceOnly Order is rejected.')), 'exchange_rejected', -2022, false],
    ['-4116 duplicate', ccxtErr('InvalidOrder', body(-4116, 'ClientOrderId is duplicated.')), 'duplicate', -4116, false],
    ['-1121 symbol', ccxtErr('BadSymbol', body(-1121, 'Invalid symbol.')), 'symbol_not_allowed', -1121, false],
    ['-4028 leverage', ccxtErr('BadRequest', body(-4028, 'Leverage 200 is not valid')), 'leverage_exceeds_max', -4028, false],
    ['-4005 max qty', ccxtErr('ExchangeError', body(-4005, 'Quantity greater than max quantity.')), 'invalid_quantity', -4005, false],
    ['-4003 qty zero', ccxtErr('InvalidOrder', body(-4003, 'Quantity less than or equal to zero.')), 'invalid_quantity', -4003, false],
    ['-4023 step', ccxtErr('InvalidOrder', body(-4023, 'Quantity not increased by step size.')), 'precision_invalid', -4023, false],
    ['-4131 price band', ccxtErr('InvalidOrder', body(-4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit.")), 'price_band', -4131, false],
    ['-2027 bracket', ccxtErr('InvalidOrder', body(-2027, 'Exceeded the maximum allowable position at current leverage.')), 'leverage_bracket', -2027, false],
    ['-4061 other code', ccxtErr('ExchangeError', body(-4061, "Order's position side does not match user's setting.")), 'exchange_rejected', -4061, false],
    ['-2015 auth', ccxtErr('AuthenticationError', body(-2015, 'Invalid API-key, IP, or permissions for action.')), 'auth_failed', -2015, false],
    ['-2015 as DDoS after success', ccxtErr('DDoSProtection', body(-2015, 'Invalid API-key, IP, or permissions for action.')), 'auth_failed', -2015, false],
    ['-2014 auth', ccxtErr('OperationRejected', body(-2014, 'API-key format invalid.')), 'auth_failed', -2014, false],
    ['-2008 auth', ccxtErr('AuthenticationError', body(-2008, 'Invalid Api-Key ID.')), 'auth_failed', -2008, false],
    ['401 no body', ccxtErr('AuthenticationError', 'binanceusdm GET https://fapi.binance.com/fapi/v3/account?signature=ab 401 Unauthorized '), 'auth_failed', 401, false],
    ['429', ccxtErr('DDoSProtection', 'binanceusdm 429 Too Many Requests {"code":-1003,"msg":"Too many requests."}'), 'rate_limited', 429, true],
    ['418', ccxtErr('DDoSProtection', 'binanceusdm 418 I\'m a teapot {"code":-1003,"msg":"banned"}'), 'rate_limited', 418, true],
    ['RateLimitExceeded', ccxtErr('RateLimitExceeded', 'binanceusdm rate limit'), 'rate_limited', 'RateLimitExceeded', true],
    ['503', ccxtErr('ExchangeNotAvailable', 'binanceusdm GET https://fapi.binance.com/fapi/v1/order 503 Service Unavailable Service Unavailable'), 'exchange_unavailable', 503, true],
    ['timeout', ccxtErr('RequestTimeout', 'binanceusdm POST https://fapi.binance.com/fapi/v1/order request timed out (300 ms)'), 'exchange_unavailable', 'RequestTimeout', true],
    ['network', ccxtErr('NetworkError', 'binanceusdm GET https://fapi.binance.com/x fetch failed: ECONNRESET'), 'exchange_unavailable', 'NetworkError', true],
  ];
  for (const [name, err, reason, code, retryable] of cases) {
    it(`${name} → ${reason} (code ${code}, retryable ${retryable})`, () => {
      const e = mapBinanceError(err, { op: 'submit', symbol: 'BTCUSDT' });
      expect(e).toBeInstanceOf(ExchangeError);
      expect(e.reason).toBe(reason);
      expect(e.code).toBe(code);
      expect(e.retryable).toBe(retryable);
      expect(e.message).toContain('binance submit BTCUSDT failed');
      expect(e.message).not.toMatch(/https?:\/\//);
    });
  }

  it('auth failures carry the fix', () => {
    expect(mapBinanceError(ccxtErr('AuthenticationError', body(-2015, 'x')), { op: 'o' }).opts.fix).toBe(AUTH_FIX);
  });

  it('a timeout or network failure is an unknown outcome only on submit', () => {
    const t = ccxtErr('RequestTimeout', 'binanceusdm POST https://x request timed out');
    expect(mapBinanceError(t, { op: 'submit', submit: true }).unknownOutcome).toBe(true);
    expect(mapBinanceError(t, { op: 'fetchPositions' }).unknownOutcome).toBe(false);
    // Binance's 503 "Unknown error" may have executed the order: look it up first
    const u = ccxtErr('ExchangeNotAvailable', 'binanceusdm POST https://x 503 Service Unavailable Unknown error');
    expect(mapBinanceError(u, { op: 'submit', submit: true }).unknownOutcome).toBe(true);
    expect(mapBinanceError(ccxtErr('DDoSProtection', 'binanceusdm 429 Too Many Requests {}'), { op: 'submit', submit: true }).unknownOutcome).toBe(false);
    expect(mapBinanceError(ccxtErr('InvalidOrder', body(-4164, 'x')), { op: 'submit', submit: true }).unknownOutcome).toBe(false);
  });

  it('numbers inside Binance\'s msg are not taken for an HTTP status', () => {
    expect(parseCcxtError(ccxtErr('InvalidOrder', body(-4164, 'no smaller than 100 (unless reduce only)'))).status).toBeUndefined();
  });

  it('recognises -2013 as order not found', () => {
    expect(isOrderNotFound(ccxtErr('OrderNotFound', body(-2013, 'Order does not exist.')))).toBe(true);
    expect(isOrderNotFound(ccxtErr('InvalidOrder', body(-4164, 'x')))).toBe(false);
  });
});

describe('binance failures through ccxt against the fake', () => {
  let fake: FakeBinance;
  let ex: Exchange;
  const seen: string[] = [];
  const log: Logger = recordingLogger(seen);
  const req = (o: Partial<OrderRequest> = {}): OrderRequest => ({
    symbol: 'BTCUSDT', side: 'BUY', qty: 0.002, reduceOnly: false, clientOrderId: `qt-${Math.random().toString(36).slice(2, 12)}`, leverage: 5, ...o,
  });
  const fail = async (p: Promise<unknown>): Promise<ExchangeError> => {
    const e = await p.then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(ExchangeError);
    seen.push((e as Error).message, String(e), (e as Error).stack ?? '', JSON.stringify(e));
    return e as ExchangeError;
  };
  const orderPosts = () => fake.count('POST', '/fapi/v1/order');

  beforeEach(async () => {
    seen.length = 0;
    fake = await startFakeBinance({ apiKey: 'keyDDDD1234567890secretish', secret: 'secEEEE0987654321verysecret' });
    ex = await createBinanceExchange(loadConfig({ env: { QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey, BINANCE_API_SECRET: fake.secret } }), log, {
      fetchImplementation: fake.fetch,
      enableRateLimit: false,
      timeoutMs: 10_000,
    });
    await ex.start();
    await ex.setLeverage('BTCUSDT', 5);
  });
  afterEach(async () => {
    await ex.stop();
    await fake.close();
    for (const s of [fake.apiKey, fake.secret]) for (const l of seen) expect(l).not.toContain(s);
  });

  it('-4164: under min notional (the fake enforces it)', async () => {
    fake.setPrice('BTCUSDT', 50000);
    const e = await fail(ex.submitMarketOrder(req({ qty: 0.001 })));
    expect([e.reason, e.code]).toEqual(['below_min_notional', -4164]);
  });

  it('-4164 does not apply to reduce-only; -2022 when reduce-only would grow the position', async () => {
    await ex.submitMarketOrder(req({ qty: 0.002 }));
    const grow = await fail(ex.submitMarketOrder(req({ side: 'BUY', qty: 0.001, reduceOnly: true })));
    expect([grow.reason, grow.code]).toEqual(['exchange_rejected', -2022]);
    const small = await ex.submitMarketOrder(req({ side: 'SELL', qty: 0.001, reduceOnly: true }));
    expect(small.status).toBe('FILLED');
  });

  it('-2019: margin is insufficient', async () => {
    const e = await fail(ex.submitMarketOrder(req({ qty: 1 })));
    expect([e.reason, e.code]).toEqual(['insufficient_margin', -2019]);
  });

  it('-4116 only while the order is open: a FILLED order\'s client id is accepted again and fills again (Binance: unique among open orders)', async () => {
    const r = req();
    fake.faults.afterAccept({ kind: 'partial', shown: 0.001, forMs: 60_000 }); // open (PARTIALLY_FILLED) for a minute
    expect((await ex.submitMarketOrder(r)).status).toBe('PARTIALLY_FILLED');
    const e = await fail(ex.submitMarketOrder(r));
    expect([e.reason, e.code]).toEqual(['duplicate', -4116]);
    const filled = req();
    await ex.submitMarketOrder(filled);
    expect((await ex.submitMarketOrder(filled)).status).toBe('FILLED');
    expect(fake.orders.filter((o) => o.clientOrderId === filled.clientOrderId)).toHaveLength(2);
  });

  for (const [code, reason] of [[-1111, 'precision_invalid'], [-1013, 'below_min_qty'], [-2022, 'exchange_rejected'], [-1121, 'symbol_not_allowed']] as const) {
    it(`${code} from Binance → ${reason}, raw code kept`, async () => {
      fake.failNext({ status: 400, code, msg: 'as Binance says it', path: '/fapi/v1/order' });
      const e = await fail(ex.submitMarketOrder(req()));
      expect([e.reason, e.code, e.retryable, e.unknownOutcome]).toEqual([reason, code, false, false]);
      expect(e.message).toContain('as Binance says it');
    });
  }

  it('-4028 when setting a leverage Binance refuses', async () => {
    fake.failNext({ status: 400, code: -4028, msg: 'Leverage 50 is not valid', path: '/fapi/v1/leverage' });
    const e = await fail(ex.setLeverage('ETHUSDT', 50));
    expect([e.reason, e.code]).toEqual(['leverage_exceeds_max', -4028]);
  });

  it('401/-2015 is auth_failed with the fix and is not retried: the fake saw one order call', async () => {
    fake.failNext({ status: 401, code: -2015, msg: 'Invalid API-key, IP, or permissions for action.', path: '/fapi/v1/order' });
    const e = await fail(ex.submitMarketOrder(req()));
    expect([e.reason, e.code, e.retryable]).toEqual(['auth_failed', -2015, false]);
    expect(e.opts.fix).toBe(AUTH_FIX);
    expect(orderPosts()).toBe(1);
  });

  for (const status of [429, 418]) {
    it(`HTTP ${status} is rate_limited and retryable`, async () => {
      fake.failNext({ status, path: '/fapi/v1/order' });
      const e = await fail(ex.submitMarketOrder(req()));
      expect([e.reason, e.code, e.retryable, e.opts.httpStatus]).toEqual(['rate_limited', status, true, status]);
      expect(orderPosts()).toBe(1);
    });
  }

  it('HTTP 503 is exchange_unavailable and retryable', async () => {
    fake.failNext({ status: 503, path: '/fapi/v3/account' });
    const e = await fail(ex.fetchBalance());
    expect([e.reason, e.code, e.retryable]).toEqual(['exchange_unavailable', 503, true]);
  });

  it('a submit that times out after the fake accepted it is an unknown outcome, found by client id', async () => {
    const quick = await createBinanceExchange(loadConfig({ env: { QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey, BINANCE_API_SECRET: fake.secret } }), log, {
      fetchImplementation: fake.fetch,
      enableRateLimit: false,
      timeoutMs: 2000,
    });
    await quick.start();
    await quick.setLeverage('BTCUSDT', 5);
    fake.timeoutAfterAccept();
    const r = req();
    const e = await fail(quick.submitMarketOrder(r));
    await quick.stop();
    expect([e.reason, e.retryable, e.unknownOutcome]).toEqual(['exchange_unavailable', true, true]);
    const found = await ex.fetchOrderByClientId('BTCUSDT', r.clientOrderId);
    expect(found).toMatchObject({ clientOrderId: r.clientOrderId, status: 'FILLED', filledQty: 0.002 });
    expect(orderPosts()).toBe(1);
    expect(fake.orders).toHaveLength(1);
  });

  it('no credential appears in any log line or error of a run (the fake saw them on the wire)', async () => {
    fake.failNext({ status: 401, code: -2015, path: '/fapi/v1/order' });
    await fail(ex.submitMarketOrder(req()));
    fake.setPrice('BTCUSDT', 50000);
    await fail(ex.submitMarketOrder(req({ qty: 0.001 })));
    await ex.submitMarketOrder(req({ qty: 0.004 }));
    await ex.fetchPositions();
    await ex.fetchBalance();
    expect(seen.length).toBeGreaterThan(5);
    expect(seen.join('\n')).toMatch(/binance order/);
    // afterEach scans every line for the key and the secret
  });
});

/** A logger that records raw messages and fields, before any scrubbing. */
function recordingLogger(out: string[]): Logger {
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) => void out.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  const l: Logger = { trace: rec('trace'), debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), child: () => l };
  return l;
}
