/**
 * Every check `qt up` makes before it connects, in one place, so `qt config show` refuses
 * exactly what `qt up` would refuse: symbols (QT_SYMBOLS, QT_REPLAY_SYMBOL) of the market
 * rules, the Binance exchange's switches and credentials, and the replay files (readable,
 * one symbol each).
 */
import type { Config } from './config.js';
import { configError, UsageError } from '../errors.js';
import { LIVE_CONFIRM_PHRASE } from './config.js';

/**
 * The symbol problems of a configuration: QT_SYMBOLS (when set) and QT_REPLAY_SYMBOL must
 * name symbols of the market rules (the shipped snapshot or QT_MARKETS_FILE; on Binance
 * without QT_MARKETS_FILE the live exchangeInfo decides at start, the snapshot holds only
 * a few symbols). `flagOf` maps a variable to the flag that set it, to name that instead.
 */
export async function symbolProblems(config: Config, flagOf: Record<string, string> = {}): Promise<string[]> {
  if (config.exchange !== 'paper' && !config.paper.marketsFile) return [];
  const lists: [string, string[]][] = [];
  if (config.sources.QT_SYMBOLS !== 'default') lists.push([flagOf.QT_SYMBOLS ?? 'QT_SYMBOLS', config.symbols]);
  if (config.replay.symbols?.length) lists.push([flagOf.QT_REPLAY_SYMBOL ?? 'QT_REPLAY_SYMBOL', config.replay.symbols]);
  if (!lists.length) return [];
  const { knownSymbols, unknownSymbolProblems } = await import('./symbols.js');
  const known = await knownSymbols(config.paper.marketsFile);
  return known ? lists.flatMap(([what, l]) => unknownSymbolProblems(what, l, known)) : [];
}

/**
 * The Binance adapter's own refusals (checkBinanceConfig in
 * src/engine/exchange/binance/adapter.ts, which stays as the last guard), found before
 * connecting: live trading's confirmation, a non-Binance host for live trading, the API
 * key and secret. Imports only the host rules (no ccxt).
 */
async function binanceProblems(config: Config): Promise<string[]> {
  const problems: string[] = [];
  const live = config.binanceMode === 'live';
  if (live && !config.liveConfirmed) problems.push(`QT_LIVE_CONFIRM: live trading needs both --live and QT_LIVE_CONFIRM=${LIVE_CONFIRM_PHRASE}`);
  const { binanceHostOf, isBinanceHost } = await import('../engine/exchange/binance/host.js');
  const host = binanceHostOf(config);
  if (live && !isBinanceHost(host) && !config.baseUrlConfirmed) {
    problems.push(`QT_BINANCE_BASE_URL: live trading through ${host}, which is not a Binance host, needs QT_BINANCE_BASE_URL_CONFIRM=${LIVE_CONFIRM_PHRASE} as well`);
  }
  if (!config.binance.apiKey) problems.push('BINANCE_API_KEY: not set (nor BINANCE_API_KEY_FILE); the binance exchange needs an API key');
  if (!config.binance.apiSecret) problems.push('BINANCE_API_SECRET: not set (nor BINANCE_API_SECRET_FILE); the binance exchange needs an API secret');
  return problems;
}

/**
 * Runs every check `qt up` runs before it connects to Redis or the exchange.
 * @throws UsageError (exit 2) listing every problem, the first one on the first line.
 */
export async function checkBeforeConnect(config: Config, flagOf: Record<string, string> = {}): Promise<void> {
  const problems = await symbolProblems(config, flagOf);
  if (config.exchange === 'binance') problems.push(...(await binanceProblems(config)));
  if (config.market === 'replay' && config.replay.files.length) {
    const { createReplaySource } = await import('../engine/market/replay.js');
    try {
      createReplaySource({ ...config.replay, tickMs: config.market_.tickMs });
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      problems.push(e.message);
    }
  }
  if (problems.length) throw configError(problems);
}
