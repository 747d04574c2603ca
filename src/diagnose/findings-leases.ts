/**
 * ENGINE_CONTENDED (CONTRACT.md §4): what the singleton leases (`{prefix}:lease:{stage}`)
 * and the heartbeats say about engines sharing one prefix. Pure.
 *
 * - crit: a singleton's heartbeat says `running` from another process than the lease's
 *   holder: two engines run the stage at once (one without the lease: an older qt, or a
 *   process that lost it and kept going), and its work is doubled;
 * - warn: a lease is held by a process whose heartbeat is gone (or says standby): the
 *   stage does not run, and a standby can take it only when the lease expires;
 * - info: a second engine waits as standby (a hot standby, or a `qt up` started twice):
 *   harmless while it waits, and worth knowing.
 */
import type { Finding, LeaseInfo, PipelineSnapshot, ServiceInfo } from './read-model.js';

const owner = (s: ServiceInfo): string | null => (s.host && s.pid ? `${s.host}:${s.pid}` : null);
const ACTING = new Set<ServiceInfo['status']>(['running', 'silent', 'degraded', 'failed', 'starting']);

/** ENGINE_CONTENDED findings of a snapshot (none when it has no leases and no standby). */
export function engineContendedFindings(snap: PipelineSnapshot): Finding[] {
  const out: Finding[] = [];
  const leases = snap.leases ?? [];
  const byStage = new Map<string, LeaseInfo>(leases.map((l) => [l.stage, l]));
  for (const l of leases) {
    const s = snap.services.find((x) => x.service === l.stage);
    const o = s ? owner(s) : null;
    const ttl = l.pttl_ms !== null && l.pttl_ms >= 0 ? `${l.pttl_ms} ms` : 'no TTL';
    if (s && ACTING.has(s.status) && o && o !== l.holder) {
      out.push({
        code: 'ENGINE_CONTENDED', severity: 'crit', subject: l.stage,
        message: `two engines run ${l.stage} at once: its lease is held by ${l.holder} but ${o} beats as ${s.status}; its work (ticks, signals, exits) is doubled`,
        evidence: { stage: l.stage, lease: l.key, lease_holder: l.holder, lease_pttl_ms: l.pttl_ms, heartbeat_owner: o, heartbeat_status: s.status },
        fix: `stop one of the two engines on prefix ${snap.prefix} (the one at ${o} if it runs a qt without leases); run a second engine only as a standby of the same version`,
      });
    } else if (!s && l.beat_owner === l.holder) {
      // the holder's first beat came after the key scan: it beats as the holder
      continue;
    } else if (!s || s.status === 'down' || s.status === 'standby' || s.status === 'stopping' || o !== l.holder) {
      out.push({
        code: 'ENGINE_CONTENDED', severity: 'warn', subject: l.stage,
        message: `the lease of ${l.stage} is held by ${l.holder}, which does not beat as its holder (${s ? `heartbeat ${s.status}${o ? ` from ${o}` : ''}` : 'no heartbeat'}): ${l.stage} does not run, and a standby takes over only when the lease ends (${ttl} left)`,
        evidence: { stage: l.stage, lease: l.key, lease_holder: l.holder, lease_pttl_ms: l.pttl_ms, heartbeat_owner: o, heartbeat_status: s?.status ?? null },
        fix: `check the process ${l.holder} (hung? its Redis user denied the heartbeat?); if it is gone for good, delete ${l.key} so a standby takes over now`,
      });
    }
  }
  const standbys = snap.services.filter((s) => s.standby && byStage.get(s.service)?.holder !== s.standby);
  if (standbys.length) {
    const engines = [...new Set(standbys.map((s) => s.standby!))];
    out.push({
      code: 'ENGINE_CONTENDED', severity: 'info', subject: 'engines',
      message: `${engines.length === 1 ? `a second engine (${engines[0]}) waits` : `${engines.length} more engines (${engines.join(', ')}) wait`} as standby for ${standbys.map((s) => s.service).join(', ')} on prefix ${snap.prefix}; it takes over within a lease TTL if the holder dies`,
      evidence: { standby: standbys.map((s) => ({ stage: s.service, standby: s.standby, holder: byStage.get(s.service)?.holder ?? owner(s) })) },
      fix: 'nothing to do for a planned standby; otherwise stop the engine started twice (qt up on the same prefix)',
    });
  }
  return out;
}
