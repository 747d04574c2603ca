/**
 * Binance USD-M failures (as ccxt raises them) → the contract's reason codes.
 *
 * Pure: the input is anything ccxt threw (its error classes carry `name`, and the message
 * holds Binance's JSON body `{"code":-4164,"msg":"…"}` or the HTTP status). The raw
 * Binance code is kept in `ExchangeError.code`. Messages are built here, never copied
 * from ccxt (its messages hold request URLs with signatures): only Binance's own `msg`
 * text goes through, scrubbed of registered secrets.
 */
import type { ReasonCode } from '../../../contract/codes.js';
import { scrub } from '../../../config/redact.js';
import { ExchangeError } from '../types.js';

export const AUTH_FIX = 'check the API key / IP whitelist / key permissions';

/** Binance code → reason code. Anything not listed is `exchange_rejected`. */
export const BINANCE_CODE_REASONS: Readonly<Record<number, ReasonCode>> = {
  [-4164]: 'below_min_notional',
  [-1111]: 'precision_invalid',
  [-1013]: 'below_min_qty',
  [-2019]: 'insufficient_margin',
  [-2022]: 'exchange_rejected',
  [-4116]: 'duplicate',
  // "The client algo id is duplicated" (Binance's algo error range; ccxt's table): a clientAlgoId resent while its order rests
  [-20132]: 'duplicate',
  [-1121]: 'symbol_not_allowed',
  [-4028]: 'leverage_exceeds_max',
  // Binance's order rules (order-rules.ts REASON_OF_CODE; BINANCE-USDM-RULES.md)
  [-4003]: 'invalid_quantity',
  [-4004]: 'below_min_qty',
  [-4005]: 'invalid_quantity',
  [-4023]: 'precision_invalid',
  [-4131]: 'price_band',
  [-4016]: 'price_band',
  [-4024]: 'price_band',
  [-2027]: 'leverage_bracket',
};

/** Binance codes that mean the credentials were refused. */
export const AUTH_CODES: readonly number[] = [-2015, -2014, -2008, -1022];
/** Binance's "too many requests" codes (usually with HTTP 429/418). */
export const RATE_CODES: readonly number[] = [-1003, -1015];
/** Order lookups answer this when the order never reached the exchange (or is not visible yet: ccxt#1786). */
export const ORDER_NOT_FOUND = -2013;
/**
 * The outcome is unknown: the order may exist (Binance error codes: -1006 "An unexpected
 * response was received from the message bus. Execution status unknown.", -1007 "Timeout
 * waiting for response from backend server. Send status unknown; execution status
 * unknown."). ccxt raises OperationFailed / RequestTimeout for them. Any HTTP 5xx too.
 */
export const UNKNOWN_OUTCOME_CODES: readonly number[] = [-1006, -1007];
/** -1008 "Server is currently overloaded with other requests. Please try again in a few minutes.": not executed, retryable. */
export const SERVER_BUSY = -1008;
/** -1021 "Timestamp for this request is outside of the recvWindow": the clock offset must be measured again. */
export const TIMESTAMP_OUTSIDE_RECV_WINDOW = -1021;
/**
 * Cancel answers: -2011 "Unknown order sent." (also a conditional order that already
 * triggered: freqtrade#12681, ccxt#27486) and -20124 "Invalid algo id or it has been
 * completed." mean the order is not open (any more): its final state is looked up.
 */
export const CANCEL_UNKNOWN_CODES: readonly number[] = [-2011, -2013, -20124];
/** -2022 "ReduceOnly Order is rejected": the exchange has nothing to reduce in that direction (news about its state). */
export const REDUCE_ONLY_REJECTED = -2022;

const AUTH_NAMES = ['AuthenticationError', 'PermissionDenied', 'AccountNotEnabled', 'AccountSuspended'];
const RATE_NAMES = ['DDoSProtection', 'RateLimitExceeded'];
const TIMEOUT_NAMES = ['RequestTimeout'];
const NETWORK_NAMES = ['NetworkError', 'ExchangeNotAvailable', 'OnMaintenance', 'RequestTimeout', 'NullResponse', 'BadResponse'];

export interface ErrorContext {
  /** What was attempted: `submit`, `fetchOrder`, `setLeverage`, `loadMarkets`… */
  op: string;
  symbol?: string;
  /** True for an order submission: a timeout or network failure is then an unknown outcome. */
  submit?: boolean;
}

interface Parsed {
  name: string;
  code?: number;
  msg?: string;
  status?: number;
  text: string;
}

