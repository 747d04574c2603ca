/**
 * Hosts one stage as one consumer in its consumer group (or one periodic service), and
 * owns the Redis mechanics once: group creation, XREADGROUP batches, decoding against
 * the stream's schema, the single commit transaction per batch (state, outputs,
 * rejections, dead letters, metrics, XACK), reclaiming entries a dead consumer left
 * pending, poison-message dead-lettering, heartbeats, graceful stop and reconnects.
 * A singleton stage (one per prefix) runs only while it holds its lease (lease.ts); a
 * second engine's copy waits as `standby`. A stop ends by its deadline whatever Redis does.
 */
import type { Redis, ChainableCommander } from 'ioredis';
import type { ServiceStatus } from '../../contract/codes.js';
import { decode, fieldsFromArray, warmDecoder, type Fields } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { failUnfulfilledOnReconnect, newRedis, redisOptions } from '../../redis/connect.js';
import {
  addDeadLetter, addMetrics, addOutputs, addRejection, addState, emptyCounts, flushBatched, type Caps, type MetricCounts,
} from './commit.js';
import { recordGroupLag } from './lag-record.js';
import { ensureGroups, groupsFor } from './topology.js';
import { beat, beatStandby, HeartbeatState } from './heartbeat.js';
import { SingletonLease } from './lease.js';
import { settledBy } from './deadline.js';
import { isConsumer, type AnyStage, type ConsumerStage, type Delivery, type Outcome, type StageContext, type TickerStage } from './types.js';

export interface RunnerDeps {
  redisUrl: string;
  tls?: { caFile?: string; insecure?: boolean };
  names: Names;
  /** Shared non-blocking connection (state reads, commits, heartbeats). */
  writer: Redis;
  caps: Caps;
  batchSize: number;
  blockMs: number;
  reclaimIdleMs: number;
  reclaimEveryMs: number;
  maxDeliveries: number;
  heartbeatMs: number;
  mode: string;
  log: Logger;
  consumerName?: string;
  /** Called with each connection the runner opens (the daemon's LinkMonitor logs losses). */
  watch?: (conn: Redis, name: string) => void;
  /** Set for a stage that must run once per prefix: its lease TTL in ms (QT_LEASE_TTL_MS). */
  lease?: { ttlMs: number };
  /**
   * The stage's clock (epoch ms), `ctx.now()`; default the wall clock. A replay passes its
   * replay clock (the replayed time of the current price point; replay-lockstep.ts).
   */
  now?: () => number;
  /**
   * Replay lock step: a timer-driven stage does not tick on its own timer; the replay
   * conductor ticks it once per price point (`tickOnce`). Consumers are unaffected.
   */
  lockStep?: boolean;
}

/** The outcome of one tick driven from outside (`StageRunner.tickOnce`, replay lock step). */
export type TickOnceResult =
  | { ok: true; outputs: number }
  | { ok: false; reason: string };

/** A commit refused because this process no longer holds the stage's lease (fencing). */
export class LeaseLostError extends Error {
  constructor(key: string) {
    super(`lease ${key} no longer held: commit refused (another engine may hold it now)`);
  }
}

interface RawEntry {
  id: string;
  fields: Fields | null;
  deliveries: number;
}

const sleep = (ms: number, signal?: { stopped: boolean }) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) {
      const poll = setInterval(() => {
        if (signal.stopped) {
          clearTimeout(t);
          clearInterval(poll);
          resolve();
        }
      }, 50);
      setTimeout(() => clearInterval(poll), ms + 10);
    }
  });

/**
 * Renews this consumer's claim on entries it is still working on: each id still pending
 * and owned by ARGV[2] is claimed again by it (XCLAIM … JUSTID: idle time reset, delivery
 * count unchanged), so another consumer's reclaim (min idle QT_RECLAIM_IDLE_MS) leaves a
 * slow batch alone. An id another consumer took meanwhile is left to it.
 * KEYS[1] stream; ARGV: group, consumer, ids…
 */
const RENEW_LUA = `
local own = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p == 1 then own[#own + 1] = ARGV[i] end
end
if #own > 0 then
  own[#own + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(own))
  return #own - 1
end
return 0
`;
/** Is stream entry id `a` (`ms-seq`) newer than `b`? */
function newerId(a: string, b: string): boolean {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const d = BigInt(am!) - BigInt(bm!);
  return d !== 0n ? d > 0n : BigInt(as) > BigInt(bs);
}

