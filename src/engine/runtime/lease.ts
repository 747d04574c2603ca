/**
 * The singleton lease of a stage that must run once per prefix (CONTRACT.md §2,
 * `{prefix}:lease:{stage}`, a string holding the holder's `{host}:{pid}`, with a TTL).
 *
 * - Acquire: `SET key holder NX PX ttl` (only when the key is absent: the previous holder
 *   released it or its TTL ran out, so a new holder never starts before the old lease ended).
 * - Renew: compare-and-renew in one script (RENEW_LUA): PEXPIRE only while the value is
 *   still ours, every quarter of the TTL.
 * - Release on a clean stop: compare-and-delete (RELEASE_LUA), so a stop never deletes a
 *   lease another engine took meanwhile.
 *
 * Fencing: the holder counts its lease as valid until `sent + ttl - safety`, where `sent`
 * is when the acquiring/renewing command left this process (Redis starts the TTL later
 * than that, so the local deadline is always before the real expiry). A holder that could
 * not renew (Redis unreachable, the process paused) stops acting `safety` ms before its
 * lease can expire in Redis; a standby can only take it after that expiry. The same rule
 * and its clock-drift margin are Redlock's (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
 */
import type { Redis } from 'ioredis';
import { errorMessage } from '../../errors.js';

/** KEYS[1] lease key; ARGV[1] holder, ARGV[2] ttl ms. 1 when renewed, 0 when not ours. */
export const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** KEYS[1] lease key; ARGV[1] holder. 1 when deleted, 0 when it was not ours (or gone). */
export const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export interface LeaseOptions {
  redis: Redis;
  /** `{prefix}:lease:{stage}` (Names.lease). */
  key: string;
  /** `{host}:{pid}` of this process (Names.consumer). */
  holder: string;
  /** Lease TTL in ms (QT_LEASE_TTL_MS). */
  ttlMs: number;
}

/** What one attempt found: held by us, or by whom and for how much longer (ms; -2 gone, -1 no TTL). */
export interface LeaseState {
  held: boolean;
  holder: string | null;
  pttlMs: number | null;
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no reply from Redis within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });

export class SingletonLease {
  /** Epoch ms until which this process may act as the holder (0: not held). */
  private validUntil = 0;
  readonly safetyMs: number;
  /** Last holder seen (ours when held). */
  holder: string | null = null;

  constructor(private readonly o: LeaseOptions) {
    this.safetyMs = Math.max(100, Math.floor(o.ttlMs / 10));
  }

  get key(): string {
    return this.o.key;
  }
  get me(): string {
    return this.o.holder;
  }
  get ttlMs(): number {
    return this.o.ttlMs;
  }
  /** How often the holder renews (a quarter of the TTL). */
  get renewEveryMs(): number {
    return Math.max(50, Math.floor(this.o.ttlMs / 4));
  }
  /** How often a standby tries to take the lease. */
  get pollEveryMs(): number {
    return Math.max(50, Math.min(500, Math.floor(this.o.ttlMs / 8)));
  }

  /** True while this process may act as the holder (the fencing rule above). */
  held(now = Date.now()): boolean {
    return now < this.validUntil - this.safetyMs;
  }

  /** Forget the lease locally (after a failed start, or at stop). */
  drop(): void {
    this.validUntil = 0;
  }

  /**
   * One attempt: renew when held (or still ours in Redis), acquire when free. Never
   * throws: an unanswered or failed command leaves the lease to expire on its own
   * (`error` says why). A reply that arrives after half the TTL does not count.
   */
  async attempt(): Promise<LeaseState & { error?: string }> {
    const { redis, key, holder, ttlMs } = this.o;
    // Not while disconnected: a command queued offline would reach Redis late, after
    // this process stopped counting on it (the local deadline only shrinks meanwhile).
    if (redis.status !== 'ready') return { held: this.held(), holder: this.holder, pttlMs: null, error: `Redis connection ${redis.status}` };
    const sent = Date.now();
    const budget = Math.max(50, Math.floor(ttlMs / 2));
    try {
      if (this.validUntil > 0 && (await withTimeout(redis.eval(RENEW_LUA, 1, key, holder, ttlMs) as Promise<number>, budget, 'lease renewal')) === 1) {
        return this.granted(sent);
      }
      const set = await withTimeout(redis.set(key, holder, 'PX', ttlMs, 'NX'), budget, 'lease acquisition');
      if (set === 'OK') return this.granted(sent);
      const [[, v], [, pttl]] = (await withTimeout(redis.pipeline().get(key).pttl(key).exec(), budget, 'lease read')) as [[unknown, string | null], [unknown, number]];
      if (v === holder) {
        // Ours in Redis although not held here (a pause outlived the local deadline, not the TTL): renew.
        if ((await withTimeout(redis.eval(RENEW_LUA, 1, key, holder, ttlMs) as Promise<number>, budget, 'lease renewal')) === 1) return this.granted(sent);
      }
      this.validUntil = 0;
      this.holder = v;
      return { held: false, holder: v, pttlMs: typeof pttl === 'number' ? pttl : null };
    } catch (e) {
      // Unknown outcome: keep the local deadline (it only shrinks with time), never extend it.
      return { held: this.held(), holder: this.holder, pttlMs: null, error: errorMessage(e) };
    }
  }

  private granted(sent: number): LeaseState {
    this.validUntil = sent + this.o.ttlMs;
    this.holder = this.o.holder;
    return { held: true, holder: this.o.holder, pttlMs: this.o.ttlMs };
  }

  /** Deletes the lease if it is still ours (a clean stop); false when not ours or Redis did not answer in `timeoutMs`. */
  async release(timeoutMs = 1000): Promise<boolean> {
    this.validUntil = 0;
    const n = await withTimeout(this.o.redis.eval(RELEASE_LUA, 1, this.o.key, this.o.holder) as Promise<number>, timeoutMs, 'lease release');
    return n === 1;
  }
}
