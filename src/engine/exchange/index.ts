/**
 * Creates the configured exchange. The Binance adapter (and ccxt with it) is imported
 * only when it is used, so the paper exchange and the CLI never load it.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../../config/config.js';
import type { Logger } from '../../log.js';
import { PaperExchange } from './paper.js';
import type { Exchange } from './types.js';

export { PaperExchange } from './paper.js';
export { loadMarkets } from './markets.js';
export * from './types.js';

/**
 * @param o.now the paper exchange's clock (epoch ms; a replay passes its replay clock)
 */
export async function createExchange(config: Config, redis: Redis, log: Logger, o: { now?: () => number } = {}): Promise<Exchange> {
  if (config.exchange === 'paper') {
    return new PaperExchange({
      now: o.now,
      redis,
      names: config.names,
      marketsFile: config.paper.marketsFile,
      balance: config.paper.balance,
      slippageBps: config.paper.slippageBps,
      takerFee: config.paper.takerFee,
      streamMaxLen: config.runtime.streamMaxLen,
      log: log.child({ exchange: 'paper' }),
    });
  }
  // A variable path: tsc does not need the adapter to exist, and ccxt loads only here.
  const adapterPath = './binance/adapter.js';
  const mod = (await import(adapterPath)) as { createBinanceExchange(config: Config, log: Logger, o: { redis: Redis }): Promise<Exchange> };
  return mod.createBinanceExchange(config, log, { redis });
}
