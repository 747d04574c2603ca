/**
 * Services from their heartbeat hashes (`{prefix}:svc:{name}`) and the registry of
 * expected services (`{prefix}:svc:registry`). A registry member with no live heartbeat
 * is down; without a registry (a deployment that is not ours) expected services are unknown.
 */
import type { ServiceInfo, StreamInfo } from './read-model.js';
import { num, str } from './redis-read.js';
import { STAGE_INPUT, type StageName } from '../contract/names.js';
import { silentOf } from './service-input.js';

/** A standby mark (`standby_at`) older than this is a standby that went away. */
export const STANDBY_FRESH_MS = 60_000;

export function serviceInfos(
  beats: Map<string, Record<string, string>>,
  registry: string[] | null,
  streams: StreamInfo[],
  inputOf: (service: string) => string | undefined,
  now: number,
  silentMs: number,
): ServiceInfo[] {
  const names = new Set<string>([...beats.keys(), ...(registry ?? [])]);
  const out: ServiceInfo[] = [];
  for (const name of [...names].sort()) {
    const h = beats.get(name);
    const expected = registry ? registry.includes(name) : false;
    if (!h || Object.keys(h).length === 0) {
      out.push({
        service: name, status: 'down', expected, beat_age_s: null, last_msg_age_s: null, processed: null,
        errors: null, last_error: '', detail: '', mode: null, pid: null, host: null,
      });
      continue;
    }
    const beatAt = num(h.beat_at);
    const lastMsg = num(h.last_msg_at);
    const raw = str(h.status).toLowerCase();
    let status: ServiceInfo['status'] =
      raw === 'failed' ? 'failed' : raw === 'degraded' ? 'degraded' : raw === 'stopping' ? 'stopping' : raw === 'starting' ? 'starting' : raw === 'standby' ? 'standby' : 'running';
    const standbyAt = num(h.standby_at);
    // Silent: it handled nothing for silentMs while its group's backlog waits, or its input has newer entries (service-input.ts).
    const silent = status === 'running' ? silentOf(name, h, streams, inputOf, now, silentMs) : null;
    if (silent) status = 'silent';
    // A clean stop leaves its last beat (`stopping`, `stopped_at`): down, stopped since then.
    const stoppedAt = raw === 'stopping' ? num(h.stopped_at) : null;
    if (stoppedAt) status = 'down';
    out.push({
      service: name,
      status,
      expected,
      beat_age_s: beatAt && beatAt > 0 ? Math.max(0, Math.round((now - beatAt) / 1000)) : null,
      last_msg_age_s: lastMsg && lastMsg > 0 ? Math.max(0, Math.round((now - lastMsg) / 1000)) : null,
      processed: num(h.processed),
      errors: num(h.errors),
      last_error: str(h.last_error),
      detail: str(h.detail),
      mode: h.mode ? str(h.mode) : null,
      pid: h.pid ? str(h.pid) : null,
      host: h.host ? str(h.host) : null,
      ...(silent ? { silent } : {}),
      ...(stoppedAt ? { stopped_at: stoppedAt } : {}),
      standby: h.standby && standbyAt && now - standbyAt <= STANDBY_FRESH_MS ? str(h.standby) : null,
    });
  }
  return out;
}

/** The contract stream a service reads, if it is one of our stages. */
export function defaultInputOf(service: string): string | undefined {
  return STAGE_INPUT[service as StageName];
}
