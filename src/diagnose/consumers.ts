/**
 * `qt cleanup consumers`: consumers idle past a threshold holding nothing pending (the
 * seeds' group had 23). Deleting one re-checks atomically (Lua) that it still holds
 * nothing, so no pending entry is ever lost.
 */
import { STREAMS, type Names } from '../contract/names.js';
import { Reader, num, replyMap, str, type Cmd, type ReadTarget } from './redis-read.js';
import { UnavailableError } from '../errors.js';
import { collectStreams } from './streams.js';

export interface DeadConsumer {
  stream: string;
  key: string;
  group: string;
  consumer: string;
  idle_ms: number;
}

export const DELETE_IF_NOTHING_PENDING = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`;

/**
 * Consumers idle at least `idleMs` (ms) with nothing pending, in every stream under the prefix;
 * on a Redis Cluster every primary is scanned and each stream read on its node. Throws
 * UnavailableError when part of a cluster could not be read (a partial list is not the whole).
 */
export async function listDeadConsumers(redis: ReadTarget, names: Names, idleMs: number, now = Date.now()): Promise<DeadConsumer[]> {
  const rd = new Reader(redis);
  const keys = new Map<string, { key: string; name: string; known: boolean }>();
  for (const s of STREAMS) keys.set(names.stream(s), { key: names.stream(s), name: s, known: true });
  for (const k of await rd.scan(names.streamPattern())) if (!keys.has(k)) keys.set(k, { key: k, name: names.shortStreamName(k), known: false });
  const { streams } = await collectStreams(rd, [...keys.values()], now, Number.MAX_SAFE_INTEGER);
  // Diagnostics never list a group with more than MAX_CONSUMERS_LISTED consumers (a leak:
  // XINFO CONSUMERS on 200,000 blocks Redis ~30 ms, redis#8635). Cleanup is the operator's
  // explicit request to remove them, so it lists such groups once, one call each.
  const big = streams.flatMap((s) => s.groups.filter((g) => g.consumers > 0 && !g.consumers_listed).map((g) => ({ s, g })));
  const res = await rd.batch(big.map(({ s, g }): Cmd => ['xinfo', 'CONSUMERS', s.key, g.group]));
  big.forEach(({ g }, i) => {
    if (!Array.isArray(res[i]!.val)) return;
    for (const raw of res[i]!.val as unknown[]) {
      const cm = replyMap(raw);
      g.consumer_details.push({ name: str(cm['name']), pending: num(cm['pending']) ?? 0, idle_ms: num(cm['idle']) ?? 0, inactive_ms: num(cm['inactive']) });
    }
  });
  if (rd.unreachable.size) throw new UnavailableError(`part of the Redis cluster could not be read (${[...rd.unreachable].slice(0, 3).join('; ')}): consumers there are unknown`);
  const out: DeadConsumer[] = [];
  for (const s of streams)
    for (const g of s.groups)
      for (const c of g.consumer_details)
        if (c.pending === 0 && c.idle_ms > idleMs) out.push({ stream: s.stream, key: s.key, group: g.group, consumer: c.name, idle_ms: c.idle_ms });
  return out;
}

export async function cleanupConsumers(
  redis: ReadTarget, names: Names, opts: { dryRun: boolean; idleMs: number },
): Promise<{ dry_run: boolean; consumers: DeadConsumer[]; deleted: number; kept: string[] }> {
  const consumers = await listDeadConsumers(redis, names, opts.idleMs);
  if (opts.dryRun || !consumers.length) return { dry_run: opts.dryRun, consumers, deleted: 0, kept: [] };
  // one single-key script per consumer (on a cluster each goes to the node owning the stream)
  const client = new Reader(redis).redis;
  const res = await Promise.all(consumers.map((c) => client.eval(DELETE_IF_NOTHING_PENDING, 1, c.key, c.group, c.consumer)));
  let deleted = 0;
  const kept: string[] = [];
  res.forEach((v, i) => {
    if (Number(v) === -1) kept.push(`${consumers[i]!.stream} ${consumers[i]!.group} ${consumers[i]!.consumer}`);
    else deleted++;
  });
  return { dry_run: false, consumers, deleted, kept };
}
