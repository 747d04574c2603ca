/**
 * The engine daemon: runs the chosen stages in one process, each as its own consumer
 * with its own heartbeat, on one shared writer connection.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { Mode } from '../contract/codes.js';
import type { Logger } from '../log.js';
import type { PriceSource } from './market/price-source.js';
import type { ReplayLockStep } from './replay-lockstep.js';
import { SINGLETON_STAGES } from '../contract/names.js';
import { StageRunner } from './runtime/stage-runner.js';
import { isConsumer, type AnyStage } from './runtime/types.js';
import { settledBy } from './runtime/deadline.js';
import { binanceHostOf } from './exchange/binance/host.js';

/** A stage that must run once per prefix: a timer-driven one, or one of SINGLETON_STAGES. */
export function isSingleton(s: AnyStage): boolean {
  return !isConsumer(s) || (SINGLETON_STAGES as readonly string[]).includes(s.name);
}

export interface EngineDeps {
  config: Config;
  writer: Redis;
  log: Logger;
  mode: Mode;
  /** Set by the daemon when a stage needs an exchange (executor, reconciler). */
  exchange?: unknown;
  /** A price source made by the caller (a replay, whose end `qt up` waits for); else the market stage picks one. */
  priceSource?: PriceSource;
  /**
   * Set for a replay: its clock is every stage's `now()`, and timer-driven stages tick only
   * when its conductor ticks them (replay-lockstep.ts). Never set for a live engine.
   */
  replay?: ReplayLockStep;
  /** Watches each Redis connection a stage opens (the daemon's LinkMonitor). */
  watch?: (conn: Redis, name: string) => void;
}

export type StageFactory = (deps: EngineDeps) => AnyStage | Promise<AnyStage>;

export class Engine {
  readonly runners: StageRunner[] = [];

  constructor(private readonly deps: EngineDeps) {}

  async start(stages: AnyStage[]): Promise<void> {
    const c = this.deps.config;
    for (const s of stages) {
      const r = new StageRunner(s, {
        redisUrl: c.redisUrl,
        tls: c.redisTls,
        names: c.names,
        writer: this.deps.writer,
        caps: { streamMaxLen: c.runtime.streamMaxLen, toolStreamMaxLen: c.runtime.toolStreamMaxLen },
        batchSize: c.runtime.batchSize,
        blockMs: c.runtime.blockMs,
        reclaimIdleMs: c.runtime.reclaimIdleMs,
        reclaimEveryMs: c.runtime.reclaimEveryMs,
        maxDeliveries: c.runtime.maxDeliveries,
        heartbeatMs: c.runtime.heartbeatMs,
        ...(isSingleton(s) ? { lease: { ttlMs: c.runtime.leaseTtlMs } } : {}),
        mode: this.deps.mode,
        log: this.deps.log,
        watch: this.deps.watch,
        ...(this.deps.replay ? { now: this.deps.replay.now, lockStep: true } : {}),
      });
      if (c.exchange === 'binance') r.hb.exchangeHost = binanceHostOf(c);
      this.runners.push(r);
    }
    // Create every group before any stage produces, so nothing written at start is missed.
    for (const r of this.runners) await r.start();
  }

  /**
   * Stops every stage by `deadline` (epoch ms), whatever Redis does (StageRunner.stop).
   * When Redis does not answer a PING within a second (down, or a network cut), there is
   * no commit to wait for: the stages get a short deadline instead. Returns whether Redis answered.
   */
  async stop(deadline = Date.now() + this.deps.config.runtime.stopTimeoutMs): Promise<boolean> {
    let pong = false;
    await settledBy(this.deps.writer.ping().then(() => (pong = true)), Math.min(deadline, Date.now() + 1000));
    const answered = pong && this.deps.writer.status === 'ready';
    if (!answered) {
      this.deps.log.warn('Redis does not answer: stopping without waiting for commits (what is in hand stays pending and is redone by the next start)');
      deadline = Math.min(deadline, Date.now() + 1500);
    }
    await Promise.all(this.runners.map((r) => r.stop(deadline)));
    return answered;
  }
}
