/**
 * Replay lock step: what makes a replay deterministic (the same data and seed give the same
 * run report, docs/replay.md).
 *
 * - One clock: every stage's `ctx.now()` (and the paper exchange's) is the replay clock, the
 *   replayed time (epoch ms) of the price point being played, never the wall clock. Prices,
 *   signals, intents, fills and cooldowns are all in market time.
 * - Lock step: the conductor plays one price point at a time. It sets the clock to the point's
 *   time, ticks the market stage (which writes the price keys), then each other timer-driven
 *   stage once, in the engine's stage order (ai_engine, harvest_brain, risk_guard, …); after a
 *   tick that published anything it waits until the pipeline has settled it: every consumer
 *   group on the pipeline's input streams has nothing pending and nothing undelivered, read in
 *   one MULTI so the picture is atomic (REDIS-STREAMS-FACTS.md: `last-delivered-id`, not `lag`).
 *   Only then does the next stage tick, and only then the next point play. So every order is
 *   filled at the mark of the point that caused it and every tick reads settled state.
 * - No time-based way out: a stage that is not running, refuses (another engine holds its
 *   lease) or fails keeps the replay waiting, and it says so (log and the market heartbeat's
 *   detail) after 5 s, then every 30 s, rather than going on and diverging.
 * - Randomness is seeded: ids made during a replay come from a generator seeded by
 *   `QT_REPLAY_SEED` (`--seed`, default 1), printed in the report. Nothing else in the engine
 *   draws random numbers that change a decision (the paper exchange's retry pause only
 *   spaces retries in wall time).
 * - Speed is a cap: a point is not played before `(its time − the first point's) ÷ speed` of
 *   wall time has passed since the start; at a high speed the replay runs as fast as the
 *   pipeline settles.
 * Live (non-replay) engines never create one: their stages tick on their own timers.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import { STAGE_INPUT, type Names, type StreamName } from '../contract/names.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { replyMap } from '../redis/connect.js';
import type { ReplayPriceSource } from './market/replay.js';
import type { StageRunner } from './runtime/stage-runner.js';
import { isConsumer } from './runtime/types.js';
import { mulberry32 } from './market/gbm.js';

/** Compares two stream ids (`ms-seq`). */
function cmpId(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/**
 * What keeps the pipeline busy, read atomically (one MULTI of XINFO STREAM / XINFO GROUPS over
 * the pipeline's input streams, STAGE_INPUT): the first group with a pending entry or with
 * entries not yet delivered (`last-delivered-id` before the stream's `last-generated-id`), as
 * one line naming the stream, the group and the counts; null when every group is settled.
 */
export async function pipelineBacklog(redis: Redis, names: Names): Promise<string | null> {
  const streams = [...new Set(Object.values(STAGE_INPUT))] as StreamName[];
  const tx = redis.multi();
  for (const s of streams) {
    tx.xinfo('STREAM', names.stream(s));
    tx.xinfo('GROUPS', names.stream(s));
  }
  const res = (await tx.exec()) ?? [];
  for (let k = 0; k < streams.length; k++) {
    const [serr, sinfo] = res[2 * k] ?? [new Error('no reply'), null];
    if (serr) continue; // no such stream: nothing waits on it
    const info = replyMap(sinfo);
    const last = info['last-generated-id'] ? String(info['last-generated-id']) : null;
    const [gerr, groups] = res[2 * k + 1] ?? [new Error('no reply'), null];
    if (gerr || !Array.isArray(groups)) continue;
    for (const g of groups) {
      const m = replyMap(g);
      const pending = Number(m.pending);
      const behind = !!last && last !== '0-0' && cmpId(String(m['last-delivered-id']), last) < 0;
      if (pending > 0 || behind) {
        return `${streams[k]}: group ${String(m.name)} has ${pending} pending${behind ? ' and entries not yet delivered' : ''}`;
      }
    }
  }
  return null;
}

/** FNV-1a of a string (32 bits): derives one generator per id kind from the seed. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The configuration of a replay: its symbols are the files' symbols, and time-based trading
 * settings are market time (the clock is the replay clock): the trader's cooldown as set, and
 * the AI engine's evaluation period, when left at its default, one replayed candle.
 */
export function replayConfig(c: Config, lock: ReplayLockStep): Config {
  const trading = { ...c.trading };
  if (c.sources.QT_SIGNAL_INTERVAL_MS === 'default') trading.signalIntervalMs = lock.candleMs;
  return { ...c, symbols: lock.source.symbols, trading };
}

export interface LockStepOptions {
  source: ReplayPriceSource;
  /** QT_REPLAY_SEED. */
  seed: number;
  /** The most replayed ms per wall ms (QT_REPLAY_SPEED). */
  speed: number;
  /** How long a wait lasts before the replay says what it waits for (ms; default 5000, then every 30 s). */
  sayAfterMs?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The replay clock, its seeded ids and the conductor that plays the points in lock step. */
export class ReplayLockStep {
  readonly seed: number;
  private clockMs: number;
  private readonly gens = new Map<string, () => number>();
  private stopped = false;
  private resolveDone!: () => void;
  /** Resolves when the conductor has ended: every point played and settled, or stopped. */
  readonly done: Promise<void>;
  /** Price points played. */
  steps = 0;
  /** Wall ms spent waiting for the pipeline to settle. */
  settleMs = 0;

  constructor(private readonly o: LockStepOptions) {
    this.seed = o.seed;
    o.source.playInLockStep();
    this.clockMs = o.source.progress().from - 1;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get source(): ReplayPriceSource {
    return this.o.source;
  }

  /** The replay clock (epoch ms): the replayed time of the point being played. */
  readonly now = (): number => this.clockMs;

  /** The length of the replayed candles (ms; the shortest of the files). */
  get candleMs(): number {
    return Math.min(...this.o.source.series.map((s) => s.candleMs));
  }

  /**
   * A new id `{prefix}-{16 hex digits}` from this seed's generator for `prefix` (one
   * generator per prefix, so one stage's ids do not depend on how many another made).
   */
  newId(prefix: string): string {
    const g = this.random(prefix);
    const hex = (x: number) => Math.floor(x * 0x100000000).toString(16).padStart(8, '0');
    return `${prefix}-${hex(g())}${hex(g())}`;
  }

  /** This seed's generator for one kind of use (`kind`), uniform in [0, 1). */
  random(kind: string): () => number {
    let g = this.gens.get(kind);
    if (!g) {
      g = mulberry32((this.seed ^ fnv1a(kind)) >>> 0);
      this.gens.set(kind, g);
    }
    return g;
  }

  /** Ends the conductor at the next step (the daemon is stopping). */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Plays every point in lock step with the engine's runners (started, tickers in lock-step
   * mode), then waits for the last point to settle. Resolves `done` when it ends.
   */
  async run(runners: StageRunner[], redis: Redis, names: Names, log: Logger): Promise<void> {
    try {
      const market = runners.find((r) => r.stage.name === 'market');
      if (!market) {
        log.warn('replay: this engine runs no market stage, so nothing is replayed (run it with the other stages: qt up --market replay)');
        return;
      }
      const tickers = runners.filter((r) => r !== market && !isConsumer(r.stage));
      const src = this.o.source;
      const first = src.peekNext() ?? src.progress().from;
      const wall0 = Date.now();
      for (;;) {
        if (this.stopped) return;
        const next = src.peekNext();
        if (next === undefined) break;
        const due = wall0 + (next - first) / this.o.speed;
        if (due > Date.now()) await sleep(due - Date.now());
        this.clockMs = next;
        await this.tick(market, market, log);
        for (const t of tickers) {
          if (this.stopped) return;
          const published = await this.tick(t, market, log);
          if (published > 0) await this.settle(redis, names, market, log);
        }
        this.steps++;
      }
      await this.settle(redis, names, market, log);
      log.info(`replay: ${this.steps} price points played in lock step (${Math.round(this.settleMs)} ms waiting for the pipeline)`);
    } finally {
      this.resolveDone();
    }
  }

  /** One tick of `r` on the current point; waits (and says why) until it succeeds. @returns outputs published. */
  private async tick(r: StageRunner, market: StageRunner, log: Logger): Promise<number> {
    const w = this.waiter(market, log);
    for (;;) {
      const res = await r.tickOnce();
      if (res.ok) {
        w.end();
        return res.outputs;
      }
      if (this.stopped) return 0;
      w.still(res.reason);
      await sleep(100);
    }
  }

  /** Waits until the pipeline has settled everything published so far (pipelineBacklog). */
  private async settle(redis: Redis, names: Names, market: StageRunner, log: Logger): Promise<void> {
    const t0 = performance.now();
    const w = this.waiter(market, log);
    let polls = 0;
    try {
      for (;;) {
        let busy: string | null;
        try {
          busy = await pipelineBacklog(redis, names);
        } catch (e) {
          busy = `Redis did not answer the pipeline check (${errorMessage(e)})`;
        }
        if (busy === null || this.stopped) return;
        w.still(busy);
        polls++;
        await sleep(polls < 20 ? 1 : polls < 200 ? 5 : 50);
      }
    } finally {
      w.end();
      this.settleMs += performance.now() - t0;
    }
  }

  /** Says what the replay waits for: after 5 s, then every 30 s, in the log and the market heartbeat. */
  private waiter(market: StageRunner, log: Logger): { still(why: string): void; end(): void } {
    const since = Date.now();
    let saidAt = 0;
    return {
      still: (why: string) => {
        const now = Date.now();
        if (now - since < (this.o.sayAfterMs ?? 5000) || now - saidAt < (saidAt ? 30_000 : 0)) return;
        saidAt = now;
        const detail = `replay waits at ${new Date(this.clockMs).toISOString()} for ${Math.round((now - since) / 1000)} s: ${why} (is that stage running?)`;
        log.warn(detail);
        market.hb.status = 'degraded';
        market.hb.detail = detail;
      },
      end: () => {
        if (saidAt) {
          log.info(`replay goes on after ${Math.round((Date.now() - since) / 1000)} s of waiting`);
          market.hb.status = 'running';
        }
      },
    };
  }
}
