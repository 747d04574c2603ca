/**
 * Every check `qt up` makes before it connects, in one place, so `qt config show` refuses
 * exactly what `qt up` would refuse: symbols (QT_SYMBOLS, QT_REPLAY_SYMBOL) of the market
 * rules, live trading's confirmation, and the replay files (readable, one symbol each).
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
 * Runs every check `qt up` runs before it connects to Redis or the exchange.
 * @throws UsageError (exit 2) listing every problem, the first one on the first line.
 */
export async function checkBeforeConnect(config: Config, flagOf: Record<string, string> = {}): Promise<void> {
  const problems = await symbolProblems(config, flagOf);
  if (config.exchange === 'binance' && config.binanceMode === 'live' && !config.liveConfirmed) {
    problems.push(`QT_LIVE_CONFIRM: live trading needs both --live and QT_LIVE_CONFIRM=${LIVE_CONFIRM_PHRASE}`);
  }
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
