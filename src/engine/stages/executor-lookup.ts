/**
 * How the executor learns an order's fate when the exchange's answer is missing or not
 * final. Binance (BINANCE-USDM-RULES.md, "Order identity and unknown outcomes"): after
 * an HTTP 5xx, -1006, -1007, a timeout or a dropped connection, the order may exist, and
 * a fresh order can answer -2013 "Order does not exist" for a while (ccxt#1786;
 * nautilus_trader#4215, #1030; sonvister/Binance#77); a client id is refused (-4116) only
 * while its order is open, so a filled order's id resent fills again. Hence: look up with
 * backoff, and call an order absent only after a run of "does not exist" answers that
 * spans a whole window. And a PARTIALLY_FILLED answer is not final: poll until the order
 * ends (FINAL_ORDER_STATUSES) and book its cumulative executed quantity.
 */
import { FINAL_ORDER_STATUSES, type Exchange, type OrderAck } from '../exchange/types.js';

export interface PollOptions {
  /** Window, ms: lookups: how long "does not exist" must last; settle: how long to wait for a final status. */
  windowMs: number;
  /** First pause between tries, ms (doubles up to maxDelayMs). */
  firstDelayMs?: number;
  maxDelayMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type LookupResult =
  | { kind: 'found'; ack: OrderAck; lookups: number }
  /** Every lookup answered "does not exist", the first and the last `spanMs` apart (≥ the window). */
  | { kind: 'absent'; lookups: number; spanMs: number };

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Looks `clientOrderId` up until it is found, or until "does not exist" answers span
 * `windowMs` (with windowMs 0: one lookup). Throws what a lookup throws (rate limit,
 * 5xx): the outcome stays unknown and the caller tries again later.
 */
export async function lookUpUntilSure(exchange: Pick<Exchange, 'fetchOrderByClientId'>, symbol: string, clientOrderId: string, o: PollOptions): Promise<LookupResult> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? pause;
  let delay = o.firstDelayMs ?? 250;
  let firstMiss: number | undefined;
  for (let n = 1; ; n++) {
    const ack = await exchange.fetchOrderByClientId(symbol, clientOrderId);
    if (ack) return { kind: 'found', ack, lookups: n };
    const t = now();
    firstMiss ??= t;
    if (t - firstMiss >= o.windowMs) return { kind: 'absent', lookups: n, spanMs: t - firstMiss };
    await sleep(Math.max(1, Math.min(delay, firstMiss + o.windowMs - t)));
    delay = Math.min(delay * 2, o.maxDelayMs ?? 2000);
  }
}

/** True when the order can no longer change (FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH, REJECTED). */
export function isFinal(ack: Pick<OrderAck, 'status'>): boolean {
  return FINAL_ORDER_STATUSES.has(ack.status);
}

/**
 * Polls an acknowledged order until it is final, for at most `windowMs`; returns the
 * latest view (final or not). A lookup that misses (the lag above) keeps the last view.
 */
export async function settleOrder(exchange: Pick<Exchange, 'fetchOrderByClientId'>, ack: OrderAck, o: PollOptions): Promise<OrderAck> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? pause;
  const until = now() + o.windowMs;
  let delay = o.firstDelayMs ?? 100;
  let a = ack;
  while (!isFinal(a) && now() < until) {
    await sleep(Math.max(1, Math.min(delay, until - now())));
    delay = Math.min(delay * 2, o.maxDelayMs ?? 1000);
    a = (await exchange.fetchOrderByClientId(a.symbol, a.clientOrderId)) ?? a;
  }
  return a;
}
