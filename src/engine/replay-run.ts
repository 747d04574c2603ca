/**
 * The end of a replay: wait until the pipeline has handled everything the replay caused, then
 * build the run report from Redis (fills and signals written since the run started), store it
 * under `{prefix}:replay:report` (JSON) and return it.
 */
import type { Redis } from 'ioredis';
import { STAGE_INPUT, type Names, type StreamName } from '../contract/names.js';
import { replyMap } from '../redis/connect.js';
import { buildReplayReport, type ReplayReport } from './replay-report.js';
import type { ReplayPriceSource } from './market/replay.js';

/** Compares two stream ids (`ms-seq`). */
function cmpId(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/**
 * True when every consumer group on the pipeline's input streams has nothing waiting: no
 * pending entry and a last-delivered-id at or after the stream's last id (the invariant that
 * holds whatever XINFO's `lag` says; REDIS-STREAMS-FACTS.md).
 */
export async function pipelineIdle(redis: Redis, names: Names): Promise<boolean> {
  const streams = [...new Set(Object.values(STAGE_INPUT))] as StreamName[];
  for (const s of streams) {
    const key = names.stream(s);
    let last: string | null = null;
    try {
      const info = replyMap(await redis.xinfo('STREAM', key));
      last = info['last-generated-id'] ? String(info['last-generated-id']) : null;
    } catch {
      continue; // no such stream: nothing waits on it
    }
    const groups = (await redis.xinfo('GROUPS', key)) as unknown[];
    for (const g of groups) {
      const m = replyMap(g);
      if (Number(m.pending) > 0) return false;
      if (last && last !== '0-0' && cmpId(String(m['last-delivered-id']), last) < 0) return false;
    }
  }
  return true;
}

/**
 * Waits until the pipeline is idle on two checks in a row (`everyMs` apart), or `deadlineMs`
 * passed, or `signal` aborts. Resolves true when idle was seen.
 */
export async function waitPipelineIdle(redis: Redis, names: Names, o: { everyMs?: number; deadlineMs: number; signal?: AbortSignal }): Promise<boolean> {
  const until = Date.now() + o.deadlineMs;
  let quietOnce = false;
  while (Date.now() < until && !o.signal?.aborted) {
    const idle = await pipelineIdle(redis, names).catch(() => false);
    if (idle && quietOnce) return true;
    quietOnce = idle;
    await new Promise((r) => setTimeout(r, o.everyMs ?? 500));
  }
  return false;
}

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
export async function writeReplayReport(redis: Redis, names: Names, source: ReplayPriceSource, o: { startMs: number; startBalanceUsd: number; now?: number }): Promise<ReplayReport> {
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
  });
  await redis.set(names.replayReport(), JSON.stringify({ ...report, finished: p.finished }));
  return report;
}