/** Reads Binance's code, msg and the HTTP status out of a ccxt error. */
export function parseCcxtError(err: unknown): Parsed {
  const name = err && typeof err === 'object' && typeof (err as { name?: unknown }).name === 'string' ? (err as { name: string }).name : 'Error';
  const text = err instanceof Error ? err.message : typeof err === 'string' ? err : String(err);
  const codeM = /"code"\s*:\s*"?(-?\d+)"?/.exec(text);
  const msgM = /"msg"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(text);
  // The HTTP status appears as " 429 Too Many Requests" before any JSON body.
  const head = text.split('{')[0];
  const statusM = /\s([45]\d\d)\s/.exec(head + ' ');
  return {
    name,
    code: codeM ? Number(codeM[1]) : undefined,
    msg: msgM ? msgM[1].replace(/\\"/g, '"') : undefined,
    status: statusM ? Number(statusM[1]) : undefined,
    text,
  };
}

/** Binance's code of a ccxt error, if its body had one. */
export function binanceCodeOf(err: unknown): number | undefined {
  return parseCcxtError(err).code;
}

/** True when the order lookup failed because Binance does not know the order. */
export function isOrderNotFound(err: unknown): boolean {
  const p = parseCcxtError(err);
  return p.code === ORDER_NOT_FOUND || (p.code === undefined && p.name === 'OrderNotFound');
}

/** A short, secret-free description: Binance's msg, or ccxt's text with URLs removed. */
function detailOf(p: Parsed): string {
  const raw = p.msg ?? p.text.replace(/^binanceusdm\s+/, '').replace(/https?:\/\/\S+/g, '<url>').replace(/\{.*$/s, '');
  const d = scrub(raw).replace(/\s+/g, ' ').trim();
  return d.length > 200 ? d.slice(0, 200) + '…' : d;
}

/** Maps anything ccxt threw to the contract's ExchangeError. */
export function mapBinanceError(err: unknown, ctx: ErrorContext): ExchangeError {
  if (err instanceof ExchangeError) return err;
  const p = parseCcxtError(err);
  const where = `binance ${ctx.op}${ctx.symbol ? ' ' + ctx.symbol : ''}`;
  const detail = detailOf(p);
  const rawCode: number | string = p.code ?? p.status ?? p.name;
  const codeText = p.code !== undefined ? `code ${p.code}` : p.status !== undefined ? `HTTP ${p.status}` : p.name;
  const msg = (reason: string) => `${where} failed: ${reason} (${codeText}${detail ? ': ' + detail : ''})`;
  const base = p.status !== undefined ? { httpStatus: p.status } : {};

  if (AUTH_CODES.includes(p.code as number) || p.status === 401 || (p.code === undefined && AUTH_NAMES.includes(p.name))) {
    return new ExchangeError(msg('auth_failed'), 'auth_failed', rawCode, { ...base, retryable: false, fix: AUTH_FIX });
  }
  if (p.code === SERVER_BUSY) {
    return new ExchangeError(msg('exchange_unavailable'), 'exchange_unavailable', p.code, { ...base, retryable: true, fix: 'Binance is overloaded: retried after a pause' });
  }
  if (UNKNOWN_OUTCOME_CODES.includes(p.code as number) || (p.status !== undefined && p.status >= 500)) {
    // The request reached Binance and its fate is unknown: a submit is looked up by client id before any resend.
    return new ExchangeError(msg('exchange_unavailable'), 'exchange_unavailable', rawCode, { ...base, retryable: true, unknownOutcome: !!ctx.submit });
  }
  if (p.status === 429 || p.status === 418 || RATE_CODES.includes(p.code as number) || RATE_NAMES.includes(p.name)) {
    const fix = p.status === 418 ? 'the IP is banned for a while after ignoring 429s: back off' : 'back off and retry later';
    return new ExchangeError(msg('rate_limited'), 'rate_limited', p.status ?? rawCode, { ...base, retryable: true, fix });
  }
  if (p.code === -1021) {
    return new ExchangeError(msg('exchange_rejected'), 'exchange_rejected', p.code, {
      ...base,
      retryable: true,
      fix: 'the system clock is off: check NTP',
    });
  }
  if (p.code !== undefined && BINANCE_CODE_REASONS[p.code] !== undefined) {
    const reason = BINANCE_CODE_REASONS[p.code];
    return new ExchangeError(msg(reason), reason, p.code, { ...base, retryable: false });
  }
  const isTimeout = TIMEOUT_NAMES.includes(p.name);
  const isNetwork = NETWORK_NAMES.includes(p.name) || (p.status !== undefined && p.status >= 500) || p.code === -1001 || p.code === -1007;
  if (isTimeout || isNetwork) {
    // A submit whose answer never came (timeout, dropped connection, 503 "unknown error")
    // may have been executed: the caller looks it up by client id before resending.
    return new ExchangeError(msg('exchange_unavailable'), 'exchange_unavailable', rawCode, {
      ...base,
      retryable: true,
      unknownOutcome: !!ctx.submit,
    });
  }
  return new ExchangeError(msg('exchange_rejected'), 'exchange_rejected', rawCode, { ...base, retryable: false });
}
