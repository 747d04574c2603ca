/**
 * ai_engine: samples the price keys every market tick (one pipelined round trip),
 * builds short candles per symbol, and every `signalIntervalMs` asks the ensemble for a
 * decision per symbol; a BUY or SELL becomes an `ai.signal_generated` message. Closed
 * candles are kept under `candles:{SYMBOL}` so a restart does not have to warm up again.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config/config.js';
import type { Signal } from '../../contract/messages.js';
import { toNum } from '../../contract/state.js';
import { CandleBook, type Candle } from '../market/candles.js';
import { Ensemble, modelsJson } from '../market/ensemble.js';
import { out, type Output, type StageContext, type StateWrite, type TickerStage, type TickResult } from '../runtime/types.js';

export interface AiEngineOptions {
  config: Config;
  ensemble?: Ensemble;
  /** Candle length (default: market tick × 5). */
  candleMs?: number;
  /** Closed candles kept per symbol. */
  keep?: number;
  /** Continue from the candles kept in Redis at start (default true; a replay starts from its data alone). */
  restore?: boolean;
  /** Makes a signal id (default `sig-{uuid}`; a replay's seeded ids). */
  newSignalId?: () => string;
}

export interface LastSignal {
  side: 'BUY' | 'SELL';
  confidence: number;
  at: number;
}

/**
 * A symbol's signal is repeated only when its side changes or `repeatMs` (the trader's
 * cooldown) passed, or the last one was under the minimum confidence and this one is not: a steady view is one signal, not one every evaluation, so the
 * trader does not have to reject the repeats.
 */
export function shouldEmit(last: LastSignal | undefined, side: 'BUY' | 'SELL', confidence: number, now: number, repeatMs: number, minConfidence: number): boolean {
  if (!last || last.side !== side) return true;
  // a signal too weak to trade does not hold back a tradable one
  if (last.confidence < minConfidence && confidence >= minConfidence) return true;
  return now - last.at >= repeatMs;
}

export function createAiEngineStage(o: AiEngineOptions): TickerStage {
  const { config } = o;
  const symbols = config.symbols;
  const sampleMs = Math.min(config.market_.tickMs, config.trading.signalIntervalMs);
  const candleMs = o.candleMs ?? config.market_.tickMs * 5;
  const keep = o.keep ?? 200;
  const book = new CandleBook({ candleMs, keep });
  const ensemble = o.ensemble ?? new Ensemble();
  let lastEval = 0;
  const lastSignal = new Map<string, LastSignal>();
  const newSignalId = o.newSignalId ?? (() => `sig-${randomUUID()}`);
  const repeatMs = Math.max(config.trading.cooldownMs, config.trading.signalIntervalMs);

  const persist = (ctx: StageContext, sym: string, c: Candle): StateWrite => {
    const key = ctx.names.candles(sym);
    const json = JSON.stringify({ ...c, ms: candleMs });
    return (tx) => {
      tx.rpush(key, json);
      tx.ltrim(key, -keep, -1);
    };
  };

  return {
    name: 'ai_engine',
    everyMs: sampleMs,

    async start(ctx: StageContext): Promise<void> {
      if (o.restore === false) {
        lastEval = ctx.now();
        ctx.log.info('ai_engine models', { models: ensemble.models.map((m) => m.name).join(','), candle_ms: candleMs, every_ms: config.trading.signalIntervalMs, restored: false });
        return;
      }
      const p = ctx.redis.pipeline();
      for (const s of symbols) p.lrange(ctx.names.candles(s), -keep, -1);
      const res = (await p.exec()) ?? [];
      const now = ctx.now();
      let restored = 0;
      res.forEach(([err, v], i) => {
        if (err || !Array.isArray(v)) return;
        const cs: Candle[] = [];
        for (const raw of v as string[]) {
          try {
            const c = JSON.parse(raw) as Candle & { ms?: number };
            if (c.ms === candleMs) cs.push(c);
          } catch {
            /* not ours: ignored */
          }
        }
        // Only a recent history continues; an old one would fake a jump across the gap.
        if (!cs.length || now - cs[cs.length - 1].t > candleMs * 10) return;
        book.restore(symbols[i], cs);
        const closed = book.closed(symbols[i]);
        for (let k = ensemble.minCandles + 1; k <= closed.length; k++) ensemble.learn(closed.slice(0, k));
        restored++;
      });
      if (restored) ctx.log.info('ai_engine restored candles', { symbols: restored });
      lastEval = now;
      ctx.log.info('ai_engine models', { models: ensemble.models.map((m) => m.name).join(','), candle_ms: candleMs, every_ms: config.trading.signalIntervalMs });
    },

    async tick(ctx: StageContext): Promise<TickResult> {
      const p = ctx.redis.pipeline();
      for (const s of symbols) p.hgetall(ctx.names.price(s));
      const res = (await p.exec()) ?? [];
      const now = ctx.now();
      const state: StateWrite[] = [];
      const latest = new Map<string, { price: number; ts: number }>();
      res.forEach(([err, h], i) => {
        if (err || !h) return;
        const hash = h as Record<string, string>;
        const price = toNum(hash.price);
        const ts = toNum(hash.ts);
        if (!(price > 0) || !(ts > 0)) return;
        latest.set(symbols[i], { price, ts });
        const closed = book.add(symbols[i], price, ts);
        if (closed) {
          state.push(persist(ctx, symbols[i], closed));
          ensemble.learn(book.closed(symbols[i]));
        }
      });

      const outputs: Output[] = [];
      if (now - lastEval >= config.trading.signalIntervalMs) {
        lastEval = now;
        // A price older than a few sample periods is not a market to decide on.
        const maxAge = Math.max(sampleMs * 5, 5000);
        for (const sym of symbols) {
          const l = latest.get(sym);
          if (!l || now - l.ts > maxAge) continue;
          const d = ensemble.decide(book.closed(sym), book.ticks(sym), candleMs);
          if (d.side === 'HOLD' || !(d.confidence > 0)) continue;
          if (!shouldEmit(lastSignal.get(sym), d.side, d.confidence, now, repeatMs, config.trading.minConfidence)) continue;
          lastSignal.set(sym, { side: d.side, confidence: d.confidence, at: now });
          const msg: Signal = {
            signal_id: newSignalId(),
            ts: now,
            symbol: sym,
            side: d.side,
            confidence: d.confidence,
            price: l.price,
            models: modelsJson(d),
            model_version: d.modelVersion,
          };
          outputs.push(out('ai.signal_generated', msg));
        }
      }
      // in/out count signals: each decision that left as a signal (HOLDs are not input).
      return { state, outputs, in: outputs.length, out: outputs.length };
    },
  };
}
