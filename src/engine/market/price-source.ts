/**
 * The seam between the market stage and where prices come from: the embedded random
 * walk (gbm.ts) or Binance public market data (exchange/binance/price-source.ts).
 */
/**
 * One quote: last and mark price (quote asset, USDT), `ts` the time it was taken (epoch ms, the
 * wall clock), and for a replay `marketTs`, the recorded market time it replays (epoch ms).
 */
export interface PriceQuote { price: number; mark: number; ts: number; marketTs?: number }
export interface PriceSource { readonly source: string; quotes(symbols: string[], now: number): Promise<Map<string, PriceQuote>>; close?(): Promise<void> }
