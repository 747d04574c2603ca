/**
 * Binance's per-IP limits, shared by every qt process on the host through the
 * `{prefix}:exchange:limits` hash (CONTRACT.md §2): the request weight used this minute
 * (`X-MBX-USED-WEIGHT-1M`), the end of a 429's `Retry-After`, the end of a 418 IP ban.
 * Every response is observed (ccxt's `onRestResponse`); before every request `hold()`
 * says whether it may go out. Source: Binance USD-M General Info, "Limits": "every
 * request carries X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter)"; "when a 429 is
 * received, it's your obligation as an API to back off"; "repeatedly violating rate
 * limits … will result in an automated IP ban (HTTP status 418) … from 2 minutes to 3
 * days"; "a Retry-After header is sent with a 418 or 429 responses and will give the
 * number of seconds required to wait". Limits are per IP (freqtrade#12441: several bots
 * on one IP), hence Redis.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../../log.js';

/** REQUEST_WEIGHT per minute in exchangeInfo `rateLimits` (USD-M: 2400). */
export const WEIGHT_LIMIT_1M = 2400;
/** Requests stop for the rest of the minute once this share of the weight is used. */
export const WEIGHT_HEADROOM = 0.95;
/** Wait when a 429 carries no Retry-After, ms. */
export const DEFAULT_RETRY_AFTER_MS = 5000;
/** Wait when a 418 carries neither Retry-After nor "banned until": Binance's shortest ban (2 minutes). */
export const DEFAULT_BAN_MS = 120_000;

/** Why requests must wait, and until when (epoch ms). */
export interface Hold {
  until: number;
  kind: 'ban' | 'retry_after' | 'weight';
  reason: string;
}

/**
 * KEYS[1] the limits hash. ARGV: now, used weight (or ''), ban until, retry-after until.
 * The two "until" fields only grow; the weight is the latest reply's.
 */
const WRITE_LUA = `
local function grow(f, v)
  local n = tonumber(v)
  if n and n > (tonumber(redis.call('HGET', KEYS[1], f)) or 0) then redis.call('HSET', KEYS[1], f, v) end
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'used_weight_1m', ARGV[2]) end
grow('ban_until', ARGV[3])
grow('retry_after_until', ARGV[4])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
return 1
`;

export interface ExchangeLimitsOptions {
  /** The shared state; without it the limits are this process's only. */
  redis?: Redis;
  /** `names.exchangeLimits()` */
  key?: string;
  log?: Logger;
  weightLimit?: number;
  /** How often the shared state is re-read, ms (default 250). */
  refreshMs?: number;
}

export class ExchangeLimits {
  private used = 0;
  private usedMinute = -1;
  private banUntil = 0;
  private retryAfterUntil = 0;
  private readAt = 0;
  private readonly writes = new Set<Promise<unknown>>();

  /** @throws Error when a shared Redis is given without its key (the key comes only from Names). */
  constructor(private readonly o: ExchangeLimitsOptions = {}) {
    if (o.redis && !o.key) throw new Error('ExchangeLimits: a shared Redis needs its key (names.exchangeLimits())');
  }

  /** Whether a request may go out now: null, or why and until when. Reads the shared state at most every `refreshMs`. */
  async hold(now = Date.now()): Promise<Hold | null> {
    await this.refresh(now);
    return this.holdNow(now);
  }

  /** The same from what this process knows already (no Redis read). */
  holdNow(now = Date.now()): Hold | null {
    const at = (t: number) => new Date(t).toISOString();
    if (this.banUntil > now) return { until: this.banUntil, kind: 'ban', reason: `Binance banned this IP (418) until ${at(this.banUntil)}` };
    if (this.retryAfterUntil > now) return { until: this.retryAfterUntil, kind: 'retry_after', reason: `Binance asked to back off (429 Retry-After) until ${at(this.retryAfterUntil)}` };
    const limit = this.o.weightLimit ?? WEIGHT_LIMIT_1M;
    const minute = Math.floor(now / 60_000);
    if (this.usedMinute === minute && this.used >= limit * WEIGHT_HEADROOM) {
      return { until: (minute + 1) * 60_000, kind: 'weight', reason: `request weight ${this.used} of ${limit} used this minute (X-MBX-USED-WEIGHT-1M)` };
    }
    return null;
  }

