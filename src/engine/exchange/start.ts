/**
 * Starting the exchange (Binance: markets and leverage brackets) at engine start. A network
 * blip or a Binance 5xx / rate limit at that moment must not end the daemon: it waits,
 * logging each try with the next delay, until the exchange answers or the operator stops
 * it. A refusal that waiting cannot fix (bad credentials, a bad symbol list) ends the start
 * at once with the exchange's reason and fix.
 */
import type { Logger } from '../../log.js';
import { ExchangeError, type Exchange } from './types.js';

/** Delays between tries, ms; the last one repeats. */
export const START_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000];

/** True once started; false when `signal` aborted the wait. Throws what retrying cannot fix. */
export async function startExchange(
  exchange: Pick<Exchange, 'name' | 'start'>, log: Logger,
  o: { signal?: AbortSignal; delaysMs?: number[] } = {},
): Promise<boolean> {
  const delays = o.delaysMs ?? START_DELAYS_MS;
  for (let attempt = 0; ; attempt++) {
    if (o.signal?.aborted) return false;
    try {
      await exchange.start();
      if (attempt > 0) log.info(`${exchange.name} answered after ${attempt + 1} tries; starting the stages`);
      return true;
    } catch (e) {
      if (!(e instanceof ExchangeError) || !e.retryable) throw e;
      // A ban or Retry-After says how long to wait: no try before it ends (Binance General Info, "Limits").
      const wait = Math.max(delays[Math.min(attempt, delays.length - 1)]!, (e.opts.until ?? 0) - Date.now());
      log.warn(`cannot start the ${exchange.name} exchange (${e.reason}: ${e.message.split('\n')[0]}); trying again in ${Math.round(wait / 100) / 10} s; the stages start once it answers`);
      if (!(await pause(wait, o.signal))) return false;
    }
  }
}

/** Waits `ms`; false when `signal` aborts first. */
function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
