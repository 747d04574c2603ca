/**
 * The singleton leases of a prefix (`{prefix}:lease:{stage}`, CONTRACT.md §2): one
 * pipelined round of GET, PTTL and the stage's heartbeat owner over the lease keys the key scan
 * found, and for a lease whose holder has no heartbeat yet one more look RECHECK_MS later.
 */
import type { Names } from '../contract/names.js';
import type { LeaseInfo } from './read-model.js';
import type { Cmd, Reader } from './redis-read.js';

/** How long to wait before reading a lease holder's missing heartbeat once more (ms). */
export const RECHECK_MS = 150;

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
  // A lease with no heartbeat at all: a holder that just took it beats a moment later (its
  // commands queue behind the engine's others). Look once more after RECHECK_MS, once.
  const unseen = out.filter((l) => l.beat_owner === null);
  if (unseen.length) {
    await new Promise((res) => setTimeout(res, RECHECK_MS));
    const again = await rd.batch(unseen.map((l): Cmd => ['hmget', names.service(l.stage), 'host', 'pid']));
    unseen.forEach((l, i) => {
      const [host, pid] = Array.isArray(again[i]?.val) ? (again[i]!.val as unknown[]) : [];
      if (typeof host === 'string' && typeof pid === 'string' && host && pid) l.beat_owner = `${host}:${pid}`;
    });
  }
  return out.sort((a, b) => a.stage.localeCompare(b.stage));
}
