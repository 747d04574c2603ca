/**
 * Issue 17, point 3: leverage brackets — the shipped snapshot covers every shipped symbol,
 * the pure rules (bracket 1 = max leverage; the cap at a leverage), and the Binance adapter
 * reading them live from GET /fapi/v1/leverageBracket (through real ccxt, test server).
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { createBinanceExchange } from '../src/engine/exchange/binance/adapter.js';
import { defaultBrackets, maxLeverageOf, notionalCapAt, parseLeverageBrackets } from '../src/engine/exchange/leverage-brackets.js';
import { loadMarkets, snapshotBrackets } from '../src/engine/exchange/markets.js';
import { silentLogger } from '../src/log.js';
import { startFakeBinance, type FakeBinance } from './helpers/fake-binance.js';

let fake: FakeBinance | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('leverage brackets', () => {
  it('the snapshot covers every shipped symbol, names its source, and sets maxLeverage to bracket 1', () => {
    const snap = snapshotBrackets();
    for (const [symbol, rules] of loadMarkets()) {
      const bs = snap.get(symbol);
      expect(bs, symbol).toBeDefined();
      expect(rules.brackets).toEqual(bs);
      expect(rules.maxLeverage).toBe(bs![0].initialLeverage);
      // tiers are contiguous and leverage falls as the notional grows
      for (let i = 1; i < bs!.length; i++) {
        expect(bs![i].notionalFloor).toBe(bs![i - 1].notionalCap);
        expect(bs![i].initialLeverage).toBeLessThan(bs![i - 1].initialLeverage);
      }
    }
    expect(snap.get('BTCUSDT')![0]).toMatchObject({ initialLeverage: 125, notionalCap: 50000, maintMarginRatio: 0.004 });
  });

  it('each snapshot entry names its source and its date; recorded tables are internally consistent', () => {
    // Binance's cum (maintenance amount) is Σ floor × (mmr − previous mmr) over the tiers
    // (USDⓈ-M "Leverage and Margin" tiers): a figure copied wrong breaks the sum.
    const raw = JSON.parse(readFileSync(new URL('../data/binance-usdm-leverageBracket.json', import.meta.url), 'utf8')) as
      { symbol: string; qtSource: string; qtDate: string; brackets: { notionalFloor: number; maintMarginRatio: number; cum: number }[] }[];
    for (const e of raw) {
      expect(e.qtSource, e.symbol).toMatch(/\S/);
      expect(e.qtDate, e.symbol).toMatch(/\S/);
      // every table is a recording of Binance's endpoint (no self-made default table is shipped)
      expect(e.qtSource, e.symbol).not.toMatch(/^DEFAULT/);
      expect(e.qtSource, e.symbol).toMatch(/GET \/fapi\/v1\/leverageBracket/);
      let cum = 0;
      let prev = 0;
      for (const b of e.brackets) {
        cum += b.notionalFloor * (b.maintMarginRatio - prev);
        prev = b.maintMarginRatio;
        expect(Math.abs(cum - b.cum), `${e.symbol} cum`).toBeLessThan(0.02);
      }
    }
    // every shipped symbol has its recorded table
    expect(raw.map((e) => e.symbol).sort()).toEqual([...loadMarkets().keys()].sort());
    // the four last transcribed from the freqtrade copy (bracket 1 and the last bracket, as recorded)
    const first = (s: string) => snapshotBrackets().get(s)![0];
    const last = (s: string) => snapshotBrackets().get(s)!.at(-1)!;
    expect(first('SOLUSDT')).toMatchObject({ initialLeverage: 100, notionalCap: 50000, maintMarginRatio: 0.005 });
    expect(last('SOLUSDT')).toMatchObject({ bracket: 10, initialLeverage: 1, notionalCap: 400000000, cum: 66731475 });
    expect(first('XRPUSDT')).toMatchObject({ initialLeverage: 100, notionalCap: 40000, maintMarginRatio: 0.005 });
    expect(last('XRPUSDT')).toMatchObject({ bracket: 11, initialLeverage: 1, notionalCap: 100000000, cum: 16683735 });
    expect(first('NEARUSDT')).toMatchObject({ initialLeverage: 75, notionalCap: 20000, maintMarginRatio: 0.01 });
    expect(last('NEARUSDT')).toMatchObject({ bracket: 9, initialLeverage: 1, notionalCap: 35000000, cum: 11681100 });
    expect(first('SUIUSDT')).toMatchObject({ initialLeverage: 75, notionalCap: 20000, maintMarginRatio: 0.01 });
    expect(last('SUIUSDT')).toMatchObject({ bracket: 9, initialLeverage: 1, notionalCap: 100000000, cum: 16681100 });
    expect(snapshotBrackets().get('ETHUSDT')![0]).toMatchObject({ initialLeverage: 150, notionalCap: 300000, maintMarginRatio: 0.004 });
  });

  it('the cap at a leverage is the largest notionalCap of the brackets allowing it', () => {
    const btc = snapshotBrackets().get('BTCUSDT')!;
    expect(maxLeverageOf(btc)).toBe(125);
    expect(notionalCapAt(btc, 125)).toBe(50000);
    expect(notionalCapAt(btc, 101)).toBe(50000);
    expect(notionalCapAt(btc, 100)).toBe(250000);
    expect(notionalCapAt(btc, 20)).toBe(20000000);
    expect(notionalCapAt(btc, 1)).toBe(500000000);
    expect(notionalCapAt(btc, 126)).toBe(0);
    expect(notionalCapAt(undefined, 5)).toBe(Infinity);
    const d = defaultBrackets(50);
    expect(d.map((b) => b.initialLeverage)).toEqual([50, 20, 10, 5, 2, 1]);
    expect(defaultBrackets(10).map((b) => b.initialLeverage)).toEqual([10, 5, 2, 1]);
  });

  it('parses Binance answers with numbers or numeric strings, one object or a list, skipping junk', () => {
    const m = parseLeverageBrackets([
      { symbol: 'XUSDT', brackets: [{ bracket: '2', initialLeverage: '10', notionalCap: '1000', notionalFloor: '500', maintMarginRatio: '0.01', cum: '1' }, { bracket: 1, initialLeverage: 20, notionalCap: 500 }] },
      { symbol: 'BAD', brackets: [{ initialLeverage: 'x' }] },
      null,
    ]);
    expect([...m.keys()]).toEqual(['XUSDT']);
    expect(m.get('XUSDT')!.map((b) => b.initialLeverage)).toEqual([20, 10]);
    expect(parseLeverageBrackets({ symbol: 'Y', brackets: [{ bracket: 1, initialLeverage: 5, notionalCap: 9 }] }).get('Y')![0].notionalCap).toBe(9);
  });

  it('the Binance adapter reads them live at start; when they cannot be read it keeps the snapshot and says so', async () => {
    fake = await startFakeBinance();
    // This account's brackets differ from the snapshot (Binance sets them per account): served live.
    const own = [{ bracket: 1, initialLeverage: 75, notionalCap: 10000, notionalFloor: 0, maintMarginRatio: 0.0065, cum: 0 }, { bracket: 2, initialLeverage: 10, notionalCap: 90000, notionalFloor: 10000, maintMarginRatio: 0.05, cum: 435 }];
    const rules = new Map(fake.rules);
    rules.set('BTCUSDT', { ...rules.get('BTCUSDT')!, brackets: own, maxLeverage: 75 });
    (fake as unknown as { rules: typeof rules }).rules = rules;
    const config = loadConfig({ env: { QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey, BINANCE_API_SECRET: fake.secret } });
    const ex = await createBinanceExchange(config, silentLogger, { fetchImplementation: fake.fetch, enableRateLimit: false });
    await ex.start();
    expect(fake.count('GET', '/fapi/v1/leverageBracket')).toBe(1);
    expect(ex.rules('BTCUSDT')!.brackets).toEqual(own);
    expect(ex.rules('BTCUSDT')!.maxLeverage).toBe(75);
    expect(ex.rules('ETHUSDT')!.brackets).toEqual(snapshotBrackets().get('ETHUSDT'));
    const over = await ex.setLeverage('BTCUSDT', 76).catch((e: unknown) => e);
    expect(over).toMatchObject({ code: -4028, reason: 'leverage_exceeds_max' });
    await ex.stop();

    const lines: string[] = [];
    const { createLogger } = await import('../src/log.js');
    const log = createLogger({ level: 'warn', format: 'json', write: (l) => lines.push(l) });
    fake.failNext({ status: 400, code: -1000, msg: 'An unknown error occured while processing the request.', path: '/leverageBracket' });
    const ex2 = await createBinanceExchange(config, log, { fetchImplementation: fake.fetch, enableRateLimit: false });
    await ex2.start();
    expect(ex2.rules('ETHUSDT')!.brackets).toEqual(snapshotBrackets().get('ETHUSDT'));
    expect(lines.join('\n')).toContain('leverage brackets unavailable');
    await ex2.stop();
  });
});
