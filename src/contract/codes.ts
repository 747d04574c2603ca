/**
 * Closed sets of codes from the contract (CONTRACT.md §3, §4). Each is exported as a
 * list so the dashboard, the docs and the tests iterate the same set.
 */

export const REASON_CODES = [
  'schema_invalid',
  'invalid_quantity',
  'symbol_not_allowed',
  'price_unavailable',
  'price_stale',
  'confidence_below_min',
  'below_min_notional',
  'below_min_qty',
  'leverage_exceeds_max',
  'position_limit_reached',
  'exposure_limit',
  'duplicate',
  'no_position',
  'action_unknown_variant',
  'kill_switch',
  'cooldown',
  'insufficient_margin',
  'exchange_rejected',
  'auth_failed',
  'rate_limited',
  // additions (compatible: new codes only)
  'exit_in_flight',
  'precision_invalid',
  'exchange_unavailable',
  'opposite_position',
  'at_position_limit',
  'intent_expired',
  // PERCENT_PRICE (Binance -4131/-4016/-4024) and leverage-bracket cap (Binance -2027): CONTRACT.md §3
  'price_band',
  'leverage_bracket',
  'position_open',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export function isReasonCode(s: string): s is ReasonCode {
  return (REASON_CODES as readonly string[]).includes(s);
}

export const FINDING_CODES = [
  'STREAM_STALE',
  'GROUP_STARVING',
  'STREAM_UNCONSUMED',
  'GROUP_LAGGING',
  'PENDING_STUCK',
  'CONSUMER_DEAD',
  'STAGE_REJECTING',
  'CONTRACT_MISMATCH',
  'STAGE_NO_OUTPUT',
  'SERVICE_DOWN',
  'SERVICE_SILENT',
  'SERVICE_FAILED',
  'GHOST_KEYS',
  'POSITION_LIMIT_BLOCKING',
  'POSITION_DRIFT',
  'EXCHANGE_AUTH_FAILED',
  'DEAD_LETTERS',
  // additions (compatible)
  'SERVICE_DEGRADED',
  'REDIS_CONFIG',
  'SERVICES_UNKNOWN',
  'KILL_SWITCH_ON',
  'GROUP_TREND',
  // additions (issue 15: diagnostics that check Redis's numbers)
  'LAG_UNRELIABLE',
  'ENTRIES_TRIMMED',
  'PENDING_POISON',
  'PENDING_ORPHANED',
  'CONSUMER_LEAK',
  'ENTRIES_EXPIRED',
  'ENGINE_CONTENDED',
  'EXCHANGE_LIMITED',
  'CLOCK_SKEW',
  'POSITION_UNPROTECTED',
  // addition: where a stage's input goes when filters by design take most of it (info)
  'STAGE_FILTERING',
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export const SEVERITIES = ['info', 'warn', 'crit'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** `unknown`: the check could not see what its verdict needs (exit 3); never OK. */
export type Status = 'ok' | Severity | 'unknown';

/** Exit codes of `qt health` and `qt diagnose …` (CONTRACT.md §4). */
export const EXIT = { ok: 0, warn: 1, crit: 2, unknown: 3 } as const;
/** Exit code for a user mistake (bad flag, bad configuration). */
export const EXIT_USAGE = 2;

export function exitCodeForStatus(s: Status): number {
  return s === 'ok' || s === 'info' ? EXIT.ok : s === 'warn' ? EXIT.warn : s === 'unknown' ? EXIT.unknown : EXIT.crit;
}

export function worstSeverity(list: Iterable<Severity>): Status {
  let worst: Status = 'ok';
  const rank: Record<Status, number> = { ok: 0, info: 1, warn: 2, crit: 3, unknown: 3 };
  for (const s of list) if (rank[s] > rank[worst]) worst = s;
  return worst;
}

/** Service heartbeat statuses (CONTRACT.md §2). */
export const SERVICE_STATUSES = ['starting', 'running', 'degraded', 'stopping', 'failed', 'standby'] as const;
export type ServiceStatus = (typeof SERVICE_STATUSES)[number];

/** Trading modes; shown in every status line, heartbeat, report and the dashboard. */
export const MODES = ['PAPER', 'DEMO', 'LIVE'] as const;
export type Mode = (typeof MODES)[number];
