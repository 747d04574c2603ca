/**
 * Findings about streams, consumer groups and consumers (CONTRACT.md §4): STREAM_STALE,
 * GROUP_STARVING, STREAM_UNCONSUMED, GROUP_LAGGING, PENDING_STUCK, CONSUMER_DEAD. Pure.
 */
import type { Finding, GroupInfo, PipelineSnapshot, StreamInfo } from './read-model.js';
import type { Thresholds } from './thresholds.js';
import { closestStreams } from './streams.js';
import { groupCheckFindings, judgedLag } from './findings-groups.js';
import { idMs } from './redis-read.js';
import { STAGE_OUTPUTS } from '../contract/names.js';

const TOOL = new Set(['stage.rejected', 'dead.letter']);
/** streams nobody has to read with a group (read by tools, optional consumers, or XREAD) */
const OPTIONAL = new Set(['apply.result', 'execution.result', 'risk.proposal', 'rl.proposal', 'policy.updated']);
const CONTROL = /(^|[.:_-])(policy|control|retrain|reconcile|config|command|admin|manual_review)([.:_-]|$)/i;

export function isControlPlane(name: string): boolean {
  return name === 'policy.updated' || CONTROL.test(name);
}

/** Is a stage that writes `stream` (STAGE_OUTPUTS) beating as running or starting? */
function producerRunning(snap: PipelineSnapshot, stream: string): boolean {
  const writers = Object.entries(STAGE_OUTPUTS).filter(([, l]) => (l as readonly string[] | undefined)?.includes(stream)).map(([k]) => k);
  return snap.services.some((x) => writers.includes(x.service) && (x.status === 'running' || x.status === 'starting'));
}

export const fmtAge = (s: number | null): string =>
  s === null ? 'unknown' : s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : s < 172800 ? `${(s / 3600).toFixed(1)} h` : `${(s / 86400).toFixed(1)} days`;
const n = (x: number) => x.toLocaleString('en-US');

function candidateEvidence(s: StreamInfo) {
  return { stream: s.stream, length: s.length, newest_age_s: s.age_s, groups: s.groups.map((g) => g.group) };
}

