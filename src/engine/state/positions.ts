/**
 * Open positions (CONTRACT.md §2): exactly the `{prefix}:position:{SYMBOL}` hashes with
 * `qty` > 0. Ledger (`position:ledger:*`) and snapshot (`position:snapshot:*`) keys are
 * never positions: the seeds' counter counted them and saw "47/10" open positions.
 */
import type { Redis } from 'ioredis';
import type { Names } from '../../contract/names.js';
import { readPosition, type PositionState } from '../../contract/state.js';
import { loadHashes } from './prices.js';

/** The open position of each symbol (symbols without an open position are absent). */
export async function loadPositions(redis: Redis, names: Names, symbols: readonly string[]): Promise<Map<string, PositionState>> {
  const list = [...new Set(symbols)];
  const hashes = await loadHashes(redis, list.map((s) => names.position(s)));
  return positionsFrom(list, hashes);
}

export function positionsFrom(symbols: readonly string[], hashes: readonly Record<string, string>[]): Map<string, PositionState> {
  const out = new Map<string, PositionState>();
  symbols.forEach((s, i) => {
    const p = readPosition(s, hashes[i] ?? {});
    if (p) out.set(s, p);
  });
  return out;
}

export interface PositionScan {
  /** Open positions by symbol. */
  positions: Map<string, PositionState>;
  /** `position:*` keys seen, by kind (ledger and snapshot keys are counted, never positions). */
  keys: { position: number; ledger: number; snapshot: number; other: number };
  at: number;
}

/** SCAN `position:*` (COUNT, never KEYS), keep only position keys, read them in one pipeline. */
export async function scanOpenPositions(redis: Redis, names: Names, now = Date.now(), count = 2000): Promise<PositionScan> {
  const keys = { position: 0, ledger: 0, snapshot: 0, other: 0 };
  const symbols = new Set<string>();
  const seen = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', names.positionPattern(), 'COUNT', count);
    cursor = next;
    for (const k of batch) {
      if (seen.has(k)) continue; // SCAN may return a key twice
      seen.add(k);
      const c = names.classifyPositionKey(k);
      if (!c) keys.other++;
      else {
        keys[c.kind]++;
        if (c.kind === 'position') symbols.add(c.symbol);
      }
    }
  } while (cursor !== '0');
  const list = [...symbols];
  const hashes = await loadHashes(redis, list.map((s) => names.position(s)));
  return { positions: positionsFrom(list, hashes), keys, at: now };
}

/**
 * A scan reused for at most `ttlMs`, so each batch costs a bounded number of round trips.
 * Once a scan exists, an older one is refreshed in the background: the SCAN over the
 * keyspace (tens of round trips on a large one) never sits in a batch's path; a batch gets
 * the last scan, at most `ttlMs` plus one scan old. Only a scan more than ten periods old
 * (the refreshes keep failing) is waited for.
 */
export class OpenPositionCache {
  private last?: PositionScan;
  private refreshing?: Promise<void>;
  /**
   * @param ttlMs how long a scan is reused (ms of the caller's clock)
   * @param inBackground refresh an older scan in the background (default); false: every refresh
   *   is waited for, so what a batch sees depends on the clock alone (a replay in lock step)
   */
  constructor(
    private readonly names: Names,
    private readonly ttlMs = 250,
    private readonly inBackground = true,
  ) {}

  async get(redis: Redis, now = Date.now()): Promise<PositionScan> {
    const last = this.last;
    if (last && now - last.at < this.ttlMs) return last;
    if (this.inBackground && last && now - last.at < 10 * this.ttlMs) {
      this.refreshing ??= scanOpenPositions(redis, this.names, now)
        .then((s) => {
          if (!this.last || this.last.at <= s.at) this.last = s;
        }, () => undefined) // kept: the next batch tries again, and waits once the scan is too old
        .finally(() => {
          this.refreshing = undefined;
        });
      return last;
    }
    this.last = await scanOpenPositions(redis, this.names, now);
    return this.last;
  }

  invalidate(): void {
    this.last = undefined;
  }
}
