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

/**
 * How long the last beat of a clean stop (`status stopping`, `stopped_at`) is kept, so
 * diagnostics say "stopped cleanly at T" instead of "no heartbeat" (7 days, in ms).
 */
export const STOPPED_BEAT_TTL_MS = 7 * 86_400_000;

/**
 * Writes the heartbeat hash (TTL three beats) and registers the service. The final beat of
 * a clean stop (`hb.status === 'stopping'`) adds `stopped_at` (epoch ms) and is kept for
 * STOPPED_BEAT_TTL_MS; any other beat removes `stopped_at`.
 */
export async function beat(redis: Redis, names: Names, hb: HeartbeatState, beatMs: number, now = Date.now()): Promise<void> {
  const key = names.service(hb.service);
  const stopped = hb.status === 'stopping';
  const tx = redis.multi();
  if (stopped) tx.hset(key, { ...hb.fields(now), stopped_at: String(now) }).pexpire(key, STOPPED_BEAT_TTL_MS);
  else tx.hset(key, hb.fields(now)).hdel(key, 'stopped_at').pexpire(key, beatMs * 3);
  await tx.sadd(names.registry(), hb.service).exec();
}

/**
 * A standby's heartbeat must not hide the holder's: it writes the whole hash (status
 * `standby`) only when no other live instance owns it (absent, ours, or itself a
 * standby / stopping one); otherwise it adds `standby` (`{host}:{pid}`) and `standby_at`
 * (epoch ms) to the holder's hash, leaving its fields and TTL alone.
 * KEYS[1] heartbeat hash, KEYS[2] registry; ARGV[1] `{host}:{pid}`, ARGV[2] now, ARGV[3]
 * TTL ms, ARGV[4] service, ARGV[5..] field/value pairs. Returns 1 when the whole hash was written.
 */
const STANDBY_BEAT_LUA = `
local h = redis.call('HMGET', KEYS[1], 'host', 'pid', 'status')
local owner = tostring(h[1]) .. ':' .. tostring(h[2])
if (not h[3]) or h[3] == 'standby' or h[3] == 'stopping' or owner == ARGV[1] then
  local kv = {}
  for i = 5, #ARGV do kv[#kv + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(kv))
  redis.call('HDEL', KEYS[1], 'standby', 'standby_at')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[4])
  return 1
end
redis.call('HSET', KEYS[1], 'standby', ARGV[1], 'standby_at', ARGV[2])
return 0
`;

/** The heartbeat of a singleton stage's standby (see STANDBY_BEAT_LUA); `me` is `{host}:{pid}`. */
export async function beatStandby(redis: Redis, names: Names, hb: HeartbeatState, beatMs: number, me: string, now = Date.now()): Promise<boolean> {
  const fields = hb.fields(now);
  const kv: string[] = [];
  for (const [k, v] of Object.entries(fields)) kv.push(k, v);
  const r = await redis.eval(STANDBY_BEAT_LUA, 2, names.service(hb.service), names.registry(), me, String(now), String(beatMs * 3), hb.service, ...kv);
  return Number(r) === 1;
}
