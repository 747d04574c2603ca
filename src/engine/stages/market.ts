/**
 * market: the price feed. Every tick it asks its PriceSource for a quote per symbol and
 * writes the `price` hashes (`price`, `mark`, `ts`, `source`). The default source is the
 * embedded seeded random walk; `QT_MARKET=binance` uses Binance public market data
 * (loaded lazily). On restart the walk continues from the last written prices. In a replay
 * (QT_MARKET=replay) it does not tick on its timer: the replay's conductor ticks it once per
 * price point, on the replay clock (replay-lockstep.ts).
 *
 * With the paper exchange (QT_EXCHANGE=paper), the feed is also where the paper exchange's
 * resting stop orders fire (issue 18; paper-algo.ts): every tick first triggers the orders the
 * marks written so far have crossed, so `qt up --stages market` alone closes a position whose
 * stop is crossed while every trading stage is down (one tick, QT_MARKET_TICK_MS, after the mark
 * crossed it), the fill announced on `execution.result`.
 */
import type { Config } from '../../config/config.js';
import { formatNumber } from '../../contract/fields.js';
import { toNum } from '../../contract/state.js';
import { errorMessage, UsageError } from '../../errors.js';
import { GbmPriceSource } from '../market/gbm.js';
import type { PriceSource } from '../market/price-source.js';
import type { Rejection, StageContext, StateWrite, TickerStage, TickResult } from '../runtime/types.js';

export interface MarketStageOptions {
  config: Config;
  /** Injected source (tests); otherwise chosen by `config.market`. */
  source?: PriceSource;
  /** Fires the paper exchange's resting orders (default: a PaperExchange on the stage's Redis when QT_EXCHANGE=paper). */
  triggers?: { triggerConditionalOrders(): Promise<{ order: { symbol: string; side: string; stopPrice: number; clientAlgoId: string; status: string }; ack: { avgPrice: number; filledQty: number } | null; mark: number }[]> } | null;
}

/** Held in a variable so the type checker does not need the module. */
const BINANCE_SOURCE_MODULE = '../exchange/binance/price-source.js';

export async function createPriceSource(config: Config, redis?: StageContext['redis']): Promise<PriceSource> {
  if (config.market === 'binance') {
    let mod: { createBinancePriceSource(c: Config, o?: { redis?: StageContext['redis'] }): Promise<PriceSource> };
    try {
      mod = (await import(BINANCE_SOURCE_MODULE)) as typeof mod;
    } catch (e) {
      throw new UsageError(`QT_MARKET=binance: the Binance price source cannot be loaded (${errorMessage(e)})`);
    }
    return mod.createBinancePriceSource(config, { redis });
  }
  if (config.market === 'replay') {
    const { createReplaySource } = await import('../market/replay.js');
    return createReplaySource({ ...config.replay, tickMs: config.market_.tickMs });
  }
  return new GbmPriceSource({ seed: config.market_.seed });
}

/** A source that can run out (a replay): once finished, the feed writes nothing and rejects nothing. */
function isFinished(s: PriceSource): boolean {
  return (s as { progress?: () => { finished: boolean } }).progress?.().finished === true;
}

function isResumable(s: PriceSource): s is PriceSource & { resume(last: Map<string, number>): void } {
  return typeof (s as { resume?: unknown }).resume === 'function';
}

