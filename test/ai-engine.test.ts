import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { decode, fieldsFromArray } from '../src/contract/messages.js';
import { silentLogger } from '../src/log.js';
import { Engine } from '../src/engine/engine.js';
import { CandleBook, type Candle, type Tick } from '../src/engine/market/candles.js';
import { Ensemble } from '../src/engine/market/ensemble.js';
import { BreakoutModel } from '../src/engine/market/models/breakout.js';
import { MeanReversionModel } from '../src/engine/market/models/mean-reversion.js';
import { MomentumModel } from '../src/engine/market/models/momentum.js';
import { OnlineLogisticModel } from '../src/engine/market/models/online-logistic.js';
import { tickMomentum } from '../src/engine/market/models/tick-momentum.js';
import { TrendModel } from '../src/engine/market/models/trend.js';
import type { Model, ModelVote } from '../src/engine/market/models/types.js';
import { mulberry32, gaussian } from '../src/engine/market/gbm.js';
import { createAiEngineStage, shouldEmit } from '../src/engine/stages/ai-engine.js';
import { createMarketStage } from '../src/engine/stages/market.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

afterAll(closeAll);

/** Candles from closes (high/low a hair around the close). */
function candles(closes: number[], ms = 5000): Candle[] {
  return closes.map((c, i) => ({ t: i * ms, o: i ? closes[i - 1] : c, h: Math.max(c, i ? closes[i - 1] : c) * 1.0001, l: Math.min(c, i ? closes[i - 1] : c) * 0.9999, c, n: 5 }));
}
/** A series with a drift per step and seeded noise. */
function series(n: number, drift: number, noise: number, seed = 1, start = 100): number[] {
  const r = mulberry32(seed);
  const out = [start];
  for (let i = 1; i < n; i++) out.push(out[i - 1] * Math.exp(drift + noise * gaussian(r)));
  return out;
}

describe('models vote as designed', () => {
  const up = candles(series(60, 0.003, 0.001));
  const down = candles(series(60, -0.003, 0.001));

  it('trend (EMA crossover) votes BUY in an uptrend and SELL in a downtrend', () => {
    const m = new TrendModel();
    expect(m.vote(up).vote).toBe('BUY');
    expect(m.vote(down).vote).toBe('SELL');
    expect(m.vote(up).score).toBeGreaterThan(0.5);
    expect(m.vote(up.slice(0, 5)).vote).toBe('HOLD');
  });

  it('momentum (rate of change) votes BUY on a strong rise and SELL on a strong fall', () => {
    const m = new MomentumModel();
    expect(m.vote(up).vote).toBe('BUY');
    expect(m.vote(down).vote).toBe('SELL');
  });

  it('mean reversion votes BUY far below the mean, SELL far above, HOLD near it', () => {
    const flat = series(40, 0, 0.001, 5);
    const m = new MeanReversionModel();
    expect(m.vote(candles([...flat, flat[39] * 0.97])).vote).toBe('BUY');
    expect(m.vote(candles([...flat, flat[39] * 1.03])).vote).toBe('SELL');
    const mid = flat.slice(-19).reduce((a, b) => a + b, 0) / 19;
    expect(m.vote(candles([...flat, mid])).vote).toBe('HOLD');
  });

  it('breakout (Donchian) votes BUY above the channel, SELL below, HOLD inside', () => {
    const flat = series(30, 0, 0.002, 9);
    const hi = Math.max(...flat) * 1.001;
    const lo = Math.min(...flat) * 0.999;
    const m = new BreakoutModel();
    const b = m.vote(candles([...flat, hi * 1.01]));
    expect(b.vote).toBe('BUY');
    expect(b.score).toBeGreaterThan(0.55);
    expect(m.vote(candles([...flat, lo * 0.99])).vote).toBe('SELL');
    expect(m.vote(candles([...flat, (hi + lo) / 2])).vote).toBe('HOLD');
  });

  it('the online logistic model learns persistent direction and then follows it', () => {
    // A market where each candle tends to repeat the previous candle's direction.
    const r = mulberry32(3);
    const closes = [100];
    let dir = 1;
    for (let i = 1; i < 400; i++) {
      if (r() < 0.1) dir = -dir;
      closes.push(closes[i - 1] * Math.exp(dir * 0.002 + 0.0005 * gaussian(r)));
    }
    const all = candles(closes);
    const m = new OnlineLogisticModel();
    expect(m.vote(all.slice(0, 30)).vote).toBe('HOLD'); // untrained
    for (let k = m.minCandles + 1; k <= all.length; k++) m.learn(all.slice(0, k));
    expect(m.samples).toBeGreaterThan(300);
    expect(m.vote(up).vote).toBe('BUY');
    expect(m.vote(down).vote).toBe('SELL');
  });

  it('the tick-momentum fallback votes with the move of the last raw ticks', () => {
    const ticks = (dir: number): Tick[] => series(12, dir * 0.001, 0.0003, 4).map((price, i) => ({ ts: 1000 + i * 1000, price }));
    expect(tickMomentum(ticks(1)).vote).toBe('BUY');
    expect(tickMomentum(ticks(-1)).vote).toBe('SELL');
    expect(tickMomentum(ticks(1).slice(0, 3)).vote).toBe('HOLD');
  });
});

