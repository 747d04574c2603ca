/**
 * The one read model of a pipeline: what a snapshot of a deployment is. `qt diagnose`,
 * `qt health` and the console (`qt tui`) all read this, so the report and the
 * dashboard can never disagree. Built by `collectSnapshot` (src/diagnose/collect.ts)
 * with a bounded number of pipelined, read-only Redis commands.
 */
import type { ExchangeState } from './findings-exchange.js';
import type { ProtectState } from './findings-protect.js';
import type { FindingCode, Mode, Severity, Status } from '../contract/codes.js';
import type { GroupTrend } from './trend.js';
import type { ReplayReport } from '../engine/replay-report.js';
import type { SilentEvidence } from './service-input.js';

export interface Finding {
  code: FindingCode;
  severity: Severity;
  subject: string;
  message: string;
  evidence: Record<string, unknown>;
  fix: string;
}

export interface ReasonCount {
  reason: string;
  count: number;
  /** One example rejection (payload JSON and detail) when known. */
  example?: { detail: string; payload: string; ref_id: string; ts: number };
}

export interface StageStats {
  stage: string;
  in: number;
  out: number;
  rejected: number;
  dead: number;
  errors: number;
  /** out / in, null when in = 0 */
  success_rate: number | null;
  top_reasons: ReasonCount[];
  /** per-minute in/out over the window, oldest first (sparklines) */
  series: { minute: number; in: number; out: number; rejected: number }[];
  /** where the numbers came from: our metrics hashes, or derived from streams */
  source: 'metrics' | 'streams' | 'none';
  /**
   * (addition) Entries this stage refused as `intent_expired` in the window, and since when:
   * `first_at`/`last_at` epoch ms (the start of the first and the end of the last minute
   * with one, from `rej:intent_expired` in the metrics; else the sampled rejections' ts).
   */
  expired?: { count: number; first_at: number; last_at: number };
}

export interface GroupInfo {
  group: string;
  consumers: number;
  pending: number;
  /** null on Redis 6.2, and after XDEL past the group's cursor */
  lag: number | null;
  entries_read: number | null;
  last_delivered_id: string;
  consumer_details: { name: string; pending: number; idle_ms: number; inactive_ms: number | null }[];
  /** oldest pending entry's idle time (XPENDING summary + one XPENDING range call), if any */
  oldest_pending_idle_ms: number | null;
  /** the oldest pending entry (id, owner, idle, delivery count), when any (optional addition) */
  oldest_pending?: { id: string; consumer: string; idle_ms: number; deliveries: number } | null;
  /**
   * How `lag` was judged (src/diagnose/lag.ts): `lag` above is `lag_check.value`, Redis's own
   * figure is `lag_check.redis_lag`. Absent only in hand-made snapshots.
   */
  lag_check?: LagCheck;
  /** the bounded PEL sample (`XPENDING key group - + N`): delivery counts, ages, orphans */
  pending_sample?: PendingSample | null;
  /** false when XINFO CONSUMERS was skipped because the group holds more consumers than qt reads */
  consumers_listed?: boolean;
}

/** Where a group's lag figure came from: Redis as is, derived by qt, or not known. */
export type LagSource = 'redis' | 'derived' | 'unknown';
/** Why Redis's lag was not used as it is (docs/diagnostics.md, "Lag"). */
export type LagReason =
  | 'caught_up'
  | 'negative'
  | 'over_entries_added'
  | 'over_length'
  | 'tombstone_after_position'
  | 'arbitrary_position'
  | 'deleted_inside'
  | 'not_supported';

/**
 * A group's backlog (entries in the stream after its last-delivered-id, waiting for
 * delivery), checked against Redis's invariants. `value` null: unknown, bounded by
 * `min`/`max` where known. Entries counts, never ms.
 */
export interface LagCheck {
  value: number | null;
  source: LagSource;
  /** null when Redis's figure passed every check and was used */
  reason: LagReason | null;
  min: number | null;
  max: number | null;
  /** Redis's figures as reported (null when absent or null) */
  redis_lag: number | null;
  redis_entries_read: number | null;
  /** entries-read/lag break their invariants (negative lag, above entries-added): never graphed or used */
  corrupt: boolean;
  /** how `value` was obtained, one line */
  how: string;
}

