/**
 * The end of a replay (the lock step has settled its last point, replay-lockstep.ts): build the run report from Redis (fills and signals written since the run started), store it
 * under `{prefix}:replay:report` (JSON) and return it.
 */
import type { Redis } from 'ioredis';
import type { Names } from '../contract/names.js';
import { buildReplayReport, type ReplayReport } from './replay-report.js';
import type { ReplayPriceSource } from './market/replay.js';

async function readSince(redis: Redis, key: string, startId: string, max = 200_000): Promise<Record<string, string>[]> {
  const rows: Record<string, string>[] = [];
  let from = startId;
  while (rows.length < max) {
    const page = (await redis.xrange(key, from, '+', 'COUNT', 2000)) as [string, string[]][];
    for (const [id, f] of page) {
      if (id === from && rows.length) continue;
      const o: Record<string, string> = {};
      for (let i = 0; i + 1 < f.length; i += 2) o[f[i]] = f[i + 1];
      rows.push(o);
    }
    if (page.length < 2000) break;
    from = `(${page[page.length - 1][0]}`;
  }
  return rows;
}

/** Builds the report of the run that started at `startMs` (epoch ms), stores it and returns it. */
/**
 * @param o.startMs wall ms the run started (stream entries from then on are the run's)
 * @param o.seed the replay's seed (QT_REPLAY_SEED), @param o.wallMs the run's wall time (ms), both printed
 */
export async function writeReplayReport(redis: Redis, names: Names, source: ReplayPriceSource, o: { startMs: number; startBalanceUsd: number; now?: number; seed?: number; wallMs?: number }): Promise<ReplayReport> {
  const startId = `${o.startMs}-0`;
  const [executions, signals] = await Promise.all([
    readSince(redis, names.stream('execution.result'), startId),
    readSince(redis, names.stream('ai.signal_generated'), startId),
  ]);
  let open = 0;
  for (const s of source.symbols) if (Number(await redis.hget(names.position(s), 'qty')) > 0) open++;
  const p = source.progress();
  const report = buildReplayReport({
    symbols: source.symbols,
    from: p.from,
    to: p.at,
    speed: Math.round(p.effectiveSpeed),
    executions,
    signals,
    history: source.history,
    startBalanceUsd: o.startBalanceUsd,
    openPositions: open,
    now: o.now ?? Date.now(),
    seed: o.seed,
    wallMs: o.wallMs,
  });
  await redis.set(names.replayReport(), JSON.stringify({ ...report, finished: p.finished }));
  return report;
}
