/**
 * The heartbeat hash of a service (CONTRACT.md §2): written every beat with a TTL of
 * three beats, and the service's name added to the registry of expected services.
 */
import type { Redis } from 'ioredis';
import { hostname } from 'node:os';
import type { ServiceStatus } from '../../contract/codes.js';
import type { Names } from '../../contract/names.js';
import { scrub } from '../../config/redact.js';
import { VERSION } from '../../version.js';

export { VERSION } from '../../version.js';

export class HeartbeatState {
  status: ServiceStatus = 'starting';
  detail = '';
  processed = 0;
  errors = 0;
  lastError = '';
  lastMsgAt = 0;
  /** The exchange host this process trades through (QT_BINANCE_BASE_URL or Binance's), shown as `exchange_host`; '' for none. */
  exchangeHost = '';
  readonly startedAt = Date.now();

  constructor(
    readonly service: string,
    readonly mode: string,
  ) {}

  fields(now: number): Record<string, string> {
    return {
      service: this.service,
      pid: String(process.pid),
      host: hostname(),
      version: VERSION,
      started_at: String(this.startedAt),
      beat_at: String(now),
      status: this.status,
      last_msg_at: String(this.lastMsgAt),
      processed: String(this.processed),
      errors: String(this.errors),
      last_error: scrub(this.lastError).slice(0, 500),
      mode: this.mode,
      detail: scrub(this.detail).slice(0, 500),
      ...(this.exchangeHost ? { exchange_host: this.exchangeHost } : {}),
    };
  }

  fail(err: string): void {
    this.errors++;
    this.lastError = err;
  }
}

export async function beat(redis: Redis, names: Names, hb: HeartbeatState, beatMs: number, now = Date.now()): Promise<void> {
  const key = names.service(hb.service);
  await redis
    .multi()
    .hset(key, hb.fields(now))
    .pexpire(key, beatMs * 3)
    .sadd(names.registry(), hb.service)
    .exec();
}