/** The bounded sample of a group's PEL, oldest first (`XPENDING key group - + N`). */
export interface PendingSample {
  /** entries sampled (≤ N) and the PEL size (XINFO GROUPS `pending`) */
  sampled: number;
  total: number;
  /** the N of `XPENDING … - + N` */
  bound: number;
  /** the entries with the most deliveries in the sample, most first (at most 5) */
  top_deliveries: { id: string; consumer: string; idle_ms: number; deliveries: number; id_age_ms: number | null }[];
  /** pending entries whose stream entry no longer exists (payload gone) */
  orphaned: OrphanCount | null;
}

export interface OrphanCount {
  /** orphans counted or estimated; `exact` false: an estimate (`method` says how) */
  count: number;
  exact: boolean;
  /** of which: ids before the stream's first entry (trimmed) */
  trimmed: number;
  /** ids inside the stream checked with `XRANGE id id`, and how many of them were gone (XDEL) */
  checked: number;
  missing: number;
  method: string;
  examples: string[];
}

export interface StreamInfo {
  stream: string;
  key: string;
  length: number;
  /** epoch ms of the newest entry (auto-generated ids only), null when empty */
  last_entry_ms: number | null;
  age_s: number | null;
  entries_added: number | null;
  /** the newest entry's id ('' when empty; optional addition) */
  last_id?: string;
  groups: GroupInfo[];
  /** is this one of the contract's streams */
  known: boolean;
  stale: boolean;
  /** XINFO STREAM ids (optional additions; '' when absent: Redis < 7.0 or an empty stream) */
  first_entry_id?: string;
  last_generated_id?: string;
  max_deleted_entry_id?: string;
  recorded_first_entry_id?: string;
  /** MEMORY USAGE of the stream key in bytes (entries and PEL); null when denied or renamed */
  memory_bytes?: number | null;
  /** on a Redis Cluster: the primary (`host:port`) that holds the stream (optional addition) */
  node?: string;
}

export interface ServiceInfo {
  service: string;
  /** running | silent | degraded | failed | down | stopping | starting | standby (a singleton waiting for its lease) */
  status: 'running' | 'silent' | 'degraded' | 'failed' | 'down' | 'stopping' | 'starting' | 'standby';
  expected: boolean;
  beat_age_s: number | null;
  last_msg_age_s: number | null;
  processed: number | null;
  errors: number | null;
  last_error: string;
  detail: string;
  mode: string | null;
  pid: string | null;
  host: string | null;
  /** why it counts as silent: its input's groups and what waits there (optional addition) */
  silent?: SilentEvidence;
  /** epoch ms of a clean stop (its last beat said `stopping`): status is `down` (optional addition) */
  stopped_at?: number;
  /** a second engine's `{host}:{pid}` waiting as standby for this singleton (seen in the last minute), if any */
  standby?: string | null;
}

/** A singleton stage's lease (`{prefix}:lease:{stage}`): who holds it and for how much longer. */
export interface LeaseInfo {
  stage: string;
  key: string;
  /** `{host}:{pid}` of the holder */
  holder: string;
  /** ms left unless renewed (PTTL; -1 no TTL, null unknown) */
  pttl_ms: number | null;
  /**
   * `{host}:{pid}` of the stage's heartbeat read right after the lease (null: none). A holder
   * beats just after it takes the lease, so the key scan can predate its first beat.
   */
  beat_owner?: string | null;
}

export interface PositionRow {
  symbol: string;
  side: 'LONG' | 'SHORT';
  qty: number;
  entry_price: number;
  mark_price: number | null;
  unrealized_pnl: number | null;
  /** current PnL in multiples of the initial risk */
  r_multiple: number | null;
  leverage: number;
  snapshot: { side: string; qty: number; entry_price: number; mark_price: number; ts: number } | null;
  drift: string | null;
  /** the position's latest fills, newest first (from the newest execution.result entries) */
  history?: { ts: number; side: string; qty: number; price: number; realized_pnl: number; status: string; reduce_only: boolean }[];
}

