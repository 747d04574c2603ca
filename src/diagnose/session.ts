/** Opens the CLI connection (fails fast, exit 3) and builds a report; used by the commands. */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import { connectRedis } from '../redis/connect.js';
import { UnavailableError, UsageError, errorMessage } from '../errors.js';
import { scrub } from '../config/redact.js';
import { collectSnapshot } from './collect.js';
import { buildReport } from './report.js';
import type { Report } from './read-model.js';
import type { Thresholds } from './thresholds.js';
import type { ReadTarget } from './redis-read.js';

export async function withRedis<T>(cfg: Config, fn: (r: Redis) => Promise<T>): Promise<T> {
  const redis = await connectRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli' });
  try {
    return await fn(redis);
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

/**
 * Like withRedis, for the read-only tools that handle a cluster: when the server at REDIS_URL
 * says `cluster_enabled:1`, `fn` gets a ClusterView (every primary, the owning node for each
 * key) instead of the one connection. Throws UnavailableError (exit 3) when unreachable.
 */
export async function withReadTarget<T>(cfg: Config, fn: (t: ReadTarget) => Promise<T>): Promise<T> {
  return withRedis(cfg, async (redis) => {
    const { isClusterEnabled, openClusterView } = await import('../redis/cluster.js');
    if (!(await isClusterEnabled(redis))) return fn(redis);
    const view = await openClusterView({ url: cfg.redisUrl, tls: cfg.redisTls, name: 'qt:diagnose' });
    try {
      return await fn(view);
    } finally {
      await view.close();
    }
  });
}

/** `forHealth`: only counts matter (ghosts stay in scan order). */
export async function reportOf(cfg: Config, windowMs: number, th: Thresholds, forHealth = false): Promise<Report> {
  return withReadTarget(cfg, async (redis) => {
    try {
      const snap = await collectSnapshot(redis, cfg.names, { windowMs, thresholds: th, url: cfg.redisUrl, sortGhosts: !forHealth });
      return buildReport(snap, th);
    } catch (e) {
      if (e instanceof UsageError) throw e; // a bad QT_DIAG_* value, named
      throw new UnavailableError(`the check could not run: ${scrub(errorMessage(e)).split('\n')[0]}`);
    }
  });
}
