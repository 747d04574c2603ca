/** The singleton lease against a real Redis: acquire, compare-and-renew, fencing, release only if ours. */
import { afterAll, describe, expect, it } from 'vitest';
import { SingletonLease } from '../../src/engine/runtime/lease.js';
import { closeAll, testNames, testRedis, waitFor } from '../helpers/redis.js';

afterAll(closeAll);

describe('SingletonLease', () => {
  it('one holder at a time: SET NX PX takes a free lease, a second process waits, renewal keeps it', async () => {
    const r = testRedis();
    await r.ping(); // the lease never sends on a connection that is not ready
    const key = testNames().lease('market');
    const a = new SingletonLease({ redis: r, key, holder: 'h:1', ttlMs: 1000 });
    const b = new SingletonLease({ redis: r, key, holder: 'h:2', ttlMs: 1000 });
    expect(await a.attempt()).toMatchObject({ held: true, holder: 'h:1' });
    const seen = await b.attempt();
    expect(seen).toMatchObject({ held: false, holder: 'h:1' });
    expect(seen.pttlMs).toBeGreaterThan(0);
    expect(b.held()).toBe(false);
    expect(await r.get(key)).toBe('h:1');
    // Renewal: still ours, the TTL back to full.
    await r.pexpire(key, 100);
    expect((await a.attempt()).held).toBe(true);
    expect(await r.pttl(key)).toBeGreaterThan(500);
  });

  it('fencing: a holder that cannot renew stops counting on its lease before Redis lets it expire', async () => {
    const r = testRedis();
    await r.ping(); // the lease never sends on a connection that is not ready
    const key = testNames().lease('ai_engine');
    const a = new SingletonLease({ redis: r, key, holder: 'h:1', ttlMs: 1000 });
    const b = new SingletonLease({ redis: r, key, holder: 'h:2', ttlMs: 1000 });
    await a.attempt();
    // No renewal from here on (a paused process): a's local validity ends first…
    await waitFor(() => !a.held(), 10_000, 'local validity ends');
    const pttl = await r.pttl(key);
    // …while Redis still holds the key for it, so nobody else can act yet.
    expect(pttl === -2 || pttl > 0).toBe(true);
    if (pttl > 0) expect((await b.attempt()).held).toBe(false);
    await waitFor(async () => (await b.attempt()).held, 10_000, 'b takes the expired lease');
    expect(await r.get(key)).toBe('h:2');
    // The old holder's renewal is refused: the key is not its any more.
    expect((await a.attempt()).held).toBe(false);
  });

  it('release deletes the lease only while it is ours', async () => {
    const r = testRedis();
    await r.ping(); // the lease never sends on a connection that is not ready
    const key = testNames().lease('reconciler');
    const a = new SingletonLease({ redis: r, key, holder: 'h:1', ttlMs: 5000 });
    await a.attempt();
    await r.set(key, 'h:9', 'PX', 5000); // another engine took it meanwhile
    expect(await a.release()).toBe(false);
    expect(await r.get(key)).toBe('h:9');
    await r.del(key);
    await a.attempt();
    expect(await a.release()).toBe(true);
    expect(await r.exists(key)).toBe(0);
  });
});