const stub = (name: string, v: ModelVote): Model => ({ name, minCandles: 0, vote: () => v });

describe('ensemble', () => {
  const rising: Tick[] = series(12, 0.001, 0.0003, 4).map((price, i) => ({ ts: i * 1000, price }));

  it('falls back to tick momentum when there are too few candles, and says why', () => {
    const e = new Ensemble();
    const d = e.decide(candles(series(5, 0, 0.001)), rising, 5000);
    expect(d.fallback).toBe(true);
    expect(d.fallbackReason).toMatch(/warming up: 5 candles < 21/);
    expect(d.side).toBe('BUY');
    expect(d.confidence).toBeGreaterThan(0.55);
    expect(d.votes.tick_momentum.vote).toBe('BUY');
    expect(Object.keys(d.votes)).toEqual(expect.arrayContaining(['trend', 'momentum', 'mean_reversion', 'breakout', 'online_logistic']));
  });

  it('falls back when the models disagree', () => {
    const e = new Ensemble({ models: [stub('a', { vote: 'BUY', score: 0.8 }), stub('b', { vote: 'SELL', score: 0.7 })], minCandles: 0 });
    const d = e.decide([], rising, 5000);
    expect(d.fallback).toBe(true);
    expect(d.fallbackReason).toMatch(/disagree/);
  });

  it('combines agreeing votes into one side with a confidence in 0..1', () => {
    const e = new Ensemble({ models: [stub('a', { vote: 'SELL', score: 0.8 }), stub('b', { vote: 'SELL', score: 0.6 }), stub('c', { vote: 'HOLD', score: 0.1 })], minCandles: 0 });
    const d = e.decide([], rising, 5000);
    expect(d.fallback).toBe(false);
    expect(d.side).toBe('SELL');
    expect(d.confidence).toBeCloseTo(0.5 + (0.5 * 1.4) / 3, 3);
    const weak = new Ensemble({ models: [stub('a', { vote: 'SELL', score: 0.2 }), stub('b', { vote: 'HOLD', score: 0 }), stub('c', { vote: 'HOLD', score: 0 })], minCandles: 0 });
    expect(weak.decide([], rising, 5000).confidence).toBeLessThan(d.confidence);
  });

  it('holds when every model holds', () => {
    const e = new Ensemble({ models: [stub('a', { vote: 'HOLD', score: 0.3 })], minCandles: 0 });
    expect(e.decide([], rising, 5000).side).toBe('HOLD');
  });

  it('candle book closes a candle when a sample starts a new bucket and ignores repeated samples', () => {
    const b = new CandleBook({ candleMs: 1000 });
    expect(b.add('X', 10, 100)).toBeUndefined();
    expect(b.add('X', 12, 500)).toBeUndefined();
    expect(b.add('X', 12, 500)).toBeUndefined();
    const c = b.add('X', 11, 1200);
    expect(c).toMatchObject({ t: 0, o: 10, h: 12, l: 10, c: 12, n: 2 });
    expect(b.ticks('X')).toHaveLength(3);
  });
});

