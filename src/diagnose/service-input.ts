/**
 * What a service's input holds for it: its consumer group's backlog, not only newer
 * entries. A service is silent (SERVICE_SILENT) when it beats, has handled nothing for
 * `silentMs`, and its input waits: entries not yet delivered to its group (the group's
 * last-delivered-id is below the stream's newest id, whatever `lag` says), entries
 * delivered and not acknowledged (pending), or entries newer than its last message.
 * A `lag` that is null or breaks its invariants (REDIS-STREAMS-FACTS.md) never counts as
 * "no backlog": the count is then unknown, and the ids decide whether anything waits.
 * Our stages read their contract input with a group named after them; for a service that
 * is not ours, its input is every group of the same name on any stream.
 */
import type { GroupInfo, StreamInfo } from './read-model.js';
import { compareIds } from './trend.js';

/** One group a service reads and what waits in it. */
export interface InputWait {
  stream: string;
  group: string;
  /** entries not yet delivered: Redis's lag where it is plausible, null when unknown */
  undelivered: number | null;
  /** at least one entry not yet delivered (ids), null when the ids cannot tell */
  behind: boolean | null;
  pending: number;
  /** how `undelivered` was known: `lag` (Redis, consistent with the ids), `ids` (0: caught up), or `unknown` */
  source: 'lag' | 'ids' | 'unknown';
}

/** Why a running service counts as silent (the SERVICE_SILENT evidence). */
export interface SilentEvidence {
  /** epoch ms of its last handled message (or its start when it handled none) */
  since_ms: number | null;
  /** its input's groups and what waits in them */
  inputs: InputWait[];
  /** the input has entries newer than its last message by more than silentMs */
  newer_entries: boolean;
  /** undelivered or pending entries wait in its group(s) (or may: lag unknown) */
  backlog: 'yes' | 'unknown' | 'no';
}

const norm = (s: string) => s.toLowerCase().replace(/[-.]/g, '_');

/** The (stream, group) pairs a service reads: its contract input, else the groups named like it on any stream. */
export function groupsOf(service: string, streams: StreamInfo[], inputOf: (service: string) => string | undefined): { s: StreamInfo; g: GroupInfo }[] {
  const input = inputOf(service);
  if (input) {
    const s = streams.find((x) => x.stream === input);
    const g = s?.groups.find((x) => x.group === service);
    return s && g ? [{ s, g }] : [];
  }
  const want = norm(service);
  return streams.flatMap((s) => s.groups.filter((g) => norm(g.group) === want).map((g) => ({ s, g })));
}

/** What waits in one group, by the invariants: caught up ⇒ 0; 0 ≤ lag ≤ entries-added; lag 0 while entries wait is wrong. */
export function inputWait(s: StreamInfo, g: GroupInfo): InputWait {
  const base = { stream: s.stream, group: g.group, pending: g.pending };
  if (s.length === 0) return { ...base, undelivered: 0, behind: false, source: 'ids' };
  const behind = s.last_id ? compareIds(s.last_id, g.last_delivered_id) > 0 : null;
  if (behind === false) return { ...base, undelivered: 0, behind, source: 'ids' };
  const plausible = g.lag !== null && g.lag > 0 && (s.entries_added === null || g.lag <= s.entries_added);
  if (plausible) return { ...base, undelivered: g.lag, behind: true, source: 'lag' };
  if (behind === null && g.lag === 0) return { ...base, undelivered: 0, behind: false, source: 'lag' };
  return { ...base, undelivered: null, behind, source: 'unknown' };
}

/**
 * Is a running service silent? `h` is its heartbeat hash. Returns the evidence when it has
 * handled nothing for more than `silentMs` (since its last message, or since it started)
 * while its input waits, or when its input has entries newer than its last message by more
 * than `silentMs`; null otherwise.
 */
export function silentOf(
  service: string,
  h: Record<string, string>,
  streams: StreamInfo[],
  inputOf: (service: string) => string | undefined,
  now: number,
  silentMs: number,
): SilentEvidence | null {
  const lastMsg = Number(h.last_msg_at);
  const started = Number(h.started_at);
  const since = Number.isFinite(lastMsg) && lastMsg > 0 ? lastMsg : Number.isFinite(started) && started > 0 ? started : null;
  const pairs = groupsOf(service, streams, inputOf);
  const inputs = pairs.map(({ s, g }) => inputWait(s, g));
  const handled = since ?? 0;
  // newer entries: on its groups' streams, and on its contract input even when its group is missing
  const input = inputOf(service);
  const watched = new Set([...pairs.map((p) => p.s), ...streams.filter((x) => x.stream === input)]);
  // Nothing handled yet: count from its start (entries older than that are lag, not silence).
  const handledOrStart = Math.max(Number.isFinite(lastMsg) ? lastMsg : 0, Number.isFinite(started) ? started : 0, 0);
  const newer = [...watched].some((s) => s.last_entry_ms !== null && s.last_entry_ms - handledOrStart > silentMs);
  const waits = inputs.some((w) => w.pending > 0 || w.behind === true || (w.undelivered ?? 0) > 0);
  const unknown = !waits && inputs.some((w) => w.source === 'unknown');
  const backlog = waits ? 'yes' : unknown ? 'unknown' : 'no';
  const quietLong = since === null || now - handled > silentMs;
  if (newer || (quietLong && backlog !== 'no')) return { since_ms: since, inputs, newer_entries: newer, backlog };
  return null;
}

/** "45 undelivered and 6 pending in apply_layer on apply.plan" for a message. */
export function describeWaits(e: SilentEvidence): string {
  const parts = e.inputs
    .filter((w) => w.pending > 0 || w.behind !== false || (w.undelivered ?? 0) > 0)
    .map((w) => `${w.undelivered === null ? (w.behind ? 'an unknown number of (lag unknown)' : 'possibly some (lag unknown)') : w.undelivered.toLocaleString('en-US')} undelivered and ${w.pending.toLocaleString('en-US')} pending in group ${w.group} on ${w.stream}`);
  if (parts.length) return parts.join('; ');
  return e.newer_entries ? 'its input has newer entries' : 'its input waits';
}
