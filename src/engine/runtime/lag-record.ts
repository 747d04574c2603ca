/**
 * Records, with each heartbeat, where a consuming stage's group stands in its input
 * stream, into that minute's metrics hash (`{prefix}:metrics:{stage}:{minute}`), so
 * `qt health` can judge the group's trend by Burrow's rules from history, without sampling.
 * Gauges (the last write of the minute wins), beside the counters: `lag` (omitted when Redis
 * reports null), `entries_read` (omitted when null), `last_delivered_id`, `pending`,
 * `entries_added`, `last_id` (the stream's newest id, '' when empty), `consumers` and
 * `lag_at` (epoch ms). Redis's numbers are recorded raw; readers check them against their
 * invariants (REDIS-STREAMS-FACTS.md). Two pipelined reads and one write per beat.
 */
import type { Redis } from 'ioredis';
import { Names } from '../../contract/names.js';
import { replyMap } from '../../redis/connect.js';
import { METRICS_TTL_S } from './commit.js';

/** The metrics-hash fields this writes (docs/contract.md). */
export const LAG_FIELDS = ['lag', 'entries_read', 'last_delivered_id', 'pending', 'entries_added', 'last_id', 'consumers', 'lag_at'] as const;

const s = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Reads XINFO STREAM and XINFO GROUPS of `streamKey` and writes `group`'s position into the stage's metrics hash of `now`'s minute. */
export async function recordGroupLag(redis: Redis, names: Names, stage: string, streamKey: string, group: string, now = Date.now()): Promise<void> {
  const res = (await redis.pipeline().xinfo('STREAM', streamKey).xinfo('GROUPS', streamKey).exec()) ?? [];
  const [[e1, info], [e2, groups]] = res as [Error | null, unknown][];
  if (e1 || e2 || !Array.isArray(groups)) return;
  const m = replyMap(info);
  const g = groups.map((x) => replyMap(x)).find((x) => String(x['name']) === group);
  if (!g) return;
  const length = Number(m['length'] ?? 0);
  const lastEntry = Array.isArray(m['last-entry']) ? String((m['last-entry'] as unknown[])[0]) : '';
  const fields: Record<string, string> = {
    last_delivered_id: s(g['last-delivered-id']) ?? '',
    pending: s(g['pending']) ?? '0',
    consumers: s(g['consumers']) ?? '0',
    last_id: lastEntry || (length > 0 ? (s(m['last-generated-id']) ?? '') : ''),
    lag_at: String(now),
  };
  for (const [f, v] of [['lag', g['lag']], ['entries_read', g['entries-read']], ['entries_added', m['entries-added']]] as const) if (s(v) !== null) fields[f] = s(v)!;
  const key = names.metrics(stage, Names.minuteOf(now));
  const tx = redis.multi().hset(key, fields);
  // a null lag this minute must not leave an earlier beat's number behind
  for (const f of ['lag', 'entries_read', 'entries_added'] as const) if (!(f in fields)) tx.hdel(key, f);
  await tx.expire(key, METRICS_TTL_S).exec();
}