export function streamFindings(snap: PipelineSnapshot, th: Thresholds): Finding[] {
  const out: Finding[] = [];
  const data = snap.streams.filter((s) => !TOOL.has(s.stream));
  const live = data.filter((s) => s.length > 0 && s.age_s !== null && s.age_s * 1000 <= th.staleMs);
  const starvingTargets = new Set<string>();

  for (const s of data) {
    for (const g of s.groups) {
      const empty = s.length === 0 || s.entries_added === 0;
      // empty now, but entries were added in its life (trimmed or deleted): never "never received"
      const emptied = s.length === 0 && (s.entries_added ?? 0) > 0;
      const stale = s.age_s !== null && s.age_s * 1000 > th.staleMs;
      if (empty || stale) {
        const c = closestStreams(s.stream, live);
        if (!empty && !c.strong) continue; // a stale stream with no look-alike: STREAM_STALE says it
        const matches = empty ? c.matches : c.matches.slice(0, c.strong ? 3 : 0);
        // A fresh start: the stream is empty because its producer, running, has had nothing
        // to write yet (the first signal comes after one evaluation period). Not starving.
        // (Look-alikes of the contract carry their own traffic; only a look-alike outside the
        // contract says the producer writes under another name.)
        if (empty && s.known && producerRunning(snap, s.stream) && matches.every((m) => m.known)) continue;
        for (const m of matches) starvingTargets.add(m.stream);
        const sev = matches.length ? 'crit' : isControlPlane(s.stream) ? 'info' : 'warn';
        const best = matches[0];
        out.push({
          code: 'GROUP_STARVING',
          severity: sev,
          subject: `${s.stream} ${g.group}`,
          message: `group ${g.group} waits on ${s.stream}, which ${emptied ? `is empty: all ${n(s.entries_added!)} entries it received were trimmed or deleted` : empty ? 'has never received an entry' : `has received nothing for ${fmtAge(s.age_s)}`}` +
            (best ? `; streams with traffic named like it: ${matches.map((m) => `${m.stream} (${n(m.length)} entries, newest ${fmtAge(m.age_s)} ago)`).join(', ')}` : isControlPlane(s.stream) ? ' (a control-plane stream: quiet may be normal)' : ''),
          evidence: {
            stream: s.stream, key: s.key, group: g.group, consumers: g.consumers, length: s.length, entries_added: s.entries_added,
            entries_read: g.entries_read, newest_age_s: s.age_s, closest_streams_with_traffic: matches.map(candidateEvidence),
          },
          fix: best
            ? `the consumer of group ${g.group} probably means ${best.stream}: point it there (for qt, QT_STREAM_* settings; for other services, their stream setting), or start whatever should write ${s.stream}; then remove the idle group (XGROUP DESTROY ${s.key} ${g.group})`
            : isControlPlane(s.stream)
              ? `nothing to do unless ${s.stream} should carry commands; if so, start its producer`
              : `start the producer of ${s.stream}, or point group ${g.group} at the stream that carries its input`,
        });
      }
    }
  }

  const liveOthers = (s: StreamInfo) => live.some((x) => x.stream !== s.stream);
  const stale = data.filter((s) => s.length > 0 && s.stale && !isControlPlane(s.stream));
  if (live.length === 0 && stale.length > 0) {
    out.push({
      code: 'STREAM_STALE', severity: 'warn', subject: 'pipeline',
      message: `no stream has an entry newer than ${fmtAge(th.staleMs / 1000)}: the pipeline is idle`,
      evidence: { streams: stale.map((s) => ({ stream: s.stream, length: s.length, newest_age_s: s.age_s })) },
      fix: 'start the producers (qt up, or the deployment\'s services) and check `qt diagnose services`',
    });
  } else {
    for (const s of stale) {
      if (!liveOthers(s)) continue;
      const crit = (s.age_s ?? 0) * 1000 > th.staleCritMs;
      out.push({
        code: 'STREAM_STALE', severity: crit ? 'crit' : 'warn', subject: s.stream,
        message: `${s.stream} has no entry newer than ${fmtAge(s.age_s)} (threshold ${fmtAge(th.staleMs / 1000)}) while ${live.map((x) => x.stream).slice(0, 3).join(', ')} are live`,
        evidence: { stream: s.stream, length: s.length, newest_entry_ms: s.last_entry_ms, newest_age_s: s.age_s, threshold_s: th.staleMs / 1000, live_streams: live.map((x) => x.stream) },
        fix: `find the service that writes ${s.stream} (contract §1) and check it with \`qt diagnose services\`: a service can beat and still publish nothing; restart it and watch the stream's newest age`,
      });
    }
  }

  for (const s of data) {
    if (s.groups.length > 0 || s.length === 0 || s.stream === 'policy.updated') continue;
    if (s.age_s !== null && s.age_s * 1000 > th.staleMs) continue;
    const pair = starvingTargets.has(s.stream);
    // Optional streams of the contract have no consumer by design: not a finding, unless
    // a group waits on a look-alike of one (then the name is wrong somewhere).
    if (OPTIONAL.has(s.stream) && !pair) continue;
    const sev = pair ? 'crit' : OPTIONAL.has(s.stream) ? 'info' : 'warn';
    const starving = snap.streams.filter((x) => x.groups.length && (x.length === 0 || x.entries_added === 0) && closestStreams(x.stream, [s]).strong);
    out.push({
      code: 'STREAM_UNCONSUMED', severity: sev, subject: s.stream,
      message: `${s.stream} receives entries (${n(s.length)}, newest ${fmtAge(s.age_s)} ago) but no consumer group reads it` +
        (starving.length ? `; group(s) ${starving.map((x) => `${x.groups.map((g) => g.group).join('/')} on ${x.stream}`).join(', ')} wait on a look-alike stream` : ''),
      evidence: { stream: s.stream, key: s.key, length: s.length, newest_age_s: s.age_s, starving_lookalikes: starving.map((x) => ({ stream: x.stream, groups: x.groups.map((g) => g.group) })) },
      fix: OPTIONAL.has(s.stream) && !pair
        ? `optional consumer: nothing to do unless a service should read ${s.stream}`
        : `start the consumer that should read ${s.stream} (contract §1), or fix the consumer's stream name; entries written here are otherwise lost work`,
    });
  }

  for (const s of snap.streams) for (const g of s.groups) out.push(...groupFindings(snap, s, g, th));
  return out;
}

