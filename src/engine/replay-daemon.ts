/**
 * `qt up --market replay`: loads the candle files (one clear line naming the file and row when
 * one is wrong), trades on the replayed prices until the last candle has been played and the
 * pipeline has handled what it caused, then prints the run report and stores it under
 * `{prefix}:replay:report` (shown by `qt diagnose pipeline`). The same data and seed give the same
 * report (docs/replay.md). Stopped early (a signal, `--for`),
 * it reports what was played, marked unfinished.
 */
import type { Config } from '../config/config.js';
import { connectRedis } from '../redis/connect.js';
import type { DaemonOptions } from './daemon.js';
import { createReplaySource } from './market/replay.js';
import { ReplayLockStep, replayConfig } from './replay-lockstep.js';
import { formatReplayReport } from './replay-report.js';
import { writeReplayReport } from './replay-run.js';

/**
 * Runs the daemon on a replay, in lock step on the replay clock (replay-lockstep.ts), until the
 * last point has been played and settled, and prints its report on stdout.
 * @returns the daemon's exit code.
 * @throws UsageError for a bad replay file or setting.
 */
export async function runReplay(config: Config, o: DaemonOptions, runDaemon: (c: Config, o: DaemonOptions) => Promise<number>): Promise<number> {
  const source = createReplaySource({ ...config.replay, tickMs: config.market_.tickMs, lockStep: true });
  const lock = new ReplayLockStep({ source, seed: config.replay.seed, speed: config.replay.speed });
  const cfg = replayConfig(config, lock);
  const startMs = Date.now();
  const redis = await connectRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli', name: 'qt:replay' });
  redis.on('error', () => undefined);
  let code: number;
  const t0 = performance.now();
  code = await runDaemon(cfg, { ...o, priceSource: source, replay: lock, stopAtReplayEnd: true });
  const wallMs = Math.round(performance.now() - t0);
  try {
    const report = await writeReplayReport(redis, cfg.names, source, { startMs, startBalanceUsd: cfg.paper.balance, seed: lock.seed, wallMs });
    const finished = source.progress().finished;
    process.stdout.write(`${formatReplayReport(report)}${finished ? '' : '\n  (stopped before the end of the replay: figures cover what was played)'}\n`);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  return code;
}
