/**
 * The engine daemon: runs the chosen stages in one process, each as its own consumer
 * with its own heartbeat, on one shared writer connection.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { Mode } from '../contract/codes.js';
import type { Logger } from '../log.js';
import { StageRunner } from './runtime/stage-runner.js';
import type { AnyStage } from './runtime/types.js';
import { binanceHostOf } from './exchange/binance/host.js';

export interface EngineDeps {
  config: Config;
  writer: Redis;
  log: Logger;
  mode: Mode;
  /** Set by the daemon when a stage needs an exchange (executor, reconciler). */
  exchange?: unknown;
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
        mode: this.deps.mode,
        log: this.deps.log,
      });
      if (c.exchange === 'binance') r.hb.exchangeHost = binanceHostOf(c);
      this.runners.push(r);
    }
    // Create every group before any stage produces, so nothing written at start is missed.
    for (const r of this.runners) await r.start();
  }

  async stop(): Promise<void> {
    // Producers first, then consumers downstream, so in-flight work drains in order.
    await Promise.all(this.runners.map((r) => r.stop()));
  }
}