function groupFindings(snap: PipelineSnapshot, s: StreamInfo, g: GroupInfo, th: Thresholds): Finding[] {
  const out: Finding[] = [...groupCheckFindings(snap, s, g, th)];
  const subject = `${s.stream} ${g.group}`;
  // the checked backlog (lag.ts), or the lower bound of an estimate: never Redis's figure unchecked
  const { lag, atLeast } = judgedLag(g);
  if (lag !== null && lag >= th.lagWarn) {
    out.push({
      code: 'GROUP_LAGGING', severity: lag >= th.lagCrit ? 'crit' : 'warn', subject,
      message: `group ${g.group} is ${atLeast ? 'at least ' : ''}${n(lag)} entries behind on ${s.stream}` +
        (g.lag_check && g.lag_check.source !== 'redis' ? ` (${g.lag_check.how}; Redis says ${g.lag_check.redis_lag ?? 'null'})` : ''),
      evidence: {
        lag, at_least: atLeast, lag_source: g.lag_check?.source ?? 'redis', lag_reason: g.lag_check?.reason ?? null, redis_lag: g.lag_check?.redis_lag ?? g.lag,
        entries_read: g.entries_read, length: s.length, consumers: g.consumers, pending: g.pending, warn: th.lagWarn, crit: th.lagCrit,
      },
      fix: g.consumers === 0 ? `no consumer is attached: start the service that reads ${s.stream} as ${g.group}` : `the consumers cannot keep up: check they are alive (\`qt diagnose streams\`), add consumers, or raise the batch size`,
    });
  }
  const op = g.oldest_pending;
  if (op && op.idle_ms > th.pendingIdleMs) {
    const poison = op.deliveries >= th.poisonDeliveries;
    out.push({
      // a poison entry is PENDING_POISON's (crit) whenever a PEL sample was read
      code: 'PENDING_STUCK', severity: poison && !g.pending_sample ? 'crit' : 'warn', subject,
      message: `${n(g.pending)} entr${g.pending === 1 ? 'y' : 'ies'} pending in ${g.group} on ${s.stream}; the oldest (${op.id}) is unacknowledged for ${fmtAge(Math.round(op.idle_ms / 1000))} after ${op.deliveries} deliver${op.deliveries === 1 ? 'y' : 'ies'}${poison ? ' (a poison message: see PENDING_POISON)' : ''}`,
      evidence: {
        pending: g.pending, oldest_id: op.id, consumer: op.consumer, idle_ms: op.idle_ms, deliveries: op.deliveries, threshold_ms: th.pendingIdleMs,
        // age from the id (auto-generated ids only): idle restarts at every claim
        oldest_id_age_ms: ((ms) => (ms === null ? null : Math.max(0, snap.generated_at - ms)))(idMs(op.id, snap.generated_at)),
      },
      fix: poison
        ? `look at it (XRANGE ${s.key} ${op.id} ${op.id}); if it can never be processed, copy it to dead.letter and XACK ${s.key} ${g.group} ${op.id} (qt stages do this after QT_MAX_DELIVERIES)`
        : `the consumer ${op.consumer} holds it: if that consumer is dead, restart the service so it reclaims (XAUTOCLAIM) its pending entries`,
    });
  }
  const dead = g.consumer_details.filter((c) => c.idle_ms > th.consumerIdleMs);
  if (dead.length) {
    const holding = dead.filter((c) => c.pending > 0);
    out.push({
      code: 'CONSUMER_DEAD', severity: holding.length ? 'warn' : 'info', subject,
      message: `${dead.length} of ${g.consumers} consumers of ${g.group} idle past ${fmtAge(th.consumerIdleMs / 1000)}` +
        (holding.length ? `, ${holding.length} holding ${n(holding.reduce((a, c) => a + c.pending, 0))} pending entries` : ', none holding pending entries'),
      evidence: {
        consumers: g.consumers, dead: dead.length, holding_pending: holding.length,
        examples: dead.sort((a, b) => b.pending - a.pending).slice(0, 5).map((c) => ({ name: c.name, pending: c.pending, idle_ms: c.idle_ms })),
      },
      fix: holding.length
        ? `restart a consumer of ${g.group} so it reclaims their pending entries (XAUTOCLAIM), then \`qt cleanup consumers --dry-run\``
        : `remove them: \`qt cleanup consumers --dry-run\`, then \`--yes\``,
    });
  }
  return out;
}