export function createMarketStage(o: MarketStageOptions): TickerStage {
  const { config } = o;
  const symbols = config.symbols;
  let source = o.source;
  let triggers = o.triggers;

  return {
    name: 'market',
    everyMs: config.market_.tickMs,

    async start(ctx: StageContext): Promise<void> {
      source ??= await createPriceSource(config, ctx.redis);
      if (triggers === undefined && config.exchange === 'paper') {
        const { PaperExchange } = await import('../exchange/paper.js');
        triggers = new PaperExchange({
          redis: ctx.redis, names: ctx.names, marketsFile: config.paper.marketsFile, balance: config.paper.balance,
          slippageBps: config.paper.slippageBps, takerFee: config.paper.takerFee, streamMaxLen: config.runtime.streamMaxLen, now: () => ctx.now(),
        });
      }
      if (isResumable(source)) {
        const p = ctx.redis.pipeline();
        for (const s of symbols) p.hget(ctx.names.price(s), 'price');
        const res = (await p.exec()) ?? [];
        const last = new Map<string, number>();
        res.forEach(([err, v], i) => {
          const n = err ? NaN : toNum(v as string | null);
          if (n > 0) last.set(symbols[i], n);
        });
        source.resume(last);
        if (last.size) ctx.log.info('market continues from the last written prices', { symbols: last.size });
      }
      ctx.log.info('market feed', { source: source.source, symbols: symbols.length, tick_ms: config.market_.tickMs });
      const p = (source as { progress?: () => { from: number; to: number; points: number; speed: number; effectiveSpeed: number } }).progress?.();
      if (p) {
        ctx.log.info(`replay ${new Date(p.from).toISOString()} → ${new Date(p.to).toISOString()}: ${p.points} price points at ×${p.speed}${p.effectiveSpeed < p.speed ? ` (played at ×${Math.round(p.effectiveSpeed)}: one point per tick)` : ''}`);
      }
    },

    async tick(ctx: StageContext): Promise<TickResult> {
      const now = ctx.now();
      if (triggers) {
        // The paper exchange's resting stops, on the marks written so far (a failure is retried next tick).
        try {
          for (const t of await triggers.triggerConditionalOrders()) {
            ctx.log.info(t.ack ? 'paper stop triggered: position closed' : 'paper stop triggered with no position to close: expired', {
              symbol: t.order.symbol, side: t.order.side, stop: t.order.stopPrice, mark: t.mark, client_algo_id: t.order.clientAlgoId,
              ...(t.ack ? { qty: t.ack.filledQty, price: t.ack.avgPrice } : {}),
            });
          }
        } catch (e) {
          ctx.log.warn('paper stops: trigger pass failed; tried again next tick', { error: errorMessage(e) });
        }
      }
      const quotes = await source!.quotes(symbols, now);
      const rp = (source as { progress?: () => { at: number; points: number; pointsDone: number; finished: boolean; effectiveSpeed: number } }).progress?.();
      if (rp) {
        const pct = rp.points ? Math.floor((100 * rp.pointsDone) / rp.points) : 100;
        ctx.setStatus('running', `replay ×${Math.round(rp.effectiveSpeed)} at ${new Date(rp.at).toISOString().slice(0, 16)}Z (${pct}%${rp.finished ? ', finished' : ''})`);
      }
      if (quotes.size === 0 && isFinished(source!)) return { state: [], rejections: [], in: 0, out: 0 };
      const state: StateWrite[] = [];
      const rejections: Rejection[] = [];
      for (const sym of symbols) {
        const q = quotes.get(sym);
        if (!q || !(q.price > 0) || !Number.isFinite(q.price)) {
          rejections.push({ reason: 'price_unavailable', symbol: sym, detail: `${source!.source} returned no valid price for ${sym}${q ? ` (got ${q.price})` : ''}` });
          continue;
        }
        const mark = q.mark > 0 && Number.isFinite(q.mark) ? q.mark : q.price;
        const key = ctx.names.price(sym);
        const fields: Record<string, string> = { price: formatNumber(q.price), mark: formatNumber(mark), ts: String(Math.trunc(q.ts || now)), source: source!.source };
        if (q.marketTs !== undefined) fields.market_ts = String(Math.trunc(q.marketTs));
        state.push((tx) => void tx.hset(key, fields));
      }
      return { state, rejections, in: symbols.length, out: state.length };
    },

    async stop(): Promise<void> {
      await source?.close?.();
    },
  };
}