/** A batch keeps renewing its entries for at most this many reclaim periods (a hung call does not hold them forever). */
const MAX_LEASE_PERIODS = 10;

export class StageRunner {
  readonly hb: HeartbeatState;
  readonly consumer: string;
  private blocking?: Redis;
  /**
   * The connection batch commits go through. ioredis resends a command whose reply was
   * lost in a disconnect; for a commit that reply can be lost after Redis applied it, and
   * the resent copy would publish the batch's outputs twice. So this connection never
   * resends: a commit cut off by a disconnect fails here, and its entries are either
   * acked (it was applied) or still pending (it was not) and redone before anything newer
   * (see `redoOwn`).
   */
  private committer?: Redis;
  /** Set when a commit or a read was cut off by a lost connection (see consumeLoop). */
  private redoOwn = true; // also at start: a consumer of the same name resumes its own pending entries first
  /** Where the redo goes on: each of our pending entries is redone once per lost connection. */
  private redoFrom = '0';
  /** The newest entry id this consumer committed (acked), where a vanished group is recreated. */
  private lastDone?: string;
  private loop?: Promise<void>;
  private beatTimer?: NodeJS.Timeout;
  private readonly halt = { stopped: false };
  /** The singleton lease, for stages that run once per prefix. */
  private lease?: SingletonLease;
  private leaseTimer?: NodeJS.Timeout;
  private leaseHeld = false;
  private standbySince = 0;
  private stageStarted = false;
  /** The batch or tick in hand and not yet committed (what a forced stop reports). */
  private inHand: { what: string; ids: string[] } | null = null;
  private readonly ctx: StageContext;
  private readonly log: Logger;
  /** The stage asked to hold (holdUntil) at the last check. */
  private holding = false;
  /** Totals since start, for the terminal summary and tests. */
  readonly totals: MetricCounts = emptyCounts();

  constructor(
    readonly stage: AnyStage,
    private readonly d: RunnerDeps,
  ) {
    this.hb = new HeartbeatState(stage.name, d.mode);
    this.consumer = d.consumerName ?? d.names.consumer();
    this.log = d.log.child({ stage: stage.name });
    this.ctx = {
      names: d.names,
      redis: d.writer,
      log: this.log,
      now: d.now ?? (() => Date.now()),
      setStatus: (status: ServiceStatus, detail?: string) => {
        this.hb.status = status;
        this.hb.detail = detail ?? '';
      },
    };
  }

  get stopping(): boolean {
    return this.halt.stopped;
  }

  async start(): Promise<void> {
    const s = this.stage;
    if (isConsumer(s)) {
      this.blocking = newRedis(this.d.redisUrl, {
        ...redisOptions({ url: this.d.redisUrl, tls: this.d.tls, role: 'worker', name: `qt:${s.name}:block` }),
        lazyConnect: false,
      });
      this.blocking.on('error', (e: Error) => this.log.debug('redis (blocking) error', { error: e.message }));
      this.d.watch?.(this.blocking, `qt:${s.name}:block`);
      // A read cut off by a lost connection may have been served (its entries now pending
      // for this consumer) while its reply was lost; ioredis then resends it and gets newer
      // entries: redo our own pending ones first.
      this.blocking.on('close', () => {
        this.markRedo();
      });
    }
    this.committer = failUnfulfilledOnReconnect(newRedis(this.d.redisUrl, {
      ...redisOptions({ url: this.d.redisUrl, tls: this.d.tls, role: 'worker', name: `qt:${s.name}:commit` }),
      autoResendUnfulfilledCommands: false,
      lazyConnect: false,
    }));
    this.committer.on('error', (e: Error) => this.log.debug('redis (commit) error', { error: e.message }));
    this.d.watch?.(this.committer, `qt:${s.name}:commit`);
    this.committer.on('close', () => {
      if (!this.halt.stopped) this.markRedo();
    });
    if (this.d.lease) {
      this.lease = new SingletonLease({ redis: this.d.writer, key: this.d.names.lease(s.name), holder: this.consumer, ttlMs: this.d.lease.ttlMs });
      this.standbySince = Date.now();
      await this.leaseStep();
      if (this.leaseHeld) {
        // Beat as the holder at once (status `starting`): a stage's start can take a while
        // (loading an exchange), and a lease with no heartbeat reads as ENGINE_CONTENDED.
        await this.safeBeat(true);
        await this.createGroups();
        await this.startStage();
      }
      this.scheduleLease();
    } else {
      // Beat (`starting`) before creating the groups: tools that see a group on an empty
      // stream then also see its producer starting, not a starving group.
      await this.safeBeat();
      await this.createGroups();
      await this.startStage();
    }
    await this.safeBeat();
    this.beatTimer = setInterval(() => void this.safeBeat(), this.d.heartbeatMs);
    this.beatTimer.unref();
    this.loop = isConsumer(s) ? this.consumeLoop(s) : this.d.lockStep ? Promise.resolve() : this.tickLoop(s);
  }

