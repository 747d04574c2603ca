/**
 * The Binance adapter through real ccxt (binanceusdm) against the local fake server.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config.js';
import { UsageError } from '../src/errors.js';
import { createLogger, type Logger } from '../src/log.js';
import { createBinanceExchange, type BinanceExchangeOptions } from '../src/engine/exchange/binance/adapter.js';
import { ExchangeError, type Exchange } from '../src/engine/exchange/types.js';
import { startFakeBinance, type FakeBinance } from './helpers/fake-binance.js';

const env = (f: FakeBinance, extra: Record<string, string> = {}) => ({
  QT_EXCHANGE: 'binance',
  BINANCE_API_KEY: f.apiKey,
  BINANCE_API_SECRET: f.secret,
  ...extra,
});

let fake: FakeBinance;
let ex: Exchange;
const lines: string[] = [];
const log: Logger = createLogger({ level: 'trace', format: 'json', write: (l) => lines.push(l) });

async function connect(config: Config, o: BinanceExchangeOptions = {}): Promise<Exchange> {
  const e = await createBinanceExchange(config, log, { fetchImplementation: fake.fetch, enableRateLimit: false, ...o });
  await e.start();
  return e;
}

async function failure(p: Promise<unknown>): Promise<ExchangeError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ExchangeError);
  return e as ExchangeError;
}

const order = (over: Partial<Parameters<Exchange['submitMarketOrder']>[0]> = {}) => ({
  symbol: 'BTCUSDT',
  side: 'BUY' as const,
  qty: 0.002,
  reduceOnly: false,
  clientOrderId: `qt-${Math.random().toString(36).slice(2, 12)}`,
  leverage: 5,
  ...over,
});

beforeEach(async () => {
  fake = await startFakeBinance();
  ex = await connect(loadConfig({ env: env(fake) }));
});
afterEach(async () => {
  await ex.stop();
  await fake.close();
  // every log line of the run, as written out: never the key or the secret
  for (const l of lines) for (const s of [fake.apiKey, fake.secret]) expect(l).not.toContain(s);
  lines.length = 0;
});

describe('binance adapter: markets, orders, positions', () => {
  it('loads markets from exchangeInfo through demo-fapi and maps the rules', () => {
    expect(ex.mode).toBe('DEMO');
    expect(ex.name).toBe('binance');
    const r = ex.rules('BTCUSDT')!;
    expect(r).toMatchObject({ symbol: 'BTCUSDT', stepSize: 0.001, marketStepSize: 0.001, marketMinQty: 0.001, marketMaxQty: 120, minNotional: 100, tickSize: 0.1, maxLeverage: 125 });
    expect(ex.rules('ETHUSDT')!.minNotional).toBe(20);
    expect(ex.rules('NOPEUSDT')).toBeUndefined();
    expect(ex.symbols()).toContain('SOLUSDT');
    expect(fake.calls.find((c) => c.path === '/fapi/v1/exchangeInfo')!.host).toBe('demo-fapi.binance.com');
  });

  it('sets leverage before the first order and caches it', async () => {
    const a = await ex.submitMarketOrder(order({ leverage: 7 }));
    await ex.submitMarketOrder(order({ leverage: 7 }));
    expect(a.status).toBe('FILLED');
    expect(fake.count('POST', '/fapi/v1/leverage')).toBe(1);
    expect(fake.calls.find((c) => c.path === '/fapi/v1/leverage')!.params).toMatchObject({ symbol: 'BTCUSDT', leverage: '7' });
    expect(fake.leverageOf('BTCUSDT')).toBe(7);
  });

  it('fills a market order with the client id and reports fee from its trades', async () => {
    const req = order({ qty: 0.002 });
    const a = await ex.submitMarketOrder(req);
    expect(a).toMatchObject({ symbol: 'BTCUSDT', side: 'BUY', status: 'FILLED', filledQty: 0.002, avgPrice: 100000, clientOrderId: req.clientOrderId, reduceOnly: false });
    expect(a.fee).toBeCloseTo(0.002 * 100000 * 0.0004, 8);
    const sent = fake.calls.find((c) => c.method === 'POST' && c.path === '/fapi/v1/order')!.params;
    expect(sent).toMatchObject({ newClientOrderId: req.clientOrderId, type: 'MARKET', side: 'BUY', quantity: '0.002' });
  });

  it('closes with a reduce-only order and reports realised pnl; positions and balance follow', async () => {
    await ex.submitMarketOrder(order({ qty: 0.003, leverage: 10 }));
    let pos = await ex.fetchPositions();
    expect(pos).toEqual([{ symbol: 'BTCUSDT', side: 'LONG', qty: 0.003, entryPrice: 100000, markPrice: 100000, unrealizedPnl: 0, leverage: 10 }]);
    const bal = await ex.fetchBalance();
    expect(bal.asset).toBe('USDT');
    expect(bal.wallet).toBeCloseTo(10000 - 0.003 * 100000 * 0.0004, 6);
    expect(bal.available).toBeCloseTo(bal.wallet - 30, 6);

    fake.setPrice('BTCUSDT', 101000);
    const close = await ex.submitMarketOrder(order({ side: 'SELL', qty: 0.003, reduceOnly: true }));
    expect(close).toMatchObject({ status: 'FILLED', reduceOnly: true, filledQty: 0.003 });
    expect(close.realizedPnl).toBeCloseTo(3, 6);
    const sent = fake.calls.filter((c) => c.method === 'POST' && c.path === '/fapi/v1/order')[1].params;
    expect(sent.reduceOnly).toBe('true');
    pos = await ex.fetchPositions();
    expect(pos).toEqual([]);
    expect(fake.calls.some((c) => c.path === '/fapi/v2/positionRisk')).toBe(true);
  });

  it('a short position is reported as SHORT with a positive qty', async () => {
    await ex.submitMarketOrder(order({ symbol: 'ETHUSDT', side: 'SELL', qty: 0.05, leverage: 3 }));
    expect(await ex.fetchPositions()).toMatchObject([{ symbol: 'ETHUSDT', side: 'SHORT', qty: 0.05, leverage: 3 }]);
  });

  it('fetchOrderByClientId finds a filled order and returns null for an unknown one', async () => {
    const req = order();
    await ex.submitMarketOrder(req);
    expect(await ex.fetchOrderByClientId('BTCUSDT', req.clientOrderId)).toMatchObject({ clientOrderId: req.clientOrderId, status: 'FILLED', filledQty: 0.002 });
    expect(await ex.fetchOrderByClientId('BTCUSDT', 'never-sent-1')).toBeNull();
  });

  it('refuses a quantity off the step locally instead of letting ccxt truncate it', async () => {
    const e = await failure(ex.submitMarketOrder(order({ qty: 0.0025 })));
    expect(e.reason).toBe('precision_invalid');
    expect(fake.count('POST', '/fapi/v1/order')).toBe(0);
  });

  it('refreshes the markets periodically', async () => {
    const quick = await connect(loadConfig({ env: env(fake) }), { marketsRefreshMs: 50 });
    const before = fake.count('GET', '/fapi/v1/exchangeInfo');
    await expect.poll(() => fake.count('GET', '/fapi/v1/exchangeInfo'), { timeout: 60_000, interval: 20 }).toBeGreaterThan(before);
    await quick.stop();
    expect(quick.rules('BTCUSDT')!.minNotional).toBe(100);
  });

  it('a symbol Binance does not list is symbol_not_allowed', async () => {
    expect((await failure(ex.submitMarketOrder(order({ symbol: 'FOOUSDT' })))).reason).toBe('symbol_not_allowed');
  });
});

describe('binance adapter: modes and credentials', () => {
  it('a missing key is a UsageError naming the variable', async () => {
    const c = loadConfig({ env: { QT_EXCHANGE: 'binance', BINANCE_API_SECRET: fake.secret } });
    const e = await createBinanceExchange(c, log).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(2);
    expect((e as Error).message).toContain('BINANCE_API_KEY is not set (nor BINANCE_API_KEY_FILE)');
    expect((e as Error).message).not.toContain('BINANCE_API_SECRET');
  });

  it('a missing secret is named too', async () => {
    const c = loadConfig({ env: { QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey } });
    await expect(createBinanceExchange(c, log)).rejects.toThrow('BINANCE_API_SECRET is not set (nor BINANCE_API_SECRET_FILE)');
  });

  it('live without the confirmation phrase is refused, naming QT_LIVE_CONFIRM and --live', async () => {
    const c = loadConfig({ env: env(fake, { QT_BINANCE_MODE: 'live' }) });
    const e = await createBinanceExchange(c, log).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(/QT_LIVE_CONFIRM/);
    expect((e as Error).message).toMatch(/--live/);
  });

  it('live with the confirmation uses fapi.binance.com (not demo)', async () => {
    const c = loadConfig({ env: env(fake, { QT_BINANCE_MODE: 'live', QT_LIVE_CONFIRM: 'I_UNDERSTAND_THIS_TRADES_REAL_MONEY' }) });
    const live = await connect(c);
    expect(live.mode).toBe('LIVE');
    const hosts = new Set(fake.calls.slice(-2).map((c) => c.host));
    expect([...hosts]).toEqual(['fapi.binance.com']);
    await live.stop();
  });

  it('a wrong secret is auth_failed with the fix, at start, after one signed call', async () => {
    const c = loadConfig({ env: env(fake, { BINANCE_API_SECRET: 'wrongSecretCCCCCCCCCCCCCCCCCCCCC' }) });
    const before = fake.calls.length;
    const bad = await createBinanceExchange(c, log, { fetchImplementation: fake.fetch, enableRateLimit: false });
    const e = await failure(bad.start());
    expect(e.reason).toBe('auth_failed');
    expect(e.retryable).toBe(false);
    expect(e.opts.fix).toMatch(/API key/);
    expect(e.code).toBe(-2015);
    expect(fake.calls.slice(before).filter((x) => x.status === 401)).toHaveLength(1);
  });
});
