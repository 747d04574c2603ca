/**
 * The one read model of a pipeline: what a snapshot of a deployment is. `qt diagnose`,
 * `qt health` and the console (`qt tui`) all read this, so the report and the
 * dashboard can never disagree. Built by `collectSnapshot` (src/diagnose/collect.ts)
 * with a bounded number of pipelined, read-only Redis commands.
 */
import type { ExchangeState } from './findings-exchange.js';
import type { FindingCode, Mode, Severity, Status } from '../contract/codes.js';

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
}

export interface StreamInfo {
  stream: string;
  key: string;
  length: number;
  /** epoch ms of the newest entry (auto-generated ids only), null when empty */
  last_entry_ms: number | null;
  age_s: number | null;
  entries_added: number | null;
  groups: GroupInfo[];
  /** is this one of the contract's streams */
  known: boolean;
  stale: boolean;
}

export interface ServiceInfo {
  service: string;
  /** running | silent | degraded | failed | down | stopping | starting */
  status: 'running' | 'silent' | 'degraded' | 'failed' | 'down' | 'stopping' | 'starting';
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
  /** things the collector could not know (no metrics, no heartbeats, ACL denied…) */
  unknowns: string[];
  /** Redis commands this snapshot cost (bounded; independent of stream length) */
  commands: number;
  /** The exchange's limits, clock offset and resync records (findings-exchange.ts); absent in older snapshots. */
  exchange?: ExchangeState;
}

export interface Report extends PipelineSnapshot {
  status: Status;
  findings: Finding[];
}
