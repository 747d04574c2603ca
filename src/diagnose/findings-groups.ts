/**
 * Findings that check a consumer group's numbers instead of copying them (CONTRACT.md §4):
 * LAG_UNRELIABLE, ENTRIES_TRIMMED, PENDING_POISON, PENDING_ORPHANED, CONSUMER_LEAK. Pure:
 * they read what streams.ts collected (lag checks, the bounded PEL sample, stream ids).
 * The facts each rests on are in ../shared/spec/REDIS-STREAMS-FACTS.md and docs/diagnostics.md.
 */
import type { Finding, GroupInfo, PipelineSnapshot, StreamInfo } from './read-model.js';
import type { Thresholds } from './thresholds.js';
import { cmpId, lagReasonText } from './lag.js';
import { idMs } from './redis-read.js';

const n = (x: number) => x.toLocaleString('en-US');
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const ago = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : ms < 172_800_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${(ms / 86_400_000).toFixed(1)} days`);
const mb = (b: number | null | undefined) => (b === null || b === undefined ? 'unknown memory' : b >= 1_048_576 ? `${(b / 1_048_576).toFixed(1)} MB` : `${(b / 1024).toFixed(1)} KB`);

/** Every finding of this module for one group. */
export function groupCheckFindings(snap: PipelineSnapshot, s: StreamInfo, g: GroupInfo, th: Thresholds): Finding[] {
  return [lagUnreliable(s, g), entriesTrimmed(s, g), pendingPoison(s, g, th, snap.generated_at), pendingOrphaned(s, g), consumerLeak(snap, s, g, th)]
    .filter((f): f is Finding => f !== null);
}

/** The backlog GROUP_LAGGING judges: the checked value, else the lower bound of an estimate. */
export function judgedLag(g: GroupInfo): { lag: number | null; atLeast: boolean } {
  if (g.lag !== null) return { lag: g.lag, atLeast: false };
  const min = g.lag_check?.min ?? null;
  return { lag: min, atLeast: min !== null };
}

function lagUnreliable(s: StreamInfo, g: GroupInfo): Finding | null {
  const c = g.lag_check;
  if (!c || c.reason === null) return null;
  const subject = `${s.stream} ${g.group}`;
  const said = c.redis_lag === null ? (c.reason === 'not_supported' ? 'no lag' : 'lag null') : `lag ${n(c.redis_lag)}`;
  const used = c.value !== null ? `${n(c.value)} entries wait (${c.how})` : c.min !== null || c.max !== null
    ? `the backlog is unknown: between ${c.min === null ? '?' : n(c.min)} and ${c.max === null ? '?' : n(c.max)} entries (${c.how})`
    : `the backlog is unknown (${c.how})`;
  const severity = c.corrupt || c.value === null ? 'warn' : 'info';
  return {
    code: 'LAG_UNRELIABLE', severity, subject,
    message: `Redis reports ${said} for ${g.group} on ${s.stream}${c.corrupt ? ' (corrupt counters)' : ''}: ${lagReasonText(c.reason)}; ${used}`,
    evidence: {
      stream: s.stream, group: g.group, reason: c.reason, source: c.source, value: c.value, min: c.min, max: c.max, how: c.how, corrupt: c.corrupt,
      redis_lag: c.redis_lag, redis_entries_read: c.redis_entries_read, entries_added: s.entries_added, length: s.length,
      last_delivered_id: g.last_delivered_id, last_generated_id: s.last_generated_id ?? null, first_entry_id: s.first_entry_id ?? null,
      max_deleted_entry_id: s.max_deleted_entry_id ?? null,
    },
    fix: c.corrupt
      ? `someone set the group's counter by hand (XGROUP CREATE/SETID … ENTRIESREAD): set it right with XGROUP SETID ${s.key} ${g.group} ${g.last_delivered_id} ENTRIESREAD <entries-added − backlog>, or without ENTRIESREAD so Redis estimates it; qt ignores the counter meanwhile`
      : c.value === null
        ? `nothing to repair in Redis; the backlog becomes known once ${g.group} reads past the deleted entries or the stream's end. qt health writes U for it in Nagios perfdata and no qt_group_lag sample`
        : c.reason === 'not_supported' ? 'upgrade to Redis ≥ 7.0 for lag; qt counts the backlog meanwhile'
          : `nothing to do: qt uses the checked figure (Redis's own is fixed in 8.0 for XDEL/XTRIM, PRs #13338, #13473)`,
  };
}

