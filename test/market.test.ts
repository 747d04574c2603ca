import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/log.js';
import { Engine } from '../src/engine/engine.js';
import { GbmPriceSource, GbmWalk, mulberry32, profileFor } from '../src/engine/market/gbm.js';
import { logReturns, stdev } from '../src/engine/market/candles.js';
import { createMarketStage, createPriceSource } from '../src/engine/stages/market.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'XRPUSDT', 'BNBUSDT', 'ADAUSDT', 'SUIUSDT', 'LINKUSDT', 'AVAXUSDT', 'LTCUSDT', 'DOTUSDT', 'NEARUSDT', 'ALGOUSDT', 'AEVOUSDT'];

function configFor(prefix: string, extra: Record<string, string> = {}) {
  return loadConfig({
    env: { REDIS_URL: testRedisUrl(), QT_PREFIX: prefix, QT_SYMBOLS: SYMBOLS.join(','), QT_MARKET_TICK_MS: '50', QT_LOG_LEVEL: 'silent', ...extra },
  });
}

afterAll(closeAll);

describe('seeded geometric Brownian motion', () => {
  it('mulberry32 gives the same sequence for the same seed and another for another seed', () => {
    const a = mulberry32(7), b = mulberry32(7), c = mulberry32(8);
    const sa = Array.from({ length: 5 }, a), sb = Array.from({ length: 5 }, b), sc = Array.from({ length: 5 }, c);
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(sa.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('the feed is deterministic for a seed', async () => {
    const run = async (seed: number) => {
      const s = new GbmPriceSource({ seed });
      const out: number[] = [];
      for (let i = 0; i < 50; i++) out.push((await s.quotes(['BTCUSDT', 'SOLUSDT'], 1000 + i)).get('SOLUSDT')!.price);
      return out;
    };
    expect(await run(42)).toEqual(await run(42));
    expect(await run(42)).not.toEqual(await run(43));
  });

  it('adding a symbol does not change another symbol\'s path', async () => {
    const a = new GbmPriceSource({ seed: 1 });
    const b = new GbmPriceSource({ seed: 1 });
    for (let i = 0; i < 20; i++) {
      const qa = await a.quotes(['ETHUSDT'], i);
      const qb = await b.quotes(['BTCUSDT', 'ETHUSDT', 'AEVOUSDT'], i);
      expect(qb.get('ETHUSDT')!.price).toBe(qa.get('ETHUSDT')!.price);
    }
  });

  it('starts near realistic prices, stays positive, and has the configured volatility order of magnitude', () => {
    expect(profileFor('BTCUSDT').start).toBe(70000);
    expect(profileFor('ALGOUSDT').start).toBeCloseTo(0.18);
    expect(profileFor('AEVOUSDT').start).toBeCloseTo(0.4);
    expect(profileFor('FOOUSDT').start).toBeGreaterThan(0); // unknown symbols get a default
    const stepMs = 60_000;
    for (const sym of ['BTCUSDT', 'AEVOUSDT', 'XRPUSDT']) {
      const w = new GbmWalk(sym, 42);
      const prices = [w.price];
      for (let i = 0; i < 3000; i++) prices.push(w.step(stepMs));
      expect(prices.every((p) => p > 0 && Number.isFinite(p))).toBe(true);
      const expected = profileFor(sym).dailyVol * Math.sqrt(stepMs / 86_400_000);
      const sd = stdev(logReturns(prices));
      expect(sd).toBeGreaterThan(expected * 0.7);
      expect(sd).toBeLessThan(expected * 1.3);
    }
    const vol = (sym: string) => {
      const w = new GbmWalk(sym, 3);
      const p = [w.price];
      for (let i = 0; i < 2000; i++) p.push(w.step(stepMs));
      return stdev(logReturns(p));
    };
    expect(vol('AEVOUSDT')).toBeGreaterThan(vol('BTCUSDT') * 2);
  });
});

describe('market stage', () => {
  it('writes a price key with price, mark, ts and source for every symbol incl. ALGOUSDT and AEVOUSDT', async () => {
    const prefix = uniquePrefix('mkt');
    const config = configFor(prefix);
    const writer = testRedis();
    const engine = new Engine({ config, writer, log: silentLogger, mode: 'PAPER' });
    await engine.start([createMarketStage({ config })]);
    try {
      const hashes = await waitFor(async () => {
        const hs = await Promise.all(SYMBOLS.map((s) => writer.hgetall(config.names.price(s))));
        return hs.every((h) => h.price) ? hs : null;
      }, 5000, 'price keys');
      for (const [i, h] of hashes.entries()) {
        expect(Number(h.price), SYMBOLS[i]).toBeGreaterThan(0);
        expect(Number(h.mark)).toBeGreaterThan(0);
        expect(Math.abs(Number(h.mark) / Number(h.price) - 1)).toBeLessThan(0.01);
        expect(Date.now() - Number(h.ts)).toBeLessThan(5000);
        expect(h.source).toBe('paper-gbm');
      }
      const btc = Number(hashes[0].price);
      expect(btc).toBeGreaterThan(50000);
      expect(btc).toBeLessThan(90000);
      // the feed moves
      await waitFor(async () => Number(await writer.hget(config.names.price('BTCUSDT'), 'price')) !== btc, 5000, 'a new BTC price');
      const m = await writer.hgetall(config.names.metrics('market', Math.floor(Date.now() / 60000)));
      expect(Number(m.out ?? 0) + Number((await writer.hgetall(config.names.metrics('market', Math.floor(Date.now() / 60000) - 1))).out ?? 0)).toBeGreaterThan(0);
    } finally {
      await engine.stop();
    }
  });

  it('continues from the last written price after a restart', async () => {
    const prefix = uniquePrefix('mktr');
    const config = configFor(prefix, { QT_SYMBOLS: 'BTCUSDT,ALGOUSDT' });
    const writer = testRedis();
    await writer.hset(config.names.price('BTCUSDT'), { price: '12345', mark: '12345', ts: '1', source: 'paper-gbm' });
    const engine = new Engine({ config, writer, log: silentLogger, mode: 'PAPER' });
    await engine.start([createMarketStage({ config })]);
    try {
      const p = await waitFor(async () => {
        const h = await writer.hgetall(config.names.price('BTCUSDT'));
        return Number(h.ts) > 1 ? Number(h.price) : null;
      }, 5000, 'a new BTC tick');
      expect(p).toBeGreaterThan(12345 * 0.9);
      expect(p).toBeLessThan(12345 * 1.1);
    } finally {
      await engine.stop();
    }
  });

  it('counts a symbol the source cannot quote as price_unavailable', async () => {
    const prefix = uniquePrefix('mktu');
    const config = configFor(prefix, { QT_SYMBOLS: 'BTCUSDT,ETHUSDT' });
    const writer = testRedis();
    const source = {
      source: 'test-feed',
      async quotes(symbols: string[], now: number) {
        return new Map(symbols.filter((s) => s === 'BTCUSDT').map((s) => [s, { price: 100, mark: 100, ts: now }] as const));
      },
    };
    const engine = new Engine({ config, writer, log: silentLogger, mode: 'PAPER' });
    await engine.start([createMarketStage({ config, source })]);
    try {
      const rej = await waitFor(async () => {
        const r = await writer.xrange(config.names.stream('stage.rejected'), '-', '+', 'COUNT', 1);
        return r.length ? r[0][1] : null;
      }, 5000, 'a rejection');
      expect(rej).toContain('price_unavailable');
      expect(rej).toContain('ETHUSDT');
      expect(await writer.hget(config.names.price('BTCUSDT'), 'source')).toBe('test-feed');
      expect(await writer.exists(config.names.price('ETHUSDT'))).toBe(0);
    } finally {
      await engine.stop();
    }
  });

  it('chooses the embedded walk by default and loads the Binance source only for QT_MARKET=binance', async () => {
    const paper = await createPriceSource(configFor(uniquePrefix('src')));
    expect(paper.source).toBe('paper-gbm');
    const binance = await createPriceSource(configFor(uniquePrefix('src'), { QT_MARKET: 'binance' }));
    expect(binance.source).toMatch(/^binance/);
    expect(typeof binance.quotes).toBe('function');
    await binance.close?.();
  });
});
