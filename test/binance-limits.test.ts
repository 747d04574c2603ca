/**
 * The shared rate-limit state (limits.ts) against the real test Redis, and the lookup /
 * settle rules of the executor (executor-lookup.ts) as pure functions on a fake clock.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ExchangeLimits, WEIGHT_LIMIT_1M } from '../src/engine/exchange/binance/limits.js';
import { lookUpUntilSure, settleOrder } from '../src/engine/stages/executor-lookup.js';
import type { OrderAck } from '../src/engine/exchange/types.js';
import { closeAll, testRedis, testNames } from './helpers/redis.js';

afterAll(closeAll);

describe('ExchangeLimits (Binance per-IP limits shared through Redis)', () => {
  it('a 418 reads "banned until" or Retry-After, is written to Redis, and holds another process', async () => {
    const r = testRedis();
    const key = testNames().exchangeLimits();
    const a = new ExchangeLimits({ redis: r, key });
    const b = new ExchangeLimits({ redis: r, key, refreshMs: 0 });
    const now = Date.now();
    a.observe(418, { 'Retry-After': '110', 'X-Mbx-Used-Weight-1m': '2399' }, `{"code":-1003,"msg":"Way too many requests; IP(1.2.3.4) banned until ${now + 120_000}."}`, now);
    await a.flush();
    const h = await r.hgetall(key);
    expect(Number(h.ban_until)).toBe(now + 120_000); // the later of the two
    expect(h.used_weight_1m).toBe('2399');
    expect(await b.hold(now + 1000)).toMatchObject({ kind: 'ban', until: now + 120_000 });
    expect(await b.hold(now + 121_000)).toBeNull();
    // an earlier end never shortens a ban another process recorded
    a.observe(418, { 'retry-after': '5' }, '{}', now);
    await a.flush();
    expect(Number(await r.hget(key, 'ban_until'))).toBe(now + 120_000);
  });

  it('a 429 waits Retry-After; the weight pauses requests at 95 % for the rest of the minute', async () => {
    const l = new ExchangeLimits();
    const minute = 60_000 * 1000; // the start of a minute
    const now = minute + 10_000; // 10 s into it
    l.observe(429, { 'retry-after': '3' }, '{}', now);
    expect(l.holdNow(now + 2000)).toMatchObject({ kind: 'retry_after', until: now + 3000 });
    expect(l.holdNow(now + 3000)).toBeNull();
    l.observe(200, { 'x-mbx-used-weight-1m': String(Math.ceil(WEIGHT_LIMIT_1M * 0.95)) }, '{}', now + 4000);
    expect(l.holdNow(now + 5000)).toMatchObject({ kind: 'weight', until: minute + 60_000 });
    expect(l.holdNow(minute + 60_000)).toBeNull(); // a new minute
  });
});

const ack = (o: Partial<OrderAck> = {}): OrderAck => ({
  orderId: '1', clientOrderId: 'c', symbol: 'BTCUSDT', side: 'BUY', status: 'FILLED', filledQty: 0.002, avgPrice: 1, fee: 0, realizedPnl: 0, reduceOnly: false, ts: 0, ...o,
});

/** A clock that only moves when the code sleeps. */
function clock() {
  let t = 1_000_000;
  return { now: () => t, sleep: async (ms: number) => void (t += ms), at: () => t };
}

describe('lookUpUntilSure / settleOrder (the executor\'s rules for unknown and partial outcomes)', () => {
  it('absent only after "does not exist" answers span the whole window', async () => {
    const c = clock();
    let calls = 0;
    const r = await lookUpUntilSure({ fetchOrderByClientId: async () => (calls++, null) }, 'BTCUSDT', 'c', { windowMs: 10_000, ...c });
    expect(r).toMatchObject({ kind: 'absent' });
    expect(r.kind === 'absent' && r.spanMs).toBeGreaterThanOrEqual(10_000);
    expect(calls).toBeGreaterThanOrEqual(5); // backoff 250 ms doubling to 2 s
  });

  it('an order that shows up late (lookup lag) is found, not resent', async () => {
    const c = clock();
    const start = c.at();
    const r = await lookUpUntilSure({ fetchOrderByClientId: async () => (c.at() - start >= 3000 ? ack() : null) }, 'BTCUSDT', 'c', { windowMs: 10_000, ...c });
    expect(r).toMatchObject({ kind: 'found' });
  });

  it('PARTIALLY_FILLED is polled until final; the cumulative quantity is what ends it', async () => {
    const c = clock();
    const start = c.at();
    const a = await settleOrder(
      { fetchOrderByClientId: async () => (c.at() - start >= 1500 ? ack({ status: 'FILLED', filledQty: 236.26 }) : ack({ status: 'PARTIALLY_FILLED', filledQty: 41 })) },
      ack({ status: 'PARTIALLY_FILLED', filledQty: 41 }), { windowMs: 10_000, ...c },
    );
    expect([a.status, a.filledQty]).toEqual(['FILLED', 236.26]);
    const stuck = await settleOrder({ fetchOrderByClientId: async () => ack({ status: 'NEW', filledQty: 0 }) }, ack({ status: 'NEW', filledQty: 0 }), { windowMs: 2000, ...c });
    expect(stuck.status).toBe('NEW'); // not final after the window: the caller retries later
    for (const s of ['CANCELED', 'EXPIRED', 'EXPIRED_IN_MATCH', 'REJECTED'] as const) {
      expect((await settleOrder({ fetchOrderByClientId: async () => null }, ack({ status: s, filledQty: 0.001 }), { windowMs: 2000, ...c })).status).toBe(s);
    }
  });
});
