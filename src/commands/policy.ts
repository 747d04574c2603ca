/**
 * `qt policy show [--json]` and `qt policy set key=value …`: the policy store
 * (`policy:current`). A change gets a new version and is announced on `policy.updated`;
 * running stages apply it within a second (PolicyCache). Invalid values are refused with
 * the allowed range (exit 2).
 */
import type { Redis } from 'ioredis';
import type { Names } from '../contract/names.js';
import type { Policy } from '../contract/state.js';
import { UsageError } from '../errors.js';
import type { QtCommand } from './command.js';
import { configFrom } from './command.js';

interface PolicyArgs {
  action?: string;
  pairs?: string[];
  json?: boolean;
}

/** `key=value` words → pairs; a word without `=` is a usage error naming it. */
export function parsePairs(words: string[]): Record<string, string> {
  const pairs: Record<string, string> = {};
  const bad: string[] = [];
  for (const w of words) {
    const i = w.indexOf('=');
    if (i <= 0) bad.push(`${w}: expected key=value (for example max_leverage=5)`);
    else pairs[w.slice(0, i).trim()] = w.slice(i + 1);
  }
  if (bad.length) throw new UsageError('policy set: invalid argument', bad);
  if (!Object.keys(pairs).length) throw new UsageError('policy set: name at least one key=value (qt policy show lists the fields)');
  return pairs;
}

/** Validates and applies a change; throws UsageError with every problem and its allowed range. */
export async function policySet(redis: Redis, names: Names, words: string[], fallback: Policy, by = 'qt policy set'): Promise<Policy> {
  const { validatePolicyPatch, setPolicy } = await import('../engine/state/policy.js');
  const v = validatePolicyPatch(parsePairs(words));
  if (!v.ok) throw new UsageError(`policy set: ${v.problems.length} invalid value${v.problems.length > 1 ? 's' : ''}; nothing changed`, v.problems);
  return setPolicy(redis, names, v.patch, by, fallback);
}

/**
 * `allowlist=` names only symbols of the market rules (the snapshot or QT_MARKETS_FILE);
 * a usage error names each unknown one with the nearest known symbol. Nothing changes.
 */
async function checkAllowlist(words: string[], marketsFile: string | undefined): Promise<void> {
  const pairs = parsePairs(words);
  if (pairs.allowlist === undefined) return;
  const list = pairs.allowlist.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  const { knownSymbols, unknownSymbolProblems } = await import('../config/symbols.js');
  const known = await knownSymbols(marketsFile);
  const problems = known ? unknownSymbolProblems('allowlist', list, known) : [];
  if (problems.length) throw new UsageError(`policy set: ${problems.length} unknown symbol${problems.length > 1 ? 's' : ''}; nothing changed`, problems);
}

export function formatPolicy(p: Policy, describe: Record<string, { describe: string }>): string {
  const lines = [`version ${p.version}`];
  for (const [k, v] of Object.entries(p)) {
    if (k === 'version') continue;
    const shown = Array.isArray(v) ? (v.length ? v.join(',') : '(any)') : String(v);
    lines.push(`  ${k.padEnd(24)} ${shown.padEnd(22)} ${describe[k]?.describe ?? ''}`);
  }
  return lines.join('\n');
}

export const policy: QtCommand<PolicyArgs> = {
  command: 'policy [action] [pairs..]',
  describe: 'show the trading policy, or set key=value … (applied by running stages within a second)',
  builder: (y) =>
    y
      .positional('action', { choices: ['show', 'set'] as const, describe: 'show | set' })
      .positional('pairs', { type: 'string', array: true, describe: 'key=value pairs for set' })
      .option('json', { type: 'boolean', describe: 'print JSON' }),
  async run(argv) {
    if (!argv.action) throw new UsageError('policy: name an action: qt policy show (the policy in force) or qt policy set key=value … (for example max_leverage=5)');
    const cfg = await configFrom(argv);
    const { connectPipelineRedis } = await import('../redis/cluster-engine.js');
    const { POLICY_FIELDS, policyFromConfig } = await import('../engine/state/policy.js');
    const { readPolicy } = await import('../contract/state.js');
    const redis = await connectPipelineRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli', name: 'qt:policy', names: cfg.names });
    try {
      const fallback = policyFromConfig(cfg);
      let p: Policy;
      if (argv.action === 'set') {
        await checkAllowlist((argv.pairs ?? []).map(String), cfg.paper.marketsFile);
        p = await policySet(redis, cfg.names, (argv.pairs ?? []).map(String), fallback);
      }
      else {
        if (argv.pairs?.length) throw new UsageError(`policy show: takes no key=value (got ${argv.pairs.join(' ')}); use qt policy set`);
        const h = await redis.hgetall(cfg.names.policy());
        p = readPolicy(h, { ...fallback, version: Object.keys(h).length ? fallback.version : '0 (not stored yet: configuration defaults)' });
      }
      process.stdout.write((argv.json ? JSON.stringify(p, null, 2) : formatPolicy(p, POLICY_FIELDS)) + '\n');
      if (argv.action === 'set' && !argv.json) process.stdout.write(`policy version ${p.version} stored and announced on policy.updated\n`);
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
  },
};
