/**
 * Symbols typed by hand (QT_SYMBOLS, `qt policy set allowlist=…`) checked against the
 * market rules qt trades by: the shipped Binance USD-M exchangeInfo snapshot, or
 * QT_MARKETS_FILE (src/engine/exchange/markets.ts). An unknown symbol would otherwise
 * pass and every signal for it be rejected later (`symbol_not_allowed`, or the exchange's
 * -1121 "Invalid symbol", https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code).
 */
import { nearest } from './suggest.js';

/**
 * The trading symbols of the market rules, or null when they cannot be read (the engine
 * reports a bad QT_MARKETS_FILE itself when it starts). Loads markets.ts lazily.
 */
export async function knownSymbols(marketsFile?: string): Promise<{ symbols: string[]; source: string } | null> {
  try {
    const { loadMarkets, SNAPSHOT_FILE } = await import('../engine/exchange/markets.js');
    return { symbols: [...loadMarkets(marketsFile).keys()], source: marketsFile ? `QT_MARKETS_FILE ${marketsFile}` : `the market snapshot ${SNAPSHOT_FILE}` };
  } catch {
    return null;
  }
}

/**
 * One problem line per unknown symbol of `list`, naming the nearest known symbol when one
 * is close (edit distance), e.g. `FOOUSDT is not a symbol of … (nearest: SOLUSDT)`.
 * `what` names the setting (`QT_SYMBOLS`, `allowlist`). Empty when all are known.
 */
export function unknownSymbolProblems(what: string, list: string[], known: { symbols: string[]; source: string }): string[] {
  const set = new Set(known.symbols);
  return list.filter((s) => !set.has(s)).map((s) => {
    const near = nearest(s, known.symbols) ?? nearest(s.endsWith('USDT') ? s : `${s}USDT`, known.symbols);
    const hint = near ? `nearest: ${near}` : `known: ${known.symbols.slice(0, 12).join(', ')}${known.symbols.length > 12 ? ', …' : ''}`;
    return `${what}: ${s} is not a symbol of ${known.source} (${hint})`;
  });
}