function entriesTrimmed(s: StreamInfo, g: GroupInfo): Finding | null {
  const first = s.first_entry_id ?? '';
  if (s.entries_added === null) return null;
  if (s.length > 0 && (!first || cmpId(g.last_delivered_id, first) >= 0)) return null; // the group's position is inside the stream
  const c = g.lag_check;
  if (c?.corrupt) return null; // LAG_UNRELIABLE says it; the counters cannot count losses
  const read = c ? c.redis_entries_read : g.entries_read;
  const readEff = read ?? (cmpId(g.last_delivered_id, '0-0') === 0 ? 0 : null);
  const removed = s.entries_added - s.length;
  const lost = readEff === null ? null : s.entries_added - readEff - s.length;
  if (lost !== null && lost <= 0) return null;
  if (lost === null && removed <= 0) return null;
  const subject = `${s.stream} ${g.group}`;
  const fromMs = idMs(g.last_delivered_id, Number.MAX_SAFE_INTEGER);
  const boundary = s.length > 0 ? first : (s.last_generated_id ?? '');
  const toMs = idMs(boundary, Number.MAX_SAFE_INTEGER);
  const deleted = !!s.max_deleted_entry_id && cmpId(s.max_deleted_entry_id, g.last_delivered_id) > 0;
  const cause = s.length === 0 ? 'trimmed_empty' : deleted ? 'xdel' : 'maxlen_cap';
  const reader = g.consumers === 0 || readEff === 0 ? 'none' : 'slow';
  const causeText = cause === 'trimmed_empty'
    ? 'the stream was emptied (XTRIM MAXLEN 0 / MINID, or a cap of 0) while entries waited'
    : cause === 'xdel' ? 'entries after the group\'s position were deleted (XDEL) or trimmed'
      : `the producer's MAXLEN cap (the stream holds ${n(s.length)}) removed the oldest entries ` +
        (reader === 'none' ? 'while nobody read the group' : 'faster than the group read them (the reader is slower than the cap allows)');
  const when = fromMs !== null || toMs !== null
    ? `, written ${fromMs !== null ? `after ${iso(fromMs)}` : 'since the stream began'}${toMs !== null ? ` and before ${iso(toMs)}` : ''}` : '';
  return {
    code: 'ENTRIES_TRIMMED', severity: lost === null ? 'warn' : 'crit', subject,
    message: lost !== null
      ? `${n(lost)} entries of ${s.stream} were removed before ${g.group} read them${when}: ${causeText}. This is lost work` +
        (read === null ? ` (the group has read nothing yet: Redis cannot tell this from a group created at 0 after the trim, which never could have seen them)` : '')
      : `up to ${n(removed)} entries of ${s.stream} were removed, some maybe before ${g.group} read them (its read counter is unknown: the group was set to an arbitrary id)${when}`,
    evidence: {
      stream: s.stream, group: g.group, lost, at_most: lost ?? removed, cause, reader, entries_added: s.entries_added, entries_read: readEff, entries_read_reported: read !== null, length: s.length,
      last_delivered_id: g.last_delivered_id, first_entry_id: first || null, recorded_first_entry_id: s.recorded_first_entry_id ?? null,
      max_deleted_entry_id: s.max_deleted_entry_id ?? null, lost_after_ms: fromMs, lost_before_ms: toMs, consumers: g.consumers,
    },
    fix: (reader === 'none' ? `start the reader of ${s.stream} (group ${g.group}); ` : `add consumers to ${g.group} or make them faster; `) +
      `the removed entries cannot be recovered (re-send them from their producer if it can); make the cap outlast the longest outage (MAXLEN above rate × outage, or MINID by age), since XTRIM/MAXLEN never look at groups before Redis 8.2 (KEEPREF/ACKED)`,
  };
}

function pendingPoison(s: StreamInfo, g: GroupInfo, th: Thresholds, now: number): Finding | null {
  const p = g.pending_sample;
  const top = p?.top_deliveries[0];
  if (!p || !top || top.deliveries < th.poisonDeliveries) return null;
  const poison = p.top_deliveries.filter((x) => x.deliveries >= th.poisonDeliveries);
  const covered = p.sampled >= p.total;
  const age = top.id_age_ms !== null ? `, added ${ago(top.id_age_ms)} ago per its id` : '';
  void now;
  return {
    code: 'PENDING_POISON', severity: 'crit', subject: `${s.stream} ${g.group}`,
    message: `entry ${top.id} of ${s.stream} was delivered ${n(top.deliveries)} times to ${g.group} and is still pending` +
      ` (idle ${ago(top.idle_ms)}: every claim resets it${age})` + (poison.length > 1 ? `; ${poison.length} entries over ${th.poisonDeliveries} deliveries among the top ${p.top_deliveries.length}` : '') +
      (covered ? '' : `; only the oldest ${n(p.sampled)} of ${n(p.total)} pending entries were checked`),
    evidence: {
      stream: s.stream, group: g.group, id: top.id, consumer: top.consumer, deliveries: top.deliveries, idle_ms: top.idle_ms, id_age_ms: top.id_age_ms,
      threshold: th.poisonDeliveries, top_deliveries: p.top_deliveries, sampled: p.sampled, pending: p.total, covered, sample_bound: p.bound,
    },
    fix: `look at it (XRANGE ${s.key} ${top.id} ${top.id}); if it can never be processed, copy it to dead.letter and XACK ${s.key} ${g.group} ${top.id} (qt stages do this after QT_MAX_DELIVERIES); a consumer that claims it in a loop should dead-letter after N deliveries`,
  };
}

