/**
 * The singleton leases of a prefix (`{prefix}:lease:{stage}`, CONTRACT.md §2): one
 * pipelined round of GET and PTTL over the lease keys the key scan found.
 */
import type { Names } from '../contract/names.js';
import type { LeaseInfo } from './read-model.js';
import type { Cmd, Reader } from './redis-read.js';

/** Reads each lease key's holder and remaining TTL; a key gone meanwhile is left out. */
export async function collectLeases(rd: Reader, names: Names, keys: string[]): Promise<LeaseInfo[]> {
  if (keys.length === 0) return [];
  // GET and PTTL of the lease, then the stage's heartbeat owner (read after the lease: a holder
  // beats right after taking it, so a heartbeat missing from the earlier key scan shows here).
  const cmds: Cmd[] = keys.flatMap((k): Cmd[] => [['get', k], ['pttl', k], ['hmget', names.service(names.leaseStageOf(k) ?? k), 'host', 'pid']]);
  const r = await rd.batch(cmds);
  const out: LeaseInfo[] = [];
  keys.forEach((key, i) => {
    const holder = r[3 * i]?.val;
    const pttl = r[3 * i + 1]?.val;
    const hb = r[3 * i + 2]?.val;
    if (typeof holder !== 'string' || holder === '') return;
    const [host, pid] = Array.isArray(hb) ? hb : [];
    const beatOwner = typeof host === 'string' && typeof pid === 'string' && host && pid ? `${host}:${pid}` : null;
    out.push({ stage: names.leaseStageOf(key) ?? key, key, holder, pttl_ms: typeof pttl === 'number' && pttl >= -1 ? pttl : null, beat_owner: beatOwner });
  });
  return out.sort((a, b) => a.stage.localeCompare(b.stage));
}
