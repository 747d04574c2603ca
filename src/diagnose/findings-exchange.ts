/**
 * What the exchange told the engine about itself, read from the two shared hashes the
 * Binance adapter and the executor write (docs/contract.md): `{prefix}:exchange:limits`
 * (Binance's per-IP limits and the measured clock offset) and `{prefix}:exchange:resync`
 * (positions brought into line with the exchange after a -2022). Findings:
 * - EXCHANGE_LIMITED: a 418 IP ban (crit) or a 429 Retry-After (warn) in force, or the
 *   minute's request weight nearly used (info). Binance USD-M General Info, "Limits".
 * - CLOCK_SKEW: the local clock is off Binance's by ≥ 1 s (warn: an unsigned-offset request
 *   would be refused -1021, "1000ms ahead of the server's time") or by ≥ 10 s (crit: beyond
 *   ccxt's recvWindow either way); requests are signed with the offset meanwhile.
 * - POSITION_DRIFT (resync evidence): a reduce-only order was refused -2022 and the
 *   engine's record was corrected to the exchange's, in the last 24 hours.
 */
import type { Names } from '../contract/names.js';
import type { Finding, PipelineSnapshot } from './read-model.js';
import type { Reader } from './redis-read.js';

/** `{prefix}:exchange:limits` as read (epoch ms; null when absent). */
export interface ExchangeLimitsView {
  used_weight_1m: number | null;
  ban_until: number | null;
  retry_after_until: number | null;
  updated_at: number | null;
  /** local − exchange clock, ms */
  clock_offset_ms: number | null;
  clock_checked_at: number | null;
}

/** One `{prefix}:exchange:resync` record. */
export interface ResyncRecord {
  symbol: string;
  ts: number;
  code: number | string;
  plan_id: string;
  cause: string;
  engine: { side: string; qty: number } | null;
  exchange: { side: string; qty: number } | null;
  action: string;
}

export interface ExchangeState {
  /** The exchange host the engine's heartbeats name (`exchange_host`), null when none does. */
  host?: string | null;
  limits: ExchangeLimitsView | null;
  resyncs: ResyncRecord[];
}

/** Weight limit per minute (exchangeInfo REQUEST_WEIGHT, USD-M 2400). */
const WEIGHT_LIMIT = 2400;
const CLOCK_WARN_MS = 1000;
const CLOCK_CRIT_MS = 10_000;
const RESYNC_SHOWN_MS = 24 * 3600_000;

const num = (v: string | undefined): number | null => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : null);

/** Parses the limits hash (null when empty). */
export function limitsView(h: Record<string, string> | null | undefined): ExchangeLimitsView | null {
  if (!h || Object.keys(h).length === 0) return null;
  return {
    used_weight_1m: num(h.used_weight_1m), ban_until: num(h.ban_until), retry_after_until: num(h.retry_after_until),
    updated_at: num(h.updated_at), clock_offset_ms: num(h.clock_offset_ms), clock_checked_at: num(h.clock_checked_at),
  };
}

/** Reads both hashes in one round trip. */
export async function readExchangeState(rd: Reader, names: Names): Promise<ExchangeState> {
  const [lim, rs] = await rd.batch([['hgetall', names.exchangeLimits()], ['hgetall', names.exchangeResync()]]);
  const resyncs: ResyncRecord[] = [];
  for (const v of Object.values((rs?.val ?? {}) as Record<string, string>)) {
    try {
      const r = JSON.parse(v) as ResyncRecord;
      if (r && typeof r.symbol === 'string') resyncs.push(r);
    } catch {
      /* not ours: ignored */
    }
  }
  resyncs.sort((a, b) => b.ts - a.ts);
  return { limits: limitsView(lim?.val as Record<string, string> | undefined), resyncs };
}

const at = (t: number) => new Date(t).toISOString();

/** The exchange's findings (see the header), pure. */
export function exchangeFindings(snap: PipelineSnapshot & { exchange?: ExchangeState }): Finding[] {
  const out: Finding[] = [];
  const now = snap.generated_at;
  const l = snap.exchange?.limits;
  if (l) {
    const evidence = { ...l, now };
    if (l.ban_until && l.ban_until > now) {
      out.push({
        code: 'EXCHANGE_LIMITED', severity: 'crit', subject: 'exchange',
        message: `Binance banned this IP (418) until ${at(l.ban_until)} (${Math.ceil((l.ban_until - now) / 1000)} s left): every qt process on the host sends nothing until then`,
        evidence, fix: 'wait for the ban to end; then find what spent the request weight (several bots on one IP? polling loops?) — Binance bans for longer each time',
      });
    } else if (l.retry_after_until && l.retry_after_until > now) {
      out.push({
        code: 'EXCHANGE_LIMITED', severity: 'warn', subject: 'exchange',
        message: `Binance asked this IP to back off (429) until ${at(l.retry_after_until)}; requests wait (ignoring it leads to a 418 ban)`,
        evidence, fix: 'nothing to do if it is rare; if it recurs, lower the request rate (fewer processes or symbols per IP)',
      });
    } else if (l.used_weight_1m !== null && l.updated_at !== null && Math.floor(l.updated_at / 60_000) === Math.floor(now / 60_000) && l.used_weight_1m >= 0.8 * WEIGHT_LIMIT) {
      out.push({
        code: 'EXCHANGE_LIMITED', severity: 'info', subject: 'exchange',
        message: `request weight ${l.used_weight_1m} of ${WEIGHT_LIMIT} used this minute (X-MBX-USED-WEIGHT-1M); requests pause at 95%`,
        evidence, fix: 'lower the request rate if this persists',
      });
    }
    if (l.clock_offset_ms !== null && Math.abs(l.clock_offset_ms) >= CLOCK_WARN_MS) {
      const off = l.clock_offset_ms;
      out.push({
        code: 'CLOCK_SKEW', severity: Math.abs(off) >= CLOCK_CRIT_MS ? 'crit' : 'warn', subject: 'clock',
        message: `the local clock is ${Math.abs(off)} ms ${off > 0 ? 'ahead of' : 'behind'} Binance's (measured ${l.clock_checked_at ? at(l.clock_checked_at) : 'at an unknown time'}); ` +
          'requests are signed with the measured offset, but a jump between measurements is refused -1021',
        evidence: { clock_offset_ms: off, clock_checked_at: l.clock_checked_at },
        fix: 'synchronise the host clock (chrony / systemd-timesyncd: `timedatectl status`)',
      });
    }
  }
  const recent = (snap.exchange?.resyncs ?? []).filter((r) => now - r.ts < RESYNC_SHOWN_MS);
  if (recent.length) {
    const side = (v: { side: string; qty: number } | null) => (v ? `${v.side} ${v.qty}` : 'flat');
    out.push({
      code: 'POSITION_DRIFT', severity: 'warn', subject: 'positions:resync',
      message: `the exchange refused ${recent.length} reduce-only order(s) (-2022) for positions it did not hold; the engine was brought into line: ` +
        recent.slice(0, 4).map((r) => `${r.symbol} engine ${side(r.engine)} → exchange ${side(r.exchange)} (${at(r.ts)})`).join('; '),
      evidence: { resyncs: recent.slice(0, 20) },
      fix: 'find how the engine\'s position and the exchange\'s parted (a manual trade, a liquidation, an order booked twice); the record is kept 24 h',
    });
  }
  return out;
}
