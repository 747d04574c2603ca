/**
 * The test Binance server's leverage-bracket answers, kept out of fake-binance.ts: it serves
 * the brackets the paper exchange uses (the shipped snapshot, data/ — see docs/markets.md),
 * shaped as `GET /fapi/v1/leverageBracket` answers them (Binance USD-M docs: an array of
 * `{symbol, notionalCoef, brackets}`; a single object when `symbol` is given), and the
 * `maxNotionalValue` that `POST /fapi/v1/leverage` returns. The order rules themselves are
 * src/engine/exchange/order-rules.ts (through paper-fill.ts's decideFill).
 */
import { notionalCapAt } from '../../src/engine/exchange/leverage-brackets.js';
import type { MarketRules } from '../../src/engine/exchange/types.js';

type Reply = { status: number; body: unknown };

/** The leverageBracket reply for every symbol, or one (`-1121` when unknown). */
export function leverageBracketBody(rules: Map<string, MarketRules>, symbol?: string): Reply {
  const row = (r: MarketRules) => ({ symbol: r.symbol, notionalCoef: 1, brackets: r.brackets ?? [] });
  if (symbol) {
    const r = rules.get(symbol);
    return r ? { status: 200, body: row(r) } : { status: 400, body: { code: -1121, msg: 'Invalid symbol.' } };
  }
  return { status: 200, body: [...rules.values()].map(row) };
}

/** POST /fapi/v1/leverage's `maxNotionalValue`: the cap at that leverage, as a string. */
export function maxNotionalValue(r: MarketRules, leverage: number): string {
  const cap = notionalCapAt(r.brackets, leverage);
  return Number.isFinite(cap) ? String(cap) : 'INF';
}