  /**
   * Its own group and the pipeline groups of what it writes, at 0 when new (topology.ts):
   * whichever process starts first, no entry is written before its group exists.
   */
  private async createGroups(): Promise<void> {
    const s = this.stage;
    const created = await ensureGroups(this.d.writer, this.d.names, groupsFor(s.name, isConsumer(s) ? s.input : undefined));
    if (created.length) this.log.info('consumer groups created at 0: entries already in their streams will be delivered', { groups: created.join(', ') });
  }

  private async startStage(): Promise<void> {
    await this.stage.start?.(this.ctx);
    // Its input's validator is compiled before the stage reports running, not on its first entry.
    if (isConsumer(this.stage)) warmDecoder(this.stage.input);
    this.stageStarted = true;
    if (this.hb.status === 'starting' || this.hb.status === 'standby') {
      this.hb.status = 'running';
      this.hb.detail = '';
    }
  }

  /** Does this runner hold its stage's lease (always true for a stage without one)? */
  get holdsLease(): boolean {
    return !this.lease || this.lease.held();
  }

  /** One lease attempt (renew or acquire) and what changed: logged once per transition. */
  private async leaseStep(): Promise<void> {
    const l = this.lease!;
    const r = await l.attempt();
    if (this.halt.stopped) return;
    const held = l.held();
    if (r.error) this.log.debug('lease attempt failed', { lease: l.key, error: r.error });
    if (held && !this.leaseHeld) {
      if (this.hb.status === 'standby' || this.stageStarted) {
        this.log.info('lease acquired: this engine runs the stage now (was standby)', { lease: l.key, ttl_ms: l.ttlMs, standby_ms: Date.now() - this.standbySince });
      } else this.log.info('lease acquired', { lease: l.key, ttl_ms: l.ttlMs });
    } else if (!held) {
      const detail = `lease ${l.key} held by ${r.holder ?? 'unknown (Redis did not answer)'}${r.pttlMs !== null && r.pttlMs >= 0 ? `, ${r.pttlMs} ms left unless renewed` : ''}; this engine takes over when it ends`;
      if (this.leaseHeld) {
        this.standbySince = Date.now();
        this.log.warn('lease lost: the stage stops acting and waits as standby', { lease: l.key, holder: r.holder, error: r.error });
      } else if (this.hb.status !== 'standby') {
        this.log.info('standby: another engine runs this stage', { lease: l.key, holder: r.holder, pttl_ms: r.pttlMs });
      }
      this.hb.status = 'standby';
      this.hb.detail = detail;
      if (this.leaseHeld) void this.safeBeat(false);
    }
    this.leaseHeld = held;
  }

  private scheduleLease(): void {
    if (this.halt.stopped) return;
    const l = this.lease!;
    this.leaseTimer = setTimeout(() => {
      void this.leaseStep().finally(() => this.scheduleLease());
    }, this.leaseHeld ? l.renewEveryMs : l.pollEveryMs);
  }