function pendingOrphaned(s: StreamInfo, g: GroupInfo): Finding | null {
  const o = g.pending_sample?.orphaned;
  if (!o || o.count <= 0) return null;
  const total = g.pending_sample!.total;
  const count = o.exact ? n(o.count) : `at least ${n(o.count)} (estimated)`;
  return {
    code: 'PENDING_ORPHANED', severity: 'warn', subject: `${s.stream} ${g.group}`,
    message: `${count} of ${n(total)} pending entries of ${g.group} point at entries of ${s.stream} that no longer exist (their payload is gone); ` +
      `the stream holds ${n(s.length)} entries in ${mb(s.memory_bytes)}${o.exact ? '' : `; ${o.method}`}`,
    evidence: {
      stream: s.stream, group: g.group, orphaned: o.count, exact: o.exact, trimmed: o.trimmed, checked: o.checked, missing: o.missing, method: o.method,
      pending: total, length: s.length, memory_bytes: s.memory_bytes ?? null, first_entry_id: s.first_entry_id ?? null, examples: o.examples,
    },
    fix: `acknowledge them, nothing can process them: XACK ${s.key} ${g.group} <id…> (a restart of a qt stage drops them: XAUTOCLAIM returns deleted ids and removes them from the PEL on Redis ≥ 7.0); then keep the stream's cap above the work in flight so entries are not trimmed while pending`,
  };
}

function consumerLeak(snap: PipelineSnapshot, s: StreamInfo, g: GroupInfo, th: Thresholds): Finding | null {
  const running = snap.services.filter((x) => x.service === g.group && x.status !== 'down' && x.status !== 'failed').length;
  const expected = Math.max(1, running);
  if (g.consumers < th.consumerLeak || g.consumers <= 10 * expected) return null;
  const listed = g.consumers_listed === true && g.consumer_details.length > 0;
  const hasInactive = listed ? g.consumer_details.some((c) => c.inactive_ms !== null) : versionAtLeast(snap.redis.version, 7, 2);
  const nothing = listed ? g.consumer_details.filter((c) => c.pending === 0) : [];
  const live = listed && hasInactive ? g.consumer_details.filter((c) => c.inactive_ms !== null && c.inactive_ms <= th.consumerIdleMs).length : null;
  const liveness = !listed
    ? `not listed: the group holds more consumers than qt reads with XINFO CONSUMERS, which would block Redis (~30 ms per 200,000, redis#8635)`
    : hasInactive
      ? `${n(live!)} read successfully within ${ago(th.consumerIdleMs)} (inactive, Redis ≥ 7.2), ${n(nothing.length)} hold nothing`
      : `${n(nothing.length)} hold nothing; on Redis 7.0 idle cannot tell a consumer that polls an empty stream from a dead one (inactive needs 7.2)`;
  return {
    code: 'CONSUMER_LEAK', severity: 'warn', subject: `${s.stream} ${g.group}`,
    message: `${g.group} on ${s.stream} holds ${n(g.consumers)} consumers while ${running ? `${running} service process(es) of that name run` : 'no service of that name beats'}: a new consumer name per poll or per restart leaks; ${liveness}`,
    evidence: {
      stream: s.stream, group: g.group, consumers: g.consumers, running_services: running, threshold: th.consumerLeak, listed,
      holding_nothing: listed ? nothing.length : null, live_by_inactive: live, inactive_known: hasInactive, redis_version: snap.redis.version,
      examples: listed ? nothing.slice(0, 5).map((c) => ({ name: c.name, idle_ms: c.idle_ms, inactive_ms: c.inactive_ms })) : [],
    },
    fix: `give each consumer a stable name (qt uses {host}:{pid} and deletes it on a clean stop); remove the idle ones holding nothing: \`qt cleanup consumers --dry-run\`, then \`--yes\` (or XGROUP DELCONSUMER ${s.key} ${g.group} <name>, which drops that consumer's pending entries)`,
  };
}

function versionAtLeast(v: string, maj: number, min: number): boolean {
  const [a, b] = v.split('.').map(Number);
  return Number.isFinite(a) && (a! > maj || (a === maj && (b ?? 0) >= min));
}
