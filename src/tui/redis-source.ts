/**
 * The DataSource over Redis: one `collectSnapshot` + `buildReport` per refresh (the
 * diagnose read model: bounded, pipelined, read-only), and the two operator actions.
 * The connection reconnects forever in the background while commands fail fast, so a
 * Redis restart shows as "reconnecting…" and recovers by itself.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import { redactUrl } from '../config/redact.js';
import { collectSnapshot } from '../diagnose/collect.js';
import { cleanupGhosts, listGhosts } from '../diagnose/ghosts.js';
import type { Report } from '../diagnose/read-model.js';
import { buildReport } from '../diagnose/report.js';
import { DEFAULT_THRESHOLDS, resolveThresholds, type Thresholds } from '../diagnose/thresholds.js';
import { describeRedisError, newRedis, redisOptions } from '../redis/connect.js';
import { setKillSwitch } from '../control/kill-switch.js';
import type { ReadTarget } from '../diagnose/redis-read.js';
import type { ClusterView } from '../redis/cluster.js';
import type { DataSource, GhostApplyResult, GhostPreview } from './data-source.js';

export interface RedisSourceOptions {
  windowMs: number;
  /** where ghost-cleanup backups are written (default: the current directory) */
  backupDir?: string;
}

export class RedisSource implements DataSource {
  readonly endpoint: string;
  private readonly redis: Redis;
  private lastError: Error | undefined;
  private readonly thresholds: Thresholds;
  private connecting: Promise<void> | null = null;
  /** null until the first connection says whether Redis is a cluster */
  private isCluster: boolean | null = null;
  private view: ClusterView | null = null;

  constructor(
    private readonly config: Config,
    private readonly opts: RedisSourceOptions,
  ) {
    this.endpoint = redactUrl(config.redisUrl);
    const base = redisOptions({ url: config.redisUrl, tls: config.redisTls, role: 'worker', name: 'qt-tui', connectTimeoutMs: 2000 });
    this.redis = newRedis(config.redisUrl, {
      ...base,
      lazyConnect: true,
      // reconnect forever (worker role), but never queue a command while Redis is away
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: 5000,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 4), 1000),
    });
    this.redis.on('error', (e: Error) => {
      this.lastError = e;
    });
    this.redis.on('ready', () => {
      this.lastError = undefined;
    });
    const { thresholds } = resolveThresholds(process.env);
    this.thresholds = thresholds ?? DEFAULT_THRESHOLDS;
  }

  private async ready(): Promise<void> {
    const st = this.redis.status;
    if (st === 'ready') return;
    if (st === 'wait' || st === 'end') {
      this.connecting ??= this.redis.connect().finally(() => {
        this.connecting = null;
      });
      await this.connecting;
      return;
    }
    throw new Error('connection lost (reconnecting)');
  }

  private async guard<T>(f: () => Promise<T>): Promise<T> {
    try {
      await this.ready();
      return await f();
    } catch (e) {
      throw new Error(`Redis at ${this.endpoint}: ${describeRedisError(this.lastError ?? (e instanceof Error ? e : new Error(String(e))))}`);
    }
  }

  /**
   * What to read: the connection, or on a Redis Cluster (`cluster_enabled:1`, asked once) a
   * ClusterView over every primary, opened on first use and again after a refresh that could
   * not read part of the cluster.
   */
  private async target(): Promise<ReadTarget> {
    if (this.isCluster === null) {
      const { isClusterEnabled } = await import('../redis/cluster.js');
      this.isCluster = await isClusterEnabled(this.redis);
    }
    if (!this.isCluster) return this.redis;
    if (!this.view) {
      const { openClusterView } = await import('../redis/cluster.js');
      this.view = await openClusterView({ url: this.config.redisUrl, tls: this.config.redisTls, name: 'qt-tui' });
    }
    return this.view;
  }

  private dropView(): void {
    const v = this.view;
    this.view = null;
    void v?.close();
  }

  load(): Promise<Report> {
    return this.guard(async () => {
      const t = await this.target();
      const snap = await collectSnapshot(t, this.config.names, { windowMs: this.opts.windowMs, url: this.config.redisUrl, thresholds: this.thresholds });
      if (snap.blind_spots?.some((b) => b.what === 'cluster')) this.dropView(); // read the slot map afresh next time
      return buildReport(snap, this.thresholds);
    });
  }

  killSwitch(on: boolean, reason: string): Promise<void> {
    return this.guard(async () => {
      // the same write as `qt kill-switch` (the key, and a record on risk.proposal)
      // on a cluster: the Cluster client sends the MULTI to the node owning the prefix's slot
      // (a hash-tagged prefix; an untagged one spreads the two keys and Redis refuses: CROSSSLOT)
      const t = await this.target();
      await setKillSwitch(t === this.redis ? this.redis : (this.view!.client as unknown as Redis), this.config.names, on, on ? reason : undefined);
    });
  }

  cleanupGhostsPreview(): Promise<GhostPreview> {
    return this.guard(async () => {
      const { scanned, ghosts } = await listGhosts(await this.target(), this.config.names);
      return { scanned, ghosts };
    });
  }

  cleanupGhostsApply(): Promise<GhostApplyResult> {
    return this.guard(async () => {
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const backupPath = this.opts.backupDir ? `${this.opts.backupDir.replace(/\/$/, '')}/qt-ghosts-${this.config.prefix}-${stamp}.json` : undefined;
      const r = await cleanupGhosts(await this.target(), this.config.names, { dryRun: false, backupPath });
      return { deleted: r.deleted, ghosts: r.ghosts, backup: r.backup };
    });
  }

  async close(): Promise<void> {
    this.dropView();
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
