/**
 * QT_BINANCE_BASE_URL: the host swap on the wire (ccxt keeps its own URLs, so its error
 * table stays selected by hostname), the configuration check, and LIVE through a
 * non-Binance host needing the same confirmation as LIVE itself.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { checkBinanceConfig } from '../src/engine/exchange/binance/adapter.js';
import { rewriteBaseUrl } from '../src/engine/exchange/binance/ccxt-loader.js';
import { binanceHostOf, isBinanceHost } from '../src/engine/exchange/binance/host.js';
import { UsageError } from '../src/errors.js';

const PHRASE = 'I_UNDERSTAND_THIS_TRADES_REAL_MONEY';
const base = { QT_EXCHANGE: 'binance', BINANCE_API_KEY: 'k', BINANCE_API_SECRET: 's' };

describe('QT_BINANCE_BASE_URL', () => {
  it('replaces the host of fapi URLs only; paths and queries stay', () => {
    expect(rewriteBaseUrl('https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&signature=ab', 'http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080/fapi/v1/order?symbol=BTCUSDT&signature=ab');
    expect(rewriteBaseUrl('https://demo-fapi.binance.com/fapi/v2/positionRisk', 'https://proxy.example')).toBe('https://proxy.example/fapi/v2/positionRisk');
    expect(rewriteBaseUrl('https://api.binance.com/api/v3/time', 'https://proxy.example')).toBe('https://api.binance.com/api/v3/time');
    expect(rewriteBaseUrl('https://fapi.binance.com/fapi/v1/time', undefined)).toBe('https://fapi.binance.com/fapi/v1/time');
  });

  it('names the host: the base URL\'s, else Binance\'s own for the mode', () => {
    expect(binanceHostOf(loadConfig({ env: { ...base } }))).toBe('demo-fapi.binance.com');
    expect(binanceHostOf(loadConfig({ env: { ...base, QT_BINANCE_MODE: 'live' } }))).toBe('fapi.binance.com');
    expect(binanceHostOf(loadConfig({ env: { ...base, QT_BINANCE_BASE_URL: 'http://10.0.0.5:9000' } }))).toBe('10.0.0.5:9000');
    expect(isBinanceHost('fapi.binance.com')).toBe(true);
    expect(isBinanceHost('binance.com.evil.example')).toBe(false);
  });

  it('a URL with a path or another scheme is one clear line naming the variable', () => {
    for (const bad of ['http://x/fapi', 'ftp://x', 'not a url']) {
      const e = (() => { try { loadConfig({ env: { ...base, QT_BINANCE_BASE_URL: bad } }); return null; } catch (x) { return x; } })();
      expect(e).toBeInstanceOf(UsageError);
      // one problem is one line: the message itself
      expect([(e as UsageError).message, ...(e as UsageError).lines].join('\n')).toMatch(/^QT_BINANCE_BASE_URL: expected http\(s\):\/\/host/m);
    }
  });

  it('LIVE through a non-Binance host needs QT_BINANCE_BASE_URL_CONFIRM as well; DEMO does not; a Binance host does not', () => {
    const live = { ...base, QT_BINANCE_MODE: 'live', QT_LIVE_CONFIRM: PHRASE, QT_BINANCE_BASE_URL: 'https://venue.example' };
    expect(() => checkBinanceConfig(loadConfig({ env: live }))).toThrow(/QT_BINANCE_BASE_URL_CONFIRM.*|venue\.example/);
    expect(() => checkBinanceConfig(loadConfig({ env: live }))).toThrow(UsageError);
    expect(checkBinanceConfig(loadConfig({ env: { ...live, QT_BINANCE_BASE_URL_CONFIRM: PHRASE } })).mode).toBe('LIVE');
    expect(checkBinanceConfig(loadConfig({ env: { ...live, QT_BINANCE_BASE_URL: 'https://fapi.binance.com' } })).mode).toBe('LIVE');
    expect(checkBinanceConfig(loadConfig({ env: { ...base, QT_BINANCE_BASE_URL: 'https://venue.example' } })).mode).toBe('DEMO');
  });
});
