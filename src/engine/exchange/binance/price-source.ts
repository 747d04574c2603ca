/**
 * Live prices from Binance USD-M public market data (no key needed): the last price from
 * `ticker/price` and the mark price from `premiumIndex`, one request each for all
 * symbols. `ts` is the exchange's own timestamp (the older of the two), so a feed that
 * stops moving shows as stale and feeds the `price_stale` rejection.
 *
 * Prices come from the demo environment only when the engine also trades there
 * (QT_EXCHANGE=binance with QT_BINANCE_MODE=demo), so fills and prices agree; otherwise
 * from the live public endpoints.
 */
import type { Config } from '../../../config/config.js';
import type { PriceQuote, PriceSource } from '../../market/price-source.js';
import { createClient, type BinanceUsdm } from './ccxt-loader.js';
import { mapBinanceError } from './errors.js';
import { ExchangeLimits } from './limits.js';
import type { Redis } from 'ioredis';

export interface BinancePriceSourceOptions {
  fetchImplementation?: typeof fetch;
  timeoutMs?: number;
  enableRateLimit?: boolean;
  /** The shared limits state (`{prefix}:exchange:limits`), used when the feed talks to the host the engine trades on. */
  redis?: Redis;
}

type Row = { symbol?: string; price?: string; markPrice?: string; time?: number | string };
type PublicApi = { fapiPublicGetTickerPrice(p?: object): Promise<unknown>; fapiPublicGetPremiumIndex(p?: object): Promise<unknown> };

const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN);

/** Joins ticker/price and premiumIndex rows into quotes for the wanted symbols. */
export function joinQuotes(symbols: string[], tickers: unknown, marks: unknown): Map<string, PriceQuote> {
  const byT = new Map<string, Row>();
  const byM = new Map<string, Row>();
  for (const r of (Array.isArray(tickers) ? tickers : [tickers]) as Row[]) if (r?.symbol) byT.set(r.symbol, r);
  for (const r of (Array.isArray(marks) ? marks : [marks]) as Row[]) if (r?.symbol) byM.set(r.symbol, r);
  const out = new Map<string, PriceQuote>();
  for (const s of symbols) {
    const t = byT.get(s);
    const m = byM.get(s);
    const price = num(t?.price);
    const mark = num(m?.markPrice);
    if (!(price > 0) && !(mark > 0)) continue;
    const times = [num(t?.time), num(m?.time)].filter((x) => x > 0);
    if (times.length === 0) continue; // no exchange timestamp: cannot judge staleness
    out.set(s, { price: price > 0 ? price : mark, mark: mark > 0 ? mark : price, ts: Math.min(...times) });
  }
  return out;
}

export async function createBinancePriceSource(config: Config, opts: BinancePriceSourceOptions = {}): Promise<PriceSource> {
  const demo = config.exchange === 'binance' && config.binanceMode === 'demo';
  // Trading on Binance: the feed talks to the same host (QT_BINANCE_BASE_URL too) and obeys the same per-IP limits.
  const sameHost = config.exchange === 'binance';
  const client: BinanceUsdm = await createClient({
    demo,
    baseUrl: sameHost ? config.binanceBaseUrl : undefined,
    limits: new ExchangeLimits(sameHost ? { redis: opts.redis, key: config.names.exchangeLimits() } : {}),
    timeoutMs: opts.timeoutMs ?? 5_000,
    enableRateLimit: opts.enableRateLimit,
    fetchImplementation: opts.fetchImplementation,
  });
  const api = client as unknown as PublicApi;
  return {
    source: demo ? 'binance-demo' : 'binance',
    async quotes(symbols: string[]): Promise<Map<string, PriceQuote>> {
      if (symbols.length === 0) return new Map();
      try {
        const one = symbols.length === 1 ? { symbol: symbols[0] } : {};
        const [tickers, marks] = await Promise.all([api.fapiPublicGetTickerPrice(one), api.fapiPublicGetPremiumIndex(one)]);
        return joinQuotes(symbols, tickers, marks);
      } catch (e) {
        throw mapBinanceError(e, { op: 'prices' });
      }
    },
    async close(): Promise<void> {
      /* REST only: nothing to close */
    },
  };
}
