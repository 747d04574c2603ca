/**
 * The policy store (`{prefix}:policy:current`): the initial policy from configuration,
 * a short-lived cache so running stages apply a change within a second without a
 * restart, and validated updates announced on `policy.updated`.
 */
import type { Redis } from 'ioredis';
import type { Config } from '../../config/config.js';
import { encode } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import { DEFAULT_POLICY, policyToHash, readPolicy, type Policy } from '../../contract/state.js';

export function policyFromConfig(c: Config): Policy {
  return {
    ...DEFAULT_POLICY,
    version: '1',
    allowlist: [...c.symbols],
    max_open_positions: c.trading.maxOpenPositions,
    max_position_usd: c.trading.maxPositionUsd,
    max_leverage: c.trading.maxLeverage,
    min_confidence: c.trading.minConfidence,
    allow_upsize: c.trading.allowUpsize,
    entry_max_age_ms: c.trading.entryMaxAgeMs,
  };
}

/** Writes the initial policy when none exists, and announces it. Returns the current one. */
export async function ensurePolicy(redis: Redis, names: Names, initial: Policy): Promise<Policy> {
  const created = await redis.hsetnx(names.policy(), 'version', initial.version);
  if (created) {
    const tx = redis.multi().hset(names.policy(), policyToHash(initial));
    tx.xadd(names.stream('policy.updated'), 'MAXLEN', '~', '1000', '*',
      ...Object.entries(encode('policy.updated', { version: initial.version, ts: Date.now(), changed: JSON.stringify(policyToHash(initial)), by: 'engine (initial policy from configuration)' })).flat());
    await tx.exec();
    return initial;
  }
  return readPolicy(await redis.hgetall(names.policy()), initial);
}

/** Reads the policy at most every `ttlMs` (default 500 ms): changes apply within a second. */
export class PolicyCache {
  private value?: Policy;
  private at = 0;
  constructor(
    private readonly names: Names,
    private readonly fallback: Policy,
    private readonly ttlMs = 500,
  ) {}

  async get(redis: Redis, now = Date.now()): Promise<Policy> {
    if (this.value && now - this.at < this.ttlMs) return this.value;
    this.value = readPolicy(await redis.hgetall(this.names.policy()), this.fallback);
    this.at = now;
    return this.value;
  }

  /** For stages that batch their reads: feed a raw hash read elsewhere. */
  accept(hash: Record<string, string>, now = Date.now()): Policy {
    this.value = readPolicy(hash, this.fallback);
    this.at = now;
    return this.value;
  }

  fresh(now = Date.now()): boolean {
    return !!this.value && now - this.at < this.ttlMs;
  }

  invalidate(): void {
    this.at = 0;
  }
}

type FieldSpec = { kind: 'int' | 'num' | 'bool' | 'list'; min?: number; max?: number; describe: string };

/** Every settable policy field, its allowed range, and what it means. */
export const POLICY_FIELDS: Record<Exclude<keyof Policy, 'version'>, FieldSpec> = {
  allowlist: { kind: 'list', describe: 'symbols allowed to trade (comma list)' },
  max_open_positions: { kind: 'int', min: 0, max: 1000, describe: 'open-position limit' },
  max_position_usd: { kind: 'num', min: 1, max: 10_000_000, describe: 'largest margin per position (USD)' },
  max_leverage: { kind: 'int', min: 1, max: 125, describe: 'largest leverage' },
  min_confidence: { kind: 'num', min: 0, max: 1, describe: 'signals under this confidence are dropped' },
  allow_upsize: { kind: 'bool', describe: 'upsize to the smallest valid quantity under min notional' },
  max_symbol_exposure_usd: { kind: 'num', min: 0, max: 1e9, describe: 'largest notional per symbol (USD)' },
  max_total_exposure_usd: { kind: 'num', min: 0, max: 1e10, describe: 'largest total notional (USD)' },
  daily_loss_limit_usd: { kind: 'num', min: 0, max: 1e9, describe: 'realised daily loss that turns the kill switch on (USD)' },
  rl_influence: { kind: 'bool', describe: 'let the RL agent scale entry sizes' },
  price_max_age_ms: { kind: 'int', min: 100, max: 3_600_000, describe: 'older prices are stale' },
  entry_max_age_ms: { kind: 'int', min: 1000, max: 604_800_000, describe: 'older entries (signal/intent/plan/approval) are rejected intent_expired (ms)' },
};

/** Validates `key=value` pairs; every problem names the key and the allowed range. */
export function validatePolicyPatch(pairs: Record<string, string>): { ok: true; patch: Record<string, string> } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const patch: Record<string, string> = {};
  for (const [k, raw] of Object.entries(pairs)) {
    const spec = (POLICY_FIELDS as Record<string, FieldSpec>)[k];
    if (!spec) {
      problems.push(`${k}: not a policy field (expected one of ${Object.keys(POLICY_FIELDS).join(', ')})`);
      continue;
    }
    const v = raw.trim();
    if (spec.kind === 'bool') {
      if (!['true', 'false'].includes(v.toLowerCase())) problems.push(`${k}: expected true or false (got ${JSON.stringify(v)})`);
      else patch[k] = v.toLowerCase();
    } else if (spec.kind === 'list') {
      const l = v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
      if (!l.every((s) => /^[A-Z0-9]{2,30}$/.test(s))) problems.push(`${k}: expected a comma list of symbols like BTCUSDT,ETHUSDT (got ${JSON.stringify(v)})`);
      else patch[k] = l.join(',');
    } else {
      const n = Number(v);
      const range = `${spec.min} to ${spec.max}`;
      if (v === '' || !Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n)) || n < spec.min! || n > spec.max!) {
        problems.push(`${k}: expected ${spec.kind === 'int' ? 'a whole number' : 'a number'} from ${range} (got ${JSON.stringify(v)})`);
      } else patch[k] = String(n);
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, patch };
}

/** Applies a validated patch with a new version, and announces it on `policy.updated`. */
export async function setPolicy(redis: Redis, names: Names, patch: Record<string, string>, by: string, fallback: Policy = DEFAULT_POLICY): Promise<Policy> {
  for (let attempt = 0; attempt < 10; attempt++) {
    await redis.watch(names.policy());
    const current = readPolicy(await redis.hgetall(names.policy()), fallback);
    const version = String((Number.parseInt(current.version, 10) || 0) + 1);
    const next = { ...policyToHash(current), ...patch, version };
    const tx = redis.multi().hset(names.policy(), next);
    tx.xadd(names.stream('policy.updated'), 'MAXLEN', '~', '1000', '*',
      ...Object.entries(encode('policy.updated', { version, ts: Date.now(), changed: JSON.stringify(patch), by })).flat());
    const res = await tx.exec();
    if (res) return readPolicy(next, fallback);
  }
  throw new Error('policy changed concurrently 10 times in a row; try again');
}
