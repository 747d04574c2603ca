/**
 * Services from their heartbeat hashes (`{prefix}:svc:{name}`) and the registry of
 * expected services (`{prefix}:svc:registry`). A registry member with no live heartbeat
 * is down; without a registry (a deployment that is not ours) expected services are unknown.
 */
import type { ServiceInfo, StreamInfo } from './read-model.js';
import { num, str } from './redis-read.js';
import { STAGE_INPUT, type StageName } from '../contract/names.js';

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
      raw === 'failed' ? 'failed' : raw === 'degraded' ? 'degraded' : raw === 'stopping' ? 'stopping' : raw === 'starting' ? 'starting' : 'running';
    if (status === 'running') {
      // Silent: its input has entries newer than the last message it handled (by more than silentMs).
      const input = inputOf(name);
      const s = input ? streams.find((x) => x.stream === input) : undefined;
      // Nothing handled yet: count from its start (entries older than that are lag, not silence).
      const handled = Math.max(lastMsg ?? 0, num(h.started_at) ?? 0);
      if (s && s.last_entry_ms !== null && s.last_entry_ms - handled > silentMs) status = 'silent';
    }
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
    });
  }
  return out;
}

/** The contract stream a service reads, if it is one of our stages. */
export function defaultInputOf(service: string): string | undefined {
  return STAGE_INPUT[service as StageName];
}
