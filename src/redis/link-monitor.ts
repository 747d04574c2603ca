/**
 * Says when the engine loses Redis and when it has it back. Every connection of the
 * engine (the shared writer, each stage's blocking reader and commit connection) is
 * watched; one outage is one story in the log, however many connections it cut:
 *
 * - warn at the loss: which connection went first, its address and the cause;
 * - warn every `repeatMs` while it lasts: for how long, how many reconnect attempts,
 *   which connections are still down;
 * - info when every connection is back: after how long and how many attempts.
 *
 * ioredis events used: `close` (lost), `reconnecting` (one retry scheduled), `ready`
 * (usable again), `error` (the cause: ECONNREFUSED, ETIMEDOUT, NOAUTH…).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { describeRedisError } from './connect.js';

interface Outage {
  since: number;
  retries: number;
  first: string;
  down: Set<string>;
  timer: NodeJS.Timeout;
}

export class LinkMonitor {
  private outage: Outage | null = null;
  private stopped = false;
  private readonly cause = new Map<string, string>();
  private readonly wasReady = new Set<string>();

  /** `repeatMs`: how often a still-running outage is logged again (ms). */
  constructor(
    private readonly log: Logger,
    private readonly repeatMs = 30_000,
  ) {}

  /** Watches one connection under a name the log uses (its CLIENT SETNAME, e.g. `qt:market:commit`). */
  watch(conn: Redis, name: string): void {
    if (conn.status === 'ready') this.wasReady.add(name);
    conn.on('ready', () => this.up(name));
    conn.on('error', (e: Error) => this.cause.set(name, describeRedisError(e)));
    conn.on('close', () => this.lost(name, conn));
    conn.on('reconnecting', () => {
      if (this.outage && !this.stopped && this.outage.first === name) this.outage.retries++;
    });
  }

  /** No more logging (before the engine closes its connections on purpose). */
  stop(): void {
    this.stopped = true;
    if (this.outage) clearInterval(this.outage.timer);
  }

  /** Whether an outage is going on, and since when (epoch ms). */
  get downSince(): number | null {
    return this.outage?.since ?? null;
  }

  private lost(name: string, conn: Redis): void {
    if (this.stopped || !this.wasReady.has(name)) return;
    this.wasReady.delete(name);
    if (this.outage) {
      this.outage.down.add(name);
      return;
    }
    const since = Date.now();
    const timer = setInterval(() => {
      const o = this.outage;
      if (!o || this.stopped) return;
      this.log.warn('Redis still unreachable', {
        for_s: Math.round((Date.now() - o.since) / 1000), retries: o.retries, connections_down: [...o.down].join(','), cause: this.cause.get(o.first) ?? 'unknown',
      });
    }, this.repeatMs);
    timer.unref();
    this.outage = { since, retries: 0, first: name, down: new Set([name]), timer };
    // The cause arrives on 'error' just before 'close' (or not at all for a clean server shutdown).
    this.log.warn('lost the Redis connection; reconnecting', {
      connection: name, address: `${conn.options.host ?? '?'}:${conn.options.port ?? '?'}`, cause: this.cause.get(name) ?? 'connection closed by the server',
    });
  }

  private up(name: string): void {
    this.wasReady.add(name);
    this.cause.delete(name);
    const o = this.outage;
    if (!o) return;
    o.down.delete(name);
    if (o.down.size > 0) return;
    clearInterval(o.timer);
    this.outage = null;
    if (this.stopped) return;
    this.log.info('Redis connection back', { after_s: +((Date.now() - o.since) / 1000).toFixed(1), retries: o.retries, first_lost: o.first });
  }
}
