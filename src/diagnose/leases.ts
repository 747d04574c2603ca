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
  const cmds: Cmd[] = keys.flatMap((k): Cmd[] => [['get', k], ['pttl', k]]);
  const r = await rd.batch(cmds);
  const out: LeaseInfo[] = [];
  keys.forEach((key, i) => {
    const holder = r[2 * i]?.val;
    const pttl = r[2 * i + 1]?.val;
    if (typeof holder !== 'string' || holder === '') return;
    out.push({ stage: names.leaseStageOf(key) ?? key, key, holder, pttl_ms: typeof pttl === 'number' && pttl >= -1 ? pttl : null });
  });
  return out.sort((a, b) => a.stage.localeCompare(b.stage));
}