  /**
   * Waits (as standby) until this runner holds its lease; starts the stage at the first
   * acquisition. False when stopping, or when the stage failed to start (the lease is
   * then given back for another engine).
   */
  private async awaitLease(): Promise<boolean> {
    const l = this.lease!;
    while (!this.halt.stopped && !l.held()) await sleep(Math.min(100, l.pollEveryMs), this.halt);
    if (this.halt.stopped) return false;
    if (!this.stageStarted) {
      try {
        await this.createGroups();
        await this.startStage();
      } catch (e) {
        this.hb.fail(errorMessage(e));
        this.log.error('stage failed to start after taking the lease; giving the lease back', { error: errorMessage(e) });
        await l.release().catch(() => undefined);
        this.leaseHeld = false;
        await sleep(Math.min(5000, l.ttlMs), this.halt);
        return false;
      }
    }
    if (this.hb.status === 'standby') {
      this.hb.status = 'running';
      this.hb.detail = '';
      await this.safeBeat(); // at once: the heartbeat names the new holder (ENGINE_CONTENDED reads both)
    }
    return true;
  }

  /**
   * Finishes the batch in hand, acks, writes a `stopping` heartbeat and gives the lease
   * back, by `deadline` (epoch ms) whatever Redis does: a commit Redis does not answer is
   * cut off and logged (its entries stay pending, redone by the next start).
   */
  async stop(deadline = Date.now() + 10_000): Promise<void> {
    if (this.halt.stopped) return;
    this.halt.stopped = true;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    // Close the blocking connection first so no read hangs.
    this.blocking?.disconnect();
    const room = Math.max(0, deadline - Date.now());
    if (!(await settledBy(this.loop, deadline - Math.min(2000, room / 4)))) {
      // Redis does not answer: cut the commit connection so a commit in flight fails now.
      this.committer?.disconnect();
      await settledBy(this.loop, deadline - Math.min(1500, room / 5));
    }
    if (this.inHand) {
      this.log.warn('not committed at stop (Redis did not answer in time)', {
        what: this.inHand.what,
        ...(this.inHand.ids.length ? { ids: this.inHand.ids.slice(0, 20).join(','), outcome: 'these entries stay pending in the group and are redone by the next start (reclaimed after QT_RECLAIM_IDLE_MS)' } : { outcome: 'the tick\'s results are dropped; the next tick recomputes them' }),
      });
    }
    if (this.beatTimer) clearInterval(this.beatTimer);
    if (!(await settledBy(this.stage.stop?.().catch((e) => this.log.warn('stop failed', { error: errorMessage(e) })), deadline - Math.min(1000, room / 8)))) {
      this.log.warn('the stage\'s own stop did not finish in time');
    }
    this.committer?.disconnect();
    this.hb.status = 'stopping';
    const last = Math.max(0, Math.min(1000, deadline - Date.now()));
    if (this.d.writer.status !== 'ready') {
      if (this.lease && this.leaseHeld) this.log.warn('lease not released (Redis unreachable): it expires by itself', { lease: this.lease.key, within_ms: this.lease.ttlMs });
      return;
    }
    await settledBy(this.safeBeat(this.holdsLease), Date.now() + last);
    if (this.lease && this.leaseHeld) {
      const released = await this.lease.release(Math.max(50, deadline - Date.now())).catch(() => false);
      if (!released) this.log.warn('lease not released (Redis did not answer, or it was no longer ours): it expires by itself', { lease: this.lease.key, within_ms: this.lease.ttlMs });
      else this.log.debug('lease released', { lease: this.lease.key });
    }
  }