describe('ai_engine stage', () => {
  it('repeats a symbol\'s signal only on a side change, after the repeat period, or when it becomes tradable', () => {
    const last = { side: 'BUY' as const, confidence: 0.6, at: 1000 };
    expect(shouldEmit(undefined, 'BUY', 0.6, 1000, 60000, 0.55)).toBe(true);
    expect(shouldEmit(last, 'BUY', 0.9, 5000, 60000, 0.55)).toBe(false);
    expect(shouldEmit(last, 'SELL', 0.6, 5000, 60000, 0.55)).toBe(true);
    expect(shouldEmit(last, 'BUY', 0.6, 61000, 60000, 0.55)).toBe(true);
    expect(shouldEmit({ ...last, confidence: 0.5 }, 'BUY', 0.6, 5000, 60000, 0.55)).toBe(true);
    expect(shouldEmit({ ...last, confidence: 0.5 }, 'BUY', 0.52, 5000, 60000, 0.55)).toBe(false);
  });

  /** `persisted`: also wait until a closed BTCUSDT candle is stored (the engine persists each candle as it closes). */
  async function runPipeline(env: Record<string, string>, waitMs: number, persisted = false) {
    const prefix = uniquePrefix('ai');
    const config = loadConfig({ env: { REDIS_URL: testRedisUrl(), QT_PREFIX: prefix, QT_LOG_LEVEL: 'silent', ...env } });
    const writer = testRedis();
    const engine = new Engine({ config, writer, log: silentLogger, mode: 'PAPER' });
    await engine.start([createMarketStage({ config }), createAiEngineStage({ config })]);
    try {
      const entries = await waitFor(async () => {
        const r = await writer.xrange(config.names.stream('ai.signal_generated'), '-', '+');
        return r.some(([, f]) => {
          const o: Record<string, string> = {};
          for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1];
          return Number(o.confidence) >= config.trading.minConfidence;
        }) ? r : null;
      }, waitMs, 'a signal at or over min confidence');
      if (persisted) await waitFor(async () => (await writer.llen(config.names.candles('BTCUSDT'))) > 0, waitMs, 'a closed BTCUSDT candle stored');
      return { entries, config, writer };
    } finally {
      await engine.stop();
    }
  }

  it('writes contract-valid signals from a running market feed within the warm-up (scaled clock)', async () => {
    const { entries, config, writer } = await runPipeline({ QT_MARKET_TICK_MS: '100', QT_SIGNAL_INTERVAL_MS: '500' }, 3000, true);
    const ids = new Set<string>();
    for (const [, f] of entries) {
      const o: Record<string, string> = {};
      for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1];
      const d = decode('ai.signal_generated', o);
      expect(d.ok, JSON.stringify(d)).toBe(true);
      if (!d.ok) continue;
      expect(config.symbols).toContain(d.value.symbol);
      expect(d.value.confidence).toBeGreaterThan(0);
      expect(d.value.confidence).toBeLessThanOrEqual(1);
      const models = JSON.parse(d.value.models);
      expect(typeof models.fallback).toBe('boolean');
      expect(models.trend).toHaveProperty('vote');
      expect(models.momentum).toHaveProperty('score');
      ids.add(d.value.signal_id);
    }
    expect(ids.size).toBe(entries.length);
    // closed candles are kept for a restart (waited for above: a signal can come before the first BTCUSDT candle is stored)
    expect(await writer.llen(config.names.candles('BTCUSDT'))).toBeGreaterThan(0);
  });

  // How soon (≤ 15 s on an idle machine) is a speed figure: `npm run bench` (first_signal_s).
  it('with the default clock (tick 1 s, signals every 5 s) a signal at min confidence appears', async () => {
    const { entries } = await runPipeline({}, 90_000);
    expect(entries.length).toBeGreaterThan(0);
  });

  it('continues from the candles kept in Redis after a restart instead of warming up again', async () => {
    const prefix = uniquePrefix('air');
    const config = loadConfig({ env: { REDIS_URL: testRedisUrl(), QT_PREFIX: prefix, QT_LOG_LEVEL: 'silent', QT_SYMBOLS: 'BTCUSDT', QT_MARKET_TICK_MS: '100', QT_SIGNAL_INTERVAL_MS: '300' } });
    const writer = testRedis();
    const candleMs = 500;
    const now = Math.floor(Date.now() / candleMs) * candleMs;
    const closes = series(40, 0.002, 0.0005, 11, 65000);
    await writer.rpush(config.names.candles('BTCUSDT'), ...closes.map((c, i) => JSON.stringify({ t: now - (40 - i) * candleMs, o: c, h: c * 1.0002, l: c * 0.9998, c, n: 5, ms: candleMs })));
    const engine = new Engine({ config, writer, log: silentLogger, mode: 'PAPER' });
    await engine.start([createAiEngineStage({ config })]);
    try {
      let p = closes[39];
      const models = await waitFor(async () => {
        p *= 1.001;
        await writer.hset(config.names.price('BTCUSDT'), { price: String(p), mark: String(p), ts: String(Date.now()), source: 'test' });
        const r = await writer.xrange(config.names.stream('ai.signal_generated'), '-', '+');
        return r.length ? JSON.parse(fieldsFromArray(r[0][1]).models) : null;
      }, 5000, 'a signal after restart');
      expect(models.fallback_reason ?? '').not.toMatch(/warming up/);
      expect(models.trend.why).not.toMatch(/not enough candles/);
      expect(models.trend.vote).toBe('BUY');
    } finally {
      await engine.stop();
    }
  });
});
