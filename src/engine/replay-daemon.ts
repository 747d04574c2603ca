/**
 * `qt up --market replay`: loads the candle files (one clear line naming the file and row when
 * one is wrong), trades on the replayed prices until the last candle has been played and the
 * pipeline has handled what it caused, then prints the run report and stores it under
 * `{prefix}:replay:report` (shown by `qt diagnose pipeline`). Stopped early (a signal, `--for`),
 * it reports what was played, marked unfinished.
 */
import type { Config } from '../config/config.js';
import { connectRedis } from '../redis/connect.js';
import type { DaemonOptions } from './daemon.js';
import { createReplaySource } from './market/replay.js';
import { formatReplayReport } from './replay-report.js';
import { waitPipelineIdle, writeReplayReport } from './replay-run.js';

/**
 * The trading settings for a replay at `speed` (replayed ms per wall ms): the cooldown, when left
 * at its default, is market time (divided by the speed); the evaluation period, when left at its
 * default, is one replayed candle of the feed's four points (4 ticks, at least 100 ms).
 */
export function replayTrading(c: Config, speed: number): Config['trading'] {
  const t = { ...c.trading };
  if (c.sources.QT_TRADER_COOLDOWN_MS === 'default') t.cooldownMs = Math.round(t.cooldownMs / Math.max(1, speed));
  if (c.sources.QT_SIGNAL_INTERVAL_MS === 'default') t.signalIntervalMs = Math.max(100, c.market_.tickMs * 4);
  return t;
}

/** How long the pipeline may take to drain after the last replayed price (ms). */
const DRAIN_DEADLINE_MS = 60_000;

/**
 * Runs the daemon on a replay and prints its report on stdout.
 * @returns the daemon's exit code.
 * @throws UsageError for a bad replay file or setting.
 */
export async function runReplay(config: Config, o: DaemonOptions, runDaemon: (c: Config, o: DaemonOptions) => Promise<number>): Promise<number> {
  const source = createReplaySource({ ...config.replay, tickMs: config.market_.tickMs });
  // The replay's symbols are the ones traded, and time-based trading settings left at their
  // defaults are read as market time: at ×1500 a 60 s cooldown is 40 ms of wall time.
  const cfg: Config = { ...config, symbols: source.symbols, trading: replayTrading(config, source.progress().effectiveSpeed) };
  const startMs = Date.now();
  const redis = await connectRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli', name: 'qt:replay' });
  redis.on('error', () => undefined);
  const drained = new AbortController();
  const until = source.finished.then(() => waitPipelineIdle(redis, cfg.names, { deadlineMs: DRAIN_DEADLINE_MS, signal: drained.signal }));
  let code: number;
  try {
    code = await runDaemon(cfg, { ...o, priceSource: source, until });
  } finally {
    drained.abort();
  }
  try {
    const report = await writeReplayReport(redis, cfg.names, source, { startMs, startBalanceUsd: cfg.paper.balance });
    const finished = source.progress().finished;
    process.stdout.write(`${formatReplayReport(report)}${finished ? '' : '\n  (stopped before the end of the replay: figures cover what was played)'}\n`);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
  return code;
}
