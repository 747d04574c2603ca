/**
 * The seam between the market stage and where prices come from: the embedded random
 * walk (gbm.ts) or Binance public market data (exchange/binance/price-source.ts).
 */
export interface PriceQuote { price: number; mark: number; ts: number }
export interface PriceSource { readonly source: string; quotes(symbols: string[], now: number): Promise<Map<string, PriceQuote>>; close?(): Promise<void> }