  /**
   * Sends a commit once. It is sent only on a ready connection (a command queued while
   * offline would go out after a reconnect this code has already given up on), and it
   * fails when the connection closes before the reply: the outcome is then unknown, which
   * the caller treats as failed, and Redis's own state (acked or pending) settles it.
   */
  private async commit(build: (tx: ChainableCommander) => void): Promise<[Error | null, unknown][]> {
    const c = this.committer!;
    // Fencing: a singleton commits only while its lease is valid (lease.ts).
    if (this.lease && !this.lease.held()) throw new LeaseLostError(this.lease.key);
    if (c.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => {
          c.off('ready', onReady);
          this.markRedo();
          reject(new Error(`Redis not ready for the commit (connection ${c.status})`));
        }, 5000);
        const onReady = () => {
          clearTimeout(t);
          resolve();
        };
        c.once('ready', onReady);
      });
    }
    if (this.lease && !this.lease.held()) throw new LeaseLostError(this.lease.key);
    const tx = c.multi();
    build(tx);
    return new Promise((resolve, reject) => {
      const onClose = () => {
        this.markRedo();
        reject(new Error('connection to Redis lost during the commit (outcome settled by Redis: applied entries are acked, the rest stay pending)'));
      };
      c.once('close', onClose);
      tx.exec().then(
        (res) => {
          c.off('close', onClose);
          if (!res) reject(new Error('transaction aborted'));
          else resolve(res as [Error | null, unknown][]);
        },
        (e) => {
          c.off('close', onClose);
          reject(e);
        },
      );
    });
  }

  /** Resolves when the loop has ended (after stop, or never). */
  done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  private async safeBeat(holder = this.holdsLease): Promise<void> {
    try {
      if (!holder) await beatStandby(this.d.writer, this.d.names, this.hb, this.d.heartbeatMs, this.consumer);
      else {
        await beat(this.d.writer, this.d.names, this.hb, this.d.heartbeatMs);
        // where its group stands, for the trend of `qt health` (lag-record.ts)
        if (isConsumer(this.stage) && this.hb.status !== 'stopping') await recordGroupLag(this.d.writer, this.d.names, this.stage.name, this.d.names.stream(this.stage.input), this.d.names.group(this.stage.name));
      }
    } catch (e) {
      this.log.debug('heartbeat failed', { error: errorMessage(e) });
    }
  }

  /**
   * Recreates this stage's group after it vanished (NOGROUP: Redis restarted without
   * persistence, or the group was destroyed), after the newest entry this consumer
   * committed, or at 0 when it committed none: entries written meanwhile are delivered,
   * not skipped (a group at `$` would skip them); old entries expire (age-gate.ts).
   */
  private async recreateGroup(s: ConsumerStage<any, any>): Promise<void> {
    const from = this.lastDone ?? '0';
    const created = await ensureGroups(this.d.writer, this.d.names, [{ group: s.name, stream: s.input }], from);
    if (created.length) this.log.warn('consumer group was missing (Redis restarted without persistence, or the group was destroyed); recreated', { group: s.name, from });
  }

  private async consumeLoop(s: ConsumerStage<any, any>): Promise<void> {
    const key = this.d.names.stream(s.input);
    const group = this.d.names.group(s.name);
    let lastReclaim = 0;
    let backoff = 100;
    while (!this.halt.stopped) {
      if (this.lease && !(await this.awaitLease())) continue;
      try {
        if (s.holdUntil && (await this.held(s))) continue;
        if (this.redoOwn) {
          // After a lost connection: this consumer's own pending entries first, in order
          // (a commit that did not land, or a read whose reply was lost), then new ones.
          // The exchange saw their orders before any newer one; the books must too.
          if (await this.redoOwnPending(s, key, group)) continue;
          this.redoOwn = false;
        }
        if (Date.now() - lastReclaim >= this.d.reclaimEveryMs) {
          lastReclaim = Date.now();
          await this.reclaim(s, key, group);
        }
        const reply = (await this.blocking!.xreadgroup(
          'GROUP', group, this.consumer, 'COUNT', this.d.batchSize, 'BLOCK', this.d.blockMs, 'STREAMS', key, '>',
        ).catch((e: unknown) => {
          this.markRedo(); // the entries of a read whose reply was lost are ours, pending
          throw e;
        })) as [string, [string, string[]][]][] | null;
        backoff = 100;
        // The connection was lost while this read was out (ioredis resent it): entries an
        // earlier, lost reply delivered are pending for us and older than these. Those just
        // read are pending too: the redo takes them all, oldest first.
        if (this.redoOwn) continue;
        if (!reply || reply.length === 0) continue;
        const entries = reply[0][1].map(([id, arr]) => ({ id, fields: arr ? fieldsFromArray(arr) : null, deliveries: 1 }));
        await this.processBatch(s, key, group, entries);
      } catch (e) {
        if (this.halt.stopped) break;
        this.inHand = null; // not committed: its entries stay pending and are retried
        if (e instanceof LeaseLostError) {
          this.log.warn('lease lost before the commit: the batch stays pending for the holder to reclaim', { error: e.message });
          continue;
        }
        const msg = errorMessage(e);
        if (/NOGROUP/.test(msg)) {
          await this.recreateGroup(s).catch((err: unknown) => this.log.warn('recreating the consumer group failed; retrying', { group, error: errorMessage(err) }));
          lastReclaim = 0;
          continue;
        }
        this.hb.fail(msg);
        this.log.warn('batch failed; entries stay pending and will be retried', { error: msg });
        await sleep(backoff, this.halt);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** True while the stage asks to hold (see ConsumerStage.holdUntil): waits up to a second, reading nothing. */
  private async held(s: ConsumerStage<any, any>): Promise<boolean> {
    const h = await s.holdUntil!(this.ctx);
    const now = Date.now();
    if (!h || h.until <= now) {
      if (this.holding) {
        this.holding = false;
        this.hb.status = 'running';
        this.hb.detail = '';
        this.log.info('hold ended; reading again');
      }
      return false;
    }
    if (!this.holding) this.log.warn('holding: reading nothing until the exchange allows requests', { reason: h.reason, until: new Date(h.until).toISOString() });
    this.holding = true;
    this.hb.status = 'degraded';
    this.hb.detail = `holding until ${new Date(h.until).toISOString()}: ${h.reason}`;
    await sleep(Math.min(h.until - now, 1000), this.halt);
    return true;
  }

  /** A connection was lost: before new entries, redo our own pending ones, from the oldest. */
  private markRedo(): void {
    this.redoOwn = true;
    this.redoFrom = '0';
  }

  /**
   * One batch of this consumer's own pending entries after `redoFrom` (XREADGROUP with an
   * id, which counts as a delivery), processed like any batch; false when none are left.
   */
  private async redoOwnPending(s: ConsumerStage<any, any>, key: string, group: string): Promise<boolean> {
    const reply = (await this.d.writer.xreadgroup('GROUP', group, this.consumer, 'COUNT', this.d.batchSize, 'STREAMS', key, this.redoFrom)) as
      [string, [string, string[] | null][]][] | null;
    const own = reply?.[0]?.[1] ?? [];
    if (own.length === 0) {
      this.redoFrom = '0';
      return false;
    }
    // Once each: one that fails again stays pending for the reclaim, like any failure.
    this.redoFrom = own[own.length - 1]![0];
    const counts = new Map<string, number>();
    const pend = (await this.d.writer.xpending(key, group, own[0]![0], own[own.length - 1]![0], own.length, this.consumer)) as [string, string, number, number][];
    for (const [id, , , n] of pend) counts.set(id, Number(n));
    this.log.info('redoing own pending entries after a lost connection', { count: own.length });
    await this.processBatch(s, key, group, own.map(([id, arr]) => ({ id, fields: arr ? fieldsFromArray(arr) : null, deliveries: counts.get(id) ?? 2 })));
    return true;
  }

  /** Claims entries left pending past the min idle (a dead consumer's, or our own failures). */
  private async reclaim(s: ConsumerStage<any, any>, key: string, group: string): Promise<void> {
    let cursor = '0-0';
    for (let round = 0; round < 100 && !this.halt.stopped; round++) {
      const reply = (await this.d.writer.xautoclaim(
        key, group, this.consumer, this.d.reclaimIdleMs, cursor, 'COUNT', this.d.batchSize,
      )) as [string, [string, string[] | null][], string[]?];
      const [next, claimed] = reply;
      if (claimed.length) {
        const counts = new Map<string, number>();
        const pend = (await this.d.writer.xpending(key, group, claimed[0][0], claimed[claimed.length - 1][0], claimed.length, this.consumer)) as [string, string, number, number][];
        for (const [id, , , n] of pend) counts.set(id, Number(n));
        const entries = claimed.map(([id, arr]) => ({ id, fields: arr ? fieldsFromArray(arr) : null, deliveries: counts.get(id) ?? 2 }));
        this.log.info('reclaimed pending entries', { count: entries.length });
        await this.processBatch(s, key, group, entries);
      }
      cursor = next;
      if (cursor === '0-0') break;
    }
  }

  private async processBatch(s: ConsumerStage<any, any>, key: string, group: string, entries: RawEntry[]): Promise<void> {
    const now = Date.now();
    const counts = emptyCounts();
    const valid: Delivery<unknown>[] = [];
    const dead: { id: string; error: string; payload: unknown }[] = [];
    const trimmed: string[] = [];
    for (const e of entries) {
      if (e.fields === null) {
        trimmed.push(e.id); // deleted/trimmed while pending: nothing to process
        continue;
      }
      if (e.deliveries > this.d.maxDeliveries && !s.resolvesRedelivery) {
        dead.push({ id: e.id, error: `delivered ${e.deliveries} times without being processed (poison message; max ${this.d.maxDeliveries})`, payload: e.fields });
        continue;
      }
      const dec = decode(s.input, e.fields);
      if (!dec.ok) dead.push({ id: e.id, error: `not a valid ${s.input} message: ${dec.error}`, payload: e.fields });
      else valid.push({ entryId: e.id, message: dec.value, deliveries: e.deliveries });
    }

    const outcomes: Outcome[] = [];
    const acked: string[] = [...trimmed, ...dead.map((x) => x.id)];
    const lease = this.renewPending(key, group, valid.map((d) => d.entryId));
    this.inHand = { what: `${entries.length} entries of ${key} (group ${group})`, ids: entries.map((e) => e.id) };
    try {
      await this.handleAndCommit(s, key, group, now, counts, valid, dead, outcomes, acked);
      this.inHand = null;
    } finally {
      lease.stop();
    }
  }

  /**
   * While a batch is in hand, its entries' idle time is reset every third of the reclaim
   * idle time (RENEW_LUA), for at most MAX_LEASE_PERIODS periods.
   */
  private renewPending(key: string, group: string, ids: string[]): { stop(): void } {
    if (ids.length === 0) return { stop: () => undefined };
    const every = Math.max(50, Math.floor(this.d.reclaimIdleMs / 3));
    const until = Date.now() + MAX_LEASE_PERIODS * this.d.reclaimIdleMs;
    const timer = setInterval(() => {
      if (Date.now() > until) return clearInterval(timer);
      this.d.writer.eval(RENEW_LUA, 1, key, group, this.consumer, ...ids).catch((e: unknown) => this.log.debug('lease renewal failed', { error: errorMessage(e) }));
    }, every);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  private async handleAndCommit(
    s: ConsumerStage<any, any>, key: string, group: string, now: number, counts: MetricCounts,
    valid: Delivery<unknown>[], dead: { id: string; error: string; payload: unknown }[], outcomes: Outcome[], acked: string[],
  ): Promise<void> {
    const handled: { d: Delivery<unknown>; o: Outcome }[] = [];
    if (valid.length) {
      const prepared = s.prepare ? await s.prepare(valid, this.ctx) : undefined;
      for (const d of valid) {
        try {
          const o = await s.handle(d, prepared, this.ctx);
          handled.push({ d, o });
          outcomes.push(o);
          acked.push(d.entryId);
        } catch (e) {
          // Not acked: retried after the reclaim idle time, dead-lettered after max deliveries.
          counts.errors++;
          this.hb.fail(errorMessage(e));
          this.log.warn('handler failed; entry stays pending', { entry: d.entryId, error: errorMessage(e) });
        }
      }
    }
    if (acked.length === 0 && counts.errors === 0) return;

    const res = await this.commit((tx) => {
      flushBatched(tx, handled.map(({ o }) => (o.kind === 'dead' ? undefined : o.state)));
      for (const { d, o } of handled) {
        counts.in++;
        if (o.kind === 'dead') {
          counts.dead++;
          addDeadLetter(tx, this.d.names, this.d.caps, s.name, key, d.entryId, o.error, d.message, now);
          continue;
        }
        addState(tx, o.state);
        addOutputs(tx, this.d.names, this.d.caps, o.outputs);
        if (o.kind === 'reject') {
          counts.rejected++;
          counts.reasons[o.rejection.reason] = (counts.reasons[o.rejection.reason] ?? 0) + 1;
          addRejection(tx, this.d.names, this.d.caps, s.name, o.rejection, d.message, now);
        } else counts.out++;
      }
      for (const x of dead) {
        counts.in++;
        counts.dead++;
        addDeadLetter(tx, this.d.names, this.d.caps, s.name, key, x.id, x.error, x.payload, now);
      }
      addMetrics(tx, this.d.names, s.name, now, counts);
      if (acked.length) tx.xack(key, group, ...acked);
    });
    for (const [err] of res) if (err) this.log.warn('command in batch transaction failed', { error: err.message });
    for (const id of acked) if (!this.lastDone || newerId(id, this.lastDone)) this.lastDone = id;

    this.account(counts, now);
    s.committed?.(outcomes, this.ctx);
  }

  private account(c: MetricCounts, now: number): void {
    const t = this.totals;
    t.in += c.in;
    t.out += c.out;
    t.rejected += c.rejected;
    t.dead += c.dead;
    t.errors += c.errors;
    for (const [r, n] of Object.entries(c.reasons)) t.reasons[r] = (t.reasons[r] ?? 0) + n;
    this.hb.processed += c.in;
    if (c.in) this.hb.lastMsgAt = now;
  }

  /**
   * One tick and its commit (outputs, state, rejections and metrics in one transaction).
   * @returns how many outputs it published. @throws what the tick or the commit threw.
   */
  private async runTick(s: TickerStage): Promise<number> {
    const t0 = Date.now(); // metrics and rejections are filed by wall time, in replays too
    this.inHand = { what: `the tick of ${s.name} started at ${new Date(t0).toISOString()}`, ids: [] };
    try {
      const r = await s.tick(this.ctx);
      const counts = emptyCounts();
      counts.in = r.in ?? 0;
      counts.out = r.out ?? r.outputs?.length ?? 0;
      const res = await this.commit((tx) => {
        flushBatched(tx, [r.state]);
        addState(tx, r.state);
        addOutputs(tx, this.d.names, this.d.caps, r.outputs);
        for (const rej of r.rejections ?? []) {
          counts.rejected++;
          counts.reasons[rej.reason] = (counts.reasons[rej.reason] ?? 0) + 1;
          addRejection(tx, this.d.names, this.d.caps, s.name, rej, { symbol: rej.symbol, ref_id: rej.refId }, t0);
        }
        addMetrics(tx, this.d.names, s.name, t0, counts);
      });
      for (const [err] of res) if (err) this.log.warn('command in tick transaction failed', { error: err.message });
      this.log.debug('tick committed', { started_at: t0, out: counts.out });
      this.account(counts, t0);
      if (this.hb.status === 'failed') this.hb.status = 'running';
      return r.outputs?.length ?? 0;
    } finally {
      this.inHand = null;
    }
  }

  /**
   * Replay lock step: one tick of this timer-driven stage, now, on the runner's clock.
   * Not ok (with the reason) when stopping, when another engine holds the stage's lease, or
   * when the tick or its commit failed (the conductor then waits and tries again).
   */
  async tickOnce(): Promise<TickOnceResult> {
    const s = this.stage;
    if (isConsumer(s)) return { ok: false, reason: `${s.name} consumes a stream; it does not tick` };
    if (this.halt.stopped) return { ok: false, reason: `${s.name} is stopping` };
    if (this.lease && !this.lease.held()) return { ok: false, reason: `${s.name}: ${this.hb.detail || 'its lease is not held by this engine'}` };
    try {
      if (!this.stageStarted) {
        await this.createGroups();
        await this.startStage();
      }
      return { ok: true, outputs: await this.runTick(s) };
    } catch (e) {
      if (!(e instanceof LeaseLostError)) this.hb.fail(errorMessage(e));
      return { ok: false, reason: `${s.name}: tick failed: ${errorMessage(e)}` };
    }
  }

  private async tickLoop(s: TickerStage): Promise<void> {
    while (!this.halt.stopped) {
      if (this.lease && !(await this.awaitLease())) continue;
      const t0 = Date.now();
      try {
        await this.runTick(s);
      } catch (e) {
        if (this.halt.stopped) break;
        if (e instanceof LeaseLostError) {
          this.log.warn('lease lost during the tick: its results are dropped (the holder ticks instead)', { error: e.message });
          continue;
        }
        this.hb.fail(errorMessage(e));
        this.log.warn('tick failed', { error: errorMessage(e) });
      }
      const wait = Math.max(0, s.everyMs - (Date.now() - t0));
      await sleep(wait, this.halt);
    }
  }
}
