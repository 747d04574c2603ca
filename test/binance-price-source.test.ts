/**
 * Live prices from Binance public market data, through ccxt against the fake server.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createBinancePriceSource, joinQuotes } from '../src/engine/exchange/binance/price-source.js';
import { ExchangeError } from '../src/engine/exchange/types.js';
import { startFakeBinance, type FakeBinance } from './helpers/fake-binance.js';

let fake: FakeBinance;
beforeEach(async () => {
  fake = await startFakeBinance();
});
afterEach(async () => {
  await fake.close();
});

const source = (env: Record<string, string> = {}) =>
  createBinancePriceSource(loadConfig({ env: { QT_MARKET: 'binance', ...env } }), { fetchImplementation: fake.fetch, enableRateLimit: false });

describe('binance price source', () => {
  it('quotes last and mark price with the exchange timestamp, without a key', async () => {
    fake.setPrice('BTCUSDT', 101234.5, { mark: 101230.1, time: 1_700_000_000_000 });
    fake.setPrice('ETHUSDT', 3999.5, { mark: 4000.25, time: 1_700_000_000_500 });
    const ps = await source();
    const q = await ps.quotes(['BTCUSDT', 'ETHUSDT', 'NOTAUSDT'], Date.now());
    expect(q.get('BTCUSDT')).toEqual({ price: 101234.5, mark: 101230.1, ts: 1_700_000_000_000 });
    expect(q.get('ETHUSDT')).toEqual({ price: 3999.5, mark: 4000.25, ts: 1_700_000_000_500 });
    expect(q.has('NOTAUSDT')).toBe(false);
    const calls = fake.calls.filter((c) => c.path === '/fapi/v1/ticker/price' || c.path === '/fapi/v1/premiumIndex');
    expect(calls).toHaveLength(2);
    for (const c of calls) expect(c.params.signature).toBeUndefined();
    await ps.close?.();
  });

  it('uses live public data unless the engine trades on demo', async () => {
    const live = await source();
    expect(live.source).toBe('binance');
    await live.quotes(['BTCUSDT'], Date.now());
    expect(fake.calls.at(-1)!.host).toBe('fapi.binance.com');
    const demo = await source({ QT_EXCHANGE: 'binance', QT_BINANCE_MODE: 'demo' });
    expect(demo.source).toBe('binance-demo');
    await demo.quotes(['BTCUSDT'], Date.now());
    expect(fake.calls.at(-1)!.host).toBe('demo-fapi.binance.com');
  });

  it('a failing feed throws a mapped ExchangeError', async () => {
    const ps = await source();
    fake.failNext({ status: 503, path: '/fapi/v1/ticker/price' });
    const e = await ps.quotes(['BTCUSDT', 'ETHUSDT'], Date.now()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ExchangeError);
    expect((e as ExchangeError).reason).toBe('exchange_unavailable');
  });

  it('joinQuotes takes the older of the two timestamps and skips rows without one', () => {
    const q = joinQuotes(
      ['A', 'B', 'C'],
      [{ symbol: 'A', price: '10', time: 2000 }, { symbol: 'B', price: '5' }, { symbol: 'C', price: '0', time: 1 }],
      [{ symbol: 'A', markPrice: '10.5', time: 1500 }, { symbol: 'C', markPrice: '0', time: 1 }],
    );
    expect(q.get('A')).toEqual({ price: 10, mark: 10.5, ts: 1500 });
    expect(q.has('B')).toBe(false);
    expect(q.has('C')).toBe(false);
  });
});
