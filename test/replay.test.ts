/**
 * The replay price source and the run report, as pure functions: both file layouts, one-line
 * errors naming file and row, the intra-candle path, a clock that never skips a point, and the
 * report's figures on hand-made fills.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import {
  candlePath,
  createReplaySource,
  loadReplayFile,
  parseReplayText,
  ReplayPriceSource,
  sliceSeries,
  symbolFromFileName,
} from '../src/engine/market/replay.js';
import { buildReplayReport, formatReplayReport } from '../src/engine/replay-report.js';

const REAL = 'data/XRPUSDT-perp-5m-2021-11.ohlcv.json';

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('replay files', () => {
  it('reads the shipped real XRPUSDT file: 1,999 five-minute candles, symbol from the file name', () => {
    const s = loadReplayFile(REAL);
    expect(s.symbol).toBe('XRPUSDT');
    expect(s.candles).toHaveLength(1999);
    expect(s.candleMs).toBe(300_000);
    expect(s.candles[0]).toMatchObject({ t: 1636934400000, o: 1.1893, h: 1.1954, l: 1.1891, c: 1.1941 });
  });

  it('reads Binance klines CSV, with or without a header, and µs open times', () => {
    const csv = [
      'open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore',
      '1636934400000,1.1893,1.1954,1.1891,1.1941,9289043.5,1636934699999,0,0,0,0,0',
      '1636934700000000,1.1941,1.1993,1.1934,1.1972,7267451.9,1636934999999999,0,0,0,0,0',
    ].join('\n');
    const s = parseReplayText(csv, '/tmp/XRPUSDT-5m-2021-11-15.csv');
    expect(s.symbol).toBe('XRPUSDT');
    expect(s.candles.map((c) => c.t)).toEqual([1636934400000, 1636934700000]);
    const noHeader = parseReplayText(csv.split('\n').slice(1).join('\n'), 'BTCUSDT.csv');
    expect(noHeader.candles).toHaveLength(2);
  });

  it('names the file and the row of a bad value in one line', () => {
    const bad = '[[1636934400000,1.1,1.2,1.0,1.15,5],[1636934700000,"x",1.2,1.0,1.1,5]]';
    const e = errorOf(() => parseReplayText(bad, 'XRPUSDT.json'));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toBe('replay file XRPUSDT.json: row 2: open is not a number ("x")');
    const csvBad = 'open_time,open,high,low,close\n1636934400000,1.1,1.2,1.0,1.15\n1636934700000,1.1,1.05,1.0,1.1';
    expect(errorOf(() => parseReplayText(csvBad, 'XRPUSDT.csv')).message).toBe('replay file XRPUSDT.csv: line 3: low 1 / high 1.05 do not bound open 1.1 and close 1.1');
    expect(errorOf(() => parseReplayText('[[2,1,1,1,1],[1,1,1,1,1]]', 'XRPUSDT.json')).message).toMatch(/row 2: open_time 1 is not after/);
    expect(errorOf(() => loadReplayFile('/nonexistent/XRPUSDT.json')).message).toBe('replay file /nonexistent/XRPUSDT.json: cannot read it (ENOENT)');
    expect(errorOf(() => parseReplayText('[[1,1,1,1,1],[2,1,1,1,1]]', 'prices.json')).message).toMatch(/cannot tell the symbol/);
    expect(errorOf(() => parseReplayText('{"a":1}', 'XRPUSDT.json')).message).toMatch(/not valid JSON|expected an array/);
  });

  it('takes the symbol from the leading capitals of the file name', () => {
    expect(symbolFromFileName('/x/XRPUSDT-perp-5m-2021-11.ohlcv.json')).toBe('XRPUSDT');
    expect(symbolFromFileName('BTCUSDT_1m.csv')).toBe('BTCUSDT');
    expect(symbolFromFileName('xrpusdt.json')).toBeUndefined();
  });

  it('keeps a window of candles and refuses an empty one', () => {
    const s = loadReplayFile(REAL);
    const w = sliceSeries(s, Date.parse('2021-11-16T10:00Z'), Date.parse('2021-11-16T10:30Z'));
    expect(w.candles).toHaveLength(6);
    expect(() => sliceSeries(s, Date.parse('2030-01-01T00:00Z'))).toThrow(UsageError);
  });
});

describe('replay path and clock', () => {
  it('walks a falling candle open → high → low → close, and a rising one open → low → high → close', () => {
    const falling = candlePath({ t: 0, o: 10, h: 11, l: 8, c: 9, v: 0 }, 400);
    expect(falling.map((p) => p.price)).toEqual([10, 11, 8, 9]);
    expect(falling.map((p) => p.t)).toEqual([0, 100, 200, 300]);
    const rising = candlePath({ t: 0, o: 9, h: 11, l: 8, c: 10, v: 0 }, 400);
    expect(rising.map((p) => p.price)).toEqual([9, 8, 11, 10]);
  });

  it('quotes every point once, in order, however fast it is asked to go, then finishes', async () => {
    const s = sliceSeries(loadReplayFile(REAL), Date.parse('2021-11-16T10:00Z'), Date.parse('2021-11-16T10:30Z'));
    const src = new ReplayPriceSource([s], { speed: 1e7, tickMs: 50 });
    let finished = false;
    void src.finished.then(() => (finished = true));
    const seen: number[] = [];
    for (let i = 0; i < 100 && !src.progress().finished; i++) {
      const q = await src.quotes(['XRPUSDT'], 1_000 + i);
      seen.push(q.get('XRPUSDT')!.price);
      expect(q.get('XRPUSDT')!.ts).toBe(1_000 + i);
    }
    const expected = s.candles.flatMap((c) => candlePath(c, s.candleMs).map((p) => p.price));
    expect(seen).toEqual(expected);
    expect(src.speedCapped).toBe(true);
    await src.finished;
    expect(finished).toBe(true);
    expect((await src.quotes(['XRPUSDT'], 9_999)).size).toBe(0);
    // The lowest low of the drop was quoted (a stop inside a candle's range can trigger).
    expect(Math.min(...seen)).toBe(Math.min(...s.candles.map((c) => c.l)));
  });

  it('at real time, holds a point until its time comes', async () => {
    const s = sliceSeries(loadReplayFile(REAL), Date.parse('2021-11-16T10:00Z'), Date.parse('2021-11-16T10:10Z'));
    const src = new ReplayPriceSource([s], { speed: 1, tickMs: 1000 });
    const first = (await src.quotes(['XRPUSDT'], 0)).get('XRPUSDT')!;
    const second = (await src.quotes(['XRPUSDT'], 1000)).get('XRPUSDT')!;
    expect(first.price).toBe(s.candles[0].o);
    expect(second.price).toBe(s.candles[0].o); // 1 s later, still the open: the next point is 75 s on
    expect(second.marketTs).toBe(s.candles[0].t);
    expect(src.speedCapped).toBe(false);
  });

  it('in lock step, plays exactly the points up to the replay clock, stamped with their replayed time; a repeated call replays none', async () => {
    const s = sliceSeries(loadReplayFile(REAL), Date.parse('2021-11-16T10:00Z'), Date.parse('2021-11-16T10:30Z'));
    const src = new ReplayPriceSource([s], { speed: 1, tickMs: 50, lockStep: true });
    const path = s.candles.flatMap((c) => candlePath(c, s.candleMs));
    const seen: { t: number; price: number }[] = [];
    for (let next = src.peekNext(); next !== undefined; next = src.peekNext()) {
      const q = (await src.quotes(['XRPUSDT'], next)).get('XRPUSDT')!;
      expect(q.ts).toBe(next);
      expect(q.marketTs).toBe(next);
      // a tick retried at the same clock quotes the same point again, it does not skip one
      const again = (await src.quotes(['XRPUSDT'], next)).get('XRPUSDT')!;
      expect(again).toEqual(q);
      seen.push({ t: q.ts, price: q.price });
    }
    expect(seen).toEqual(path.map((p) => ({ t: p.t, price: p.price })));
    expect(src.progress().finished).toBe(true);
    // the history (for the hit rates) holds each point once, keyed by its replayed time
    expect(src.history.get('XRPUSDT')!.map((h) => h.wall)).toEqual(path.map((p) => p.t));
  });

  it('refuses two files of one symbol and a speed of 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-replay-'));
    const a = join(dir, 'XRPUSDT-a.json');
    const b = join(dir, 'XRPUSDT-b.json');
    writeFileSync(a, '[[1,1,1,1,1],[2,1,1,1,1]]');
    writeFileSync(b, '[[1,1,1,1,1],[2,1,1,1,1]]');
    expect(errorOf(() => createReplaySource({ files: [a, b], speed: 1, tickMs: 100 })).message).toMatch(/two files for XRPUSDT/);
    expect(() => createReplaySource({ files: [a], speed: 0, tickMs: 100 })).toThrow(/QT_REPLAY_SPEED/);
  });
});

describe('replay report', () => {
  const history = new Map([
    ['XRPUSDT', [
      { wall: 100, t: 0, price: 1.0 },
      { wall: 200, t: 900_000, price: 1.1 },
      { wall: 300, t: 1_800_000, price: 1.0 },
    ]],
  ]);
  const fill = (o: Partial<Record<string, string>>) => ({ symbol: 'XRPUSDT', side: 'BUY', qty: '10', price: '1', fee: '0.1', status: 'FILLED', reduceOnly: 'false', realized_pnl: '0', ts: '150', ...o } as Record<string, string>);

  it('counts closing fills as trades, wins by realized P&L, and the drawdown from the equity peak', () => {
    const r = buildReplayReport({
      symbols: ['XRPUSDT'], from: 0, to: 1_800_000, speed: 1500, startBalanceUsd: 1000, openPositions: 0, now: 5,
      executions: [
        fill({}),
        fill({ reduceOnly: 'true', side: 'SELL', realized_pnl: '5', ts: '210' }),
        fill({ ts: '220' }),
        fill({ reduceOnly: 'true', side: 'SELL', realized_pnl: '-8', ts: '310' }),
      ],
      signals: [],
      history,
    });
    expect(r).toMatchObject({ fills: 4, trades: 2, wins: 1, losses: 1, win_rate: 0.5, realized_pnl_usd: -3, fees_usd: 0.4, net_pnl_usd: -3.4 });
    // equity: 999.9, 1004.8 (peak), 1004.7, 996.6 → drawdown 8.2 from 1004.8
    expect(r.max_drawdown_usd).toBeCloseTo(8.2, 6);
    expect(r.max_drawdown_pct).toBeCloseTo(8.2 / 1004.8, 5);
    expect(r.exits.map((e) => e.market_ts)).toEqual([900_000, 1_800_000]);
    expect(formatReplayReport(r)).toMatch(/trades 2 \(won 1, lost 1\) · win rate 50\.0%/);
  });

  it('judges each model vote by the price one horizon of market time later', () => {
    const models = JSON.stringify({ trend: { vote: 'BUY', score: 0.8 }, momentum: { vote: 'SELL', score: 0.6 }, breakout: { vote: 'HOLD', score: 0 } });
    const r = buildReplayReport({
      symbols: ['XRPUSDT'], from: 0, to: 1_800_000, speed: 1, startBalanceUsd: 0, openPositions: 0, now: 0,
      executions: [],
      // at t=0 (price 1.0) → 15 min later 1.1: BUY right, SELL wrong; at t=900 000 → 1.0: BUY wrong
      signals: [
        { symbol: 'XRPUSDT', ts: '100', price: '1.0', models },
        { symbol: 'XRPUSDT', ts: '200', price: '1.1', models },
        { symbol: 'XRPUSDT', ts: '300', price: '1.0', models }, // no price 15 min later: not judged
      ],
      history,
    });
    expect(r.models).toEqual([
      { model: 'momentum', votes: 2, hits: 1, hit_rate: 0.5 },
      { model: 'trend', votes: 2, hits: 1, hit_rate: 0.5 },
    ]);
    expect(r.win_rate).toBeNull();
  });
});
