/**
 * Opt-in timing for `qt up --metrics-port`: decorators that time a stage's `handle` /
 * `tick` and the exchange adapter's calls, recorded in prom-client histograms and
 * counters that the metrics server registers in its registry (docs/metrics.md). The
 * daemon wraps its stages and exchange with these only when metrics are on; the wrapped
 * objects behave exactly as the originals (same results, same errors).
 */
import { Counter, Histogram } from 'prom-client';
import { ExchangeError, type Exchange } from './exchange/types.js';
import { isConsumer, type AnyStage } from './runtime/types.js';

/** Seconds; a decision takes microseconds, an exchange round trip up to seconds. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const stageHandleSeconds = new Histogram({
  name: 'qt_stage_handle_seconds',
  help: 'time a consumer stage takes to decide one message (handle; exchange calls included, batch commit not)',
  labelNames: ['stage'],
  buckets: BUCKETS,
  registers: [],
});
export const stageTickSeconds = new Histogram({
  name: 'qt_stage_tick_seconds',
  help: 'time one tick of a periodic stage takes (commit not included)',
  labelNames: ['stage'],
  buckets: BUCKETS,
  registers: [],
});
export const exchangeCallSeconds = new Histogram({
  name: 'qt_exchange_call_seconds',
  help: 'exchange adapter calls by method, successful or not',
  labelNames: ['exchange', 'method'],
  buckets: BUCKETS,
  registers: [],
});
export const exchangeErrors = new Counter({
  name: 'qt_exchange_errors_total',
  help: 'exchange adapter calls that failed, by method, the exchange\'s code and the reason code',
  labelNames: ['exchange', 'method', 'code', 'reason'],
  registers: [],
});

export const INSTRUMENTS = [stageHandleSeconds, stageTickSeconds, exchangeCallSeconds, exchangeErrors];

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

/** The same stage, with `handle` (consumers) or `tick` (periodic stages) timed. */
export function instrumentStage<S extends AnyStage>(stage: S): S {
  const method = isConsumer(stage) ? 'handle' : 'tick';
  const hist = method === 'handle' ? stageHandleSeconds : stageTickSeconds;
  return new Proxy(stage, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== method || typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        const t0 = process.hrtime.bigint();
        try {
          return await (v as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          hist.observe({ stage: target.name }, seconds(t0));
        }
      };
    },
  });
}

const EXCHANGE_CALLS = new Set(['setLeverage', 'submitMarketOrder', 'submitMarketOrders', 'fetchOrderByClientId', 'fetchPositions', 'fetchBalance']);

/** The same exchange adapter, with its network calls timed and their errors counted by code. */
export function instrumentExchange<E extends Exchange>(exchange: E): E {
  return new Proxy(exchange, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop !== 'string' || !EXCHANGE_CALLS.has(prop) || typeof v !== 'function') return v;
      return async (...args: unknown[]) => {
        const t0 = process.hrtime.bigint();
        const labels = { exchange: target.name, method: prop };
        try {
          return await (v as (...a: unknown[]) => unknown).apply(target, args);
        } catch (e) {
          const code = e instanceof ExchangeError ? String(e.code) : 'error';
          const reason = e instanceof ExchangeError ? e.reason : 'unknown';
          exchangeErrors.inc({ ...labels, code, reason });
          throw e;
        } finally {
          exchangeCallSeconds.observe(labels, seconds(t0));
        }
      };
    },
  });
}
