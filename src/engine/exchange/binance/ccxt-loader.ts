/**
 * Loads ccxt's `binanceusdm` class on demand. Only its class file is imported (about
 * 90 ms instead of about 300 ms for all of ccxt), so `qt --help` and `qt health`, which
 * never reach this module, never pay for ccxt at all.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { binanceusdm } from 'ccxt';
import { ExchangeError } from '../types.js';
import type { ExchangeLimits } from './limits.js';

export type BinanceUsdm = binanceusdm;
type BinanceUsdmClass = new (config?: Record<string, unknown>) => binanceusdm;

let cached: Promise<BinanceUsdmClass> | undefined;

export function loadBinanceUsdm(): Promise<BinanceUsdmClass> {
  cached ??= (async () => {
    try {
      // ccxt's package exports only its entry; resolve the package root through it.
      const entry = createRequire(import.meta.url).resolve('ccxt');
      const file = join(dirname(dirname(entry)), 'js', 'src', 'binanceusdm.js');
      const mod = (await import(pathToFileURL(file).href)) as { default: BinanceUsdmClass };
      if (typeof mod.default === 'function') return mod.default;
    } catch {
      /* fall back to the whole package below */
    }
    const all = (await import('ccxt')) as unknown as { binanceusdm: BinanceUsdmClass };
    return all.binanceusdm;
  })();
  return cached;
}

export interface ClientOptions {
  apiKey?: string;
  secret?: string;
  demo: boolean;
  timeoutMs?: number;
  enableRateLimit?: boolean;
  fetchImplementation?: typeof fetch;
  /** The shared rate-limit state: requests wait out a ban / Retry-After, every reply's headers are read. */
  limits?: ExchangeLimits;
  /**
   * QT_BINANCE_BASE_URL: replaces the host of every fapi request (paths stay /fapi/v1/…).
   * ccxt keeps its own URLs (it picks its USD-M error table by hostname); the rewrite
   * happens on the wire, in the fetch it is given.
   */
  baseUrl?: string;
}

/** `https://fapi.binance.com/fapi/v1/order?…` → `{base}/fapi/v1/order?…`; other URLs unchanged. */
export function rewriteBaseUrl(url: string, base: string | undefined): string {
  if (!base) return url;
  const m = /^https?:\/\/[^/]+(\/fapi\/.*)$/.exec(url);
  return m ? base.replace(/\/+$/, '') + m[1] : url;
}

/** A configured binanceusdm client: demo trading via `enableDemoTrading` (never sandbox mode). */
export async function createClient(o: ClientOptions): Promise<BinanceUsdm> {
  const Cls = await loadBinanceUsdm();
  const ex = new Cls({
    apiKey: o.apiKey,
    secret: o.secret,
    enableRateLimit: o.enableRateLimit ?? true,
    timeout: o.timeoutMs ?? 10_000,
    options: {
      // No sapi calls: currencies come from the markets.
      fetchCurrencies: false,
      defaultType: 'swap',
      defaultSubType: 'linear',
      adjustForTimeDifference: false,
    },
  });
  installHooks(ex, o);
  if (o.demo) ex.enableDemoTrading(true);
  return ex;
}

type Hooked = {
  fetchImplementation: typeof fetch;
  onRestResponse(status: number, statusText: string, url: string, method: string, headers: Record<string, unknown>, body: string, ...rest: unknown[]): string;
};

/**
 * ccxt's transport, seen from both ends. Before a request: the shared limits (a 418 ban
 * or a 429 Retry-After stops it here, as a retryable rate_limited error that was never
 * sent), then the base URL. After a reply: its weight / Retry-After headers are recorded,
 * and a 5xx becomes an error that keeps its HTTP status (ccxt would raise OperationFailed
 * for `500 {"code":-1006}` and lose the status; Binance: a 5xx means the outcome is unknown).
 */
function installHooks(ex: BinanceUsdm, o: ClientOptions): void {
  const h = ex as unknown as Hooked;
  const base: typeof fetch = o.fetchImplementation ?? ((input, init) => fetch(input, init));
  h.fetchImplementation = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const hold = await o.limits?.hold();
    if (hold) {
      throw new ExchangeError(`binance: request not sent: ${hold.reason}`, 'rate_limited', hold.kind === 'ban' ? 418 : 429, {
        retryable: true, until: hold.until, fix: 'wait: qt resumes by itself when the exchange allows it',
      });
    }
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    return base(rewriteBaseUrl(url, o.baseUrl), init);
  }) as typeof fetch;
  const orig = h.onRestResponse.bind(ex);
  h.onRestResponse = (status, statusText, url, method, headers, body, ...rest) => {
    o.limits?.observe(status, headers, body);
    if (status >= 500) {
      const e = new Error(`binanceusdm ${method} ${status} ${statusText || 'Server Error'} ${String(body ?? '').slice(0, 500)}`);
      e.name = 'ExchangeNotAvailable';
      throw e;
    }
    return orig(status, statusText, url, method, headers, body, ...rest);
  };
}