  /**
   * One response: its weight header, and on 429/418 its Retry-After (seconds) or the
   * "banned until {ms}" of a 418's message. Updates this process at once and Redis behind it.
   */
  observe(status: number, headers: Record<string, unknown>, body: string, now = Date.now()): void {
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers ?? {})) h[k.toLowerCase()] = String(v);
    const used = Number(h['x-mbx-used-weight-1m']);
    let weight = '';
    if (h['x-mbx-used-weight-1m'] !== undefined && Number.isFinite(used)) {
      this.used = used;
      this.usedMinute = Math.floor(now / 60_000);
      weight = String(used);
    }
    let ban = 0;
    let retry = 0;
    if (status === 418 || status === 429) {
      const ra = Number(h['retry-after']);
      const fromHeader = h['retry-after'] !== undefined && Number.isFinite(ra) ? now + ra * 1000 : 0;
      if (status === 418) {
        const m = /banned until (\d{12,})/i.exec(body ?? '');
        ban = Math.max(fromHeader, m ? Number(m[1]) : 0) || now + DEFAULT_BAN_MS;
        this.banUntil = Math.max(this.banUntil, ban);
        this.o.log?.warn('binance: IP banned (418); all requests stop until the ban ends', { ban_until: new Date(ban).toISOString() });
      } else {
        retry = fromHeader || now + DEFAULT_RETRY_AFTER_MS;
        this.retryAfterUntil = Math.max(this.retryAfterUntil, retry);
        this.o.log?.warn('binance: too many requests (429); backing off for Retry-After', { until: new Date(retry).toISOString() });
      }
    }
    if (!weight && !ban && !retry) return;
    this.write(WRITE_LUA, [String(now), weight, String(ban || ''), String(retry || '')]);
  }

  /** Records the measured clock offset (local − Binance, ms) for `qt diagnose` (CLOCK_SKEW). */
  recordClock(offsetMs: number, now = Date.now()): void {
    if (!this.o.redis) return;
    const p = this.o.redis.hset(this.key(), { clock_offset_ms: String(Math.round(offsetMs)), clock_checked_at: String(now) });
    this.track(p);
  }

  /** Resolves once every write so far reached Redis (tests, clean stop). */
  async flush(): Promise<void> {
    await Promise.all([...this.writes]);
  }

  private key(): string {
    return this.o.key!;
  }

  private write(lua: string, argv: string[]): void {
    if (!this.o.redis) return;
    this.track(this.o.redis.eval(lua, 1, this.key(), ...argv));
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch((e: unknown) => this.o.log?.debug('exchange limits: write failed', { error: e instanceof Error ? e.message : String(e) }));
    this.writes.add(q);
    void q.finally(() => this.writes.delete(q));
  }

  private async refresh(now: number): Promise<void> {
    if (!this.o.redis || now - this.readAt < (this.o.refreshMs ?? 250)) return;
    this.readAt = now;
    let h: Record<string, string>;
    try {
      h = await this.o.redis.hgetall(this.key());
    } catch {
      return; // Redis away: this process's own knowledge still holds
    }
    this.banUntil = Math.max(this.banUntil, Number(h.ban_until) || 0);
    this.retryAfterUntil = Math.max(this.retryAfterUntil, Number(h.retry_after_until) || 0);
    const updated = Number(h.updated_at) || 0;
    const used = Number(h.used_weight_1m) || 0;
    const minute = Math.floor(updated / 60_000);
    if (minute > this.usedMinute || (minute === this.usedMinute && used > this.used)) {
      this.used = used;
      this.usedMinute = minute;
    }
  }
}