export interface GhostKey {
  key: string;
  kind: 'position' | 'snapshot';
  reason: string;
}

export interface PositionsSummary {
  open: number;
  limit: number | null;
  position_keys: number;
  ledger_keys: number;
  snapshot_keys: number;
  ghosts: GhostKey[];
  rows: PositionRow[];
  /** snapshots for symbols with no engine position */
  exchange_only: { symbol: string; side: string; qty: number }[];
  scanned_keys: number;
}

export interface RejectionExample {
  id: string;
  stage: string;
  reason: string;
  symbol: string;
  ref_id: string;
  detail: string;
  payload: string;
  ts: number;
}

export interface FunnelStep {
  step: 'signals' | 'intents' | 'plans' | 'approved' | 'executed';
  count: number | null;
}

export interface PipelineSnapshot {
  generated_at: number;
  window_s: number;
  redis: { url: string; version: string; maxmemory_policy: string | null; warnings: string[] };
  prefix: string;
  mode: Mode | null;
  kill_switch: string | null;
  policy_version: string | null;
  stages: StageStats[];
  streams: StreamInfo[];
  services: ServiceInfo[];
  /** false when the deployment has no svc:registry (not ours): expected services unknown */
  registry_known: boolean;
  positions: PositionsSummary;
  rejections: { latest: RejectionExample[]; total_in_window: number };
  dead_letters: { count_in_window: number; latest: { id: string; stage: string; stream: string; entry_id: string; error: string; ts: number }[] };
  funnel: FunnelStep[];
  /** singleton leases under the prefix (optional addition; absent from older snapshots) */
  leases?: LeaseInfo[];
  /** things the collector could not know (no metrics, no heartbeats, ACL denied…) */
  unknowns: string[];
  /** Redis commands this snapshot cost (bounded; independent of stream length) */
  commands: number;
  /** Each open position's protective stop on the exchange (findings-protect.ts); absent in older snapshots. */
  protect?: ProtectState;
  /** The exchange's limits, clock offset and resync records (findings-exchange.ts); absent in older snapshots. */
  exchange?: ExchangeState;
  /**
   * What the check could not see that its verdict needs (keys it may not read, nothing
   * under the prefix): any of these makes the status `unknown` (exit 3) unless a crit
   * finding stands. Optional addition; absent = none.
   */
  blind_spots?: BlindSpot[];
  /** each group's trend by Burrow's rules: from the engine's per-minute records, `--sample`, or the console (optional addition) */
  trends?: GroupTrend[];
  /** The last replay's run report (`{prefix}:replay:report`), when a replay ran on this prefix. */
  replay?: ReplaySummary | null;
  /** A Redis Cluster (`cluster_enabled:1`): its primaries and what each holds (optional addition) */
  cluster?: ClusterSummary;
}

/** The primaries of a Redis Cluster as the check read them. */
export interface ClusterSummary {
  primaries: {
    /** `host:port` as the cluster announces it */
    node: string;
    /** slots it serves (of 16384) */
    slots: number;
    /** keys under the prefix found there by SCAN (null: not scanned or not readable) */
    keys: number | null;
    readable: boolean;
  }[];
}

/** A replay's run report as stored under `{prefix}:replay:report` (the engine's `ReplayReport`, plus `finished`). */
export type ReplaySummary = ReplayReport & { finished?: boolean };

/** One thing the check could not see: what, why, and what would let it see. */
export interface BlindSpot {
  what: string;
  detail: string;
  fix: string;
  /** other prefixes of this Redis that hold streams, closest first (nothing under the prefix) */
  prefixes_with_streams?: string[];
  /** the ACL rule that would let this user read what it could not (e.g. `%R~quantum:*`) */
  acl_rule?: string;
}

export interface Report extends PipelineSnapshot {
  status: Status;
  findings: Finding[];
  /** how `--sample` sampled: duration, looks, interval (ms), Redis commands, allowed lag */
  sample?: { duration_ms: number; samples: number; interval_ms: number; commands: number; allowed_lag: number };
}
