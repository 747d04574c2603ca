/**
 * Which fapi host the engine talks to (QT_BINANCE_BASE_URL, else Binance's own for the
 * mode). Light on purpose: the engine's heartbeats and the daemon's banner name the host
 * without loading the adapter or ccxt.
 */
import type { Config } from '../../../config/config.js';

/** The fapi host (`host[:port]`): QT_BINANCE_BASE_URL's, else `fapi.binance.com` (LIVE) / `demo-fapi.binance.com` (DEMO). */
export function binanceHostOf(config: Pick<Config, 'binanceBaseUrl' | 'binanceMode'>): string {
  if (config.binanceBaseUrl) return new URL(config.binanceBaseUrl).host;
  return config.binanceMode === 'live' ? 'fapi.binance.com' : 'demo-fapi.binance.com';
}

/** True for Binance's own hosts (`*.binance.com`). */
export function isBinanceHost(host: string): boolean {
  return /(^|\.)binance\.com(:\d+)?$/i.test(host);
}
