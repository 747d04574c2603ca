/**
 * Fault injection for the paper exchange (reliability suites): rate limits, server
 * errors and timeouts, at a random rate or on demand (`failNext`). A `timeout_after`
 * fault lets the order through and then reports a timeout, so the caller does not know
 * whether it was accepted: the case that must be resolved by looking the order up.
 */
import { ExchangeError } from './types.js';

export const FAULT_KINDS = ['rate_limit', 'server_error', 'timeout_before', 'timeout_after'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultOptions {
  /** Share of calls that fail, 0..1. */
  rate: number;
  kinds: FaultKind[];
  random?: () => number;
}

export function faultError(kind: FaultKind): ExchangeError {
  switch (kind) {
    case 'rate_limit':
      return new ExchangeError('Too many requests; current limit of IP is 2400 requests per minute (injected)', 'rate_limited', -1003, {
        retryable: true,
        httpStatus: 429,
      });
    case 'server_error':
      return new ExchangeError('HTTP 503 Service Unavailable (injected)', 'exchange_unavailable', 503, { retryable: true, httpStatus: 503 });
    case 'timeout_before':
    case 'timeout_after':
      // From the caller's side both are the same: the outcome is unknown.
      return new ExchangeError('request timed out (injected)', 'exchange_unavailable', 'TIMEOUT', { retryable: true, unknownOutcome: true });
  }
}

export class FaultInjector {
  private readonly queued: FaultKind[] = [];
  /** Counts of injected faults by kind (for the suites' reports). */
  readonly injected: Record<FaultKind, number> = { rate_limit: 0, server_error: 0, timeout_before: 0, timeout_after: 0 };

  constructor(private readonly opts?: FaultOptions) {}

  failNext(kind: FaultKind): void {
    this.queued.push(kind);
  }

  /** True when any fault may be injected (queued, or a random rate). */
  get active(): boolean {
    return this.queued.length > 0 || (!!this.opts && this.opts.rate > 0 && this.opts.kinds.length > 0);
  }

  /** The fault for the next order submission, if any. */
  nextForOrder(): FaultKind | undefined {
    const k = this.queued.shift() ?? this.roll();
    if (k) this.injected[k]++;
    return k;
  }

  /** The fault for a read or a settings call (a `timeout_after` there is just a timeout). */
  nextForCall(): FaultKind | undefined {
    const k = this.roll();
    if (k) this.injected[k]++;
    return k;
  }

  private roll(): FaultKind | undefined {
    const o = this.opts;
    if (!o || o.rate <= 0 || o.kinds.length === 0) return undefined;
    const rnd = o.random ?? Math.random;
    if (rnd() >= o.rate) return undefined;
    return o.kinds[Math.min(o.kinds.length - 1, Math.floor(rnd() * o.kinds.length))];
  }
}
