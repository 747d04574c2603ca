/**
 * Writes that must be on a replica before the program acts on them outside Redis (an
 * order sent to the exchange). Redis replicates asynchronously: a primary killed right
 * after a write can lose it, and Sentinel then promotes a replica that never saw it
 * (redis.io, Sentinel: "Redis Sentinel … does not guarantee that acknowledged writes are
 * retained during failures"). `WAIT numreplicas timeout` blocks until the writes sent on
 * *this connection* before it are acknowledged by that many replicas, and returns how many
 * did (https://redis.io/docs/latest/commands/wait/); Sentinel promotes the replica with the
 * most recent replication offset, so a write that WAIT confirmed on the only replica is on
 * the new primary after a failover. It is best effort in Redis's own words (a partition
 * can still promote a replica that missed it), which docs/operations.md states.
 *
 * The connection never resends a command after a reconnect (`autoResendUnfulfilledCommands:
 * false`), and a confirmation is refused when the connection was lost between the writes
 * and the WAIT: a WAIT on a new connection, which wrote nothing, would answer at once for
 * writes the old primary may have lost.
 */
import type { Redis } from 'ioredis';

/** The writes were not confirmed on enough replicas: whatever depends on them must not happen yet. */
export class ReplicaWaitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicaWaitError';
  }
}

export class ReplicatedWrites {
  private epoch = 0;

  /**
   * `redis`: a connection of its own (WAIT covers only this connection's writes), opened
   * with autoResendUnfulfilledCommands false. `replicas`: how many must acknowledge (≥ 1);
   * `timeoutMs`: how long WAIT waits for them.
   */
  constructor(
    readonly redis: Redis,
    readonly replicas: number,
    readonly timeoutMs: number,
  ) {
    redis.on('close', () => this.epoch++);
  }

  /** A token taken before the writes; `confirm` refuses if the connection changed since. */
  mark(): number {
    return this.epoch;
  }

  /**
   * WAIT for the writes sent on this connection since `mark`. Resolves with the number of
   * replicas that acknowledged; throws ReplicaWaitError when fewer than `replicas` did
   * within `timeoutMs`, or when the connection was lost since `mark`.
   */
  async confirm(mark: number, what: string): Promise<number> {
    if (this.epoch !== mark) throw new ReplicaWaitError(`${what}: the Redis connection was lost after the write; not confirmed on a replica`);
    const n = Number(await this.redis.call('WAIT', this.replicas, this.timeoutMs));
    if (this.epoch !== mark) throw new ReplicaWaitError(`${what}: the Redis connection was lost during WAIT; not confirmed on a replica`);
    if (!(n >= this.replicas)) {
      throw new ReplicaWaitError(`${what}: on ${n} of the ${this.replicas} replica(s) QT_REDIS_WAIT_REPLICAS asks for within ${this.timeoutMs} ms (WAIT); a failover could lose it, so nothing is sent until a replica has it`);
    }
    return n;
  }
}
