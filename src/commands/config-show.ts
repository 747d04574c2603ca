import type { QtCommand } from './command.js';
import { configFrom } from './command.js';
import type { Policy } from '../contract/state.js';

/** The policy in force, read from Redis (`policy:current`), or why it could not be read. */
interface PolicyInForce {
  /** null: Redis has no policy yet (the engine writes the configured one at its first start) or could not be read */
  in_force: Policy | null;
  /** the policy the configuration would start with (QT_MIN_CONFIDENCE, QT_MAX_LEVERAGE, …) */
  configured: Policy;
  /** where in_force came from, or why it is null */
  source: string;
}

export const configShow: QtCommand<{ json?: boolean }> = {
  command: 'config show',
  describe: 'print the effective configuration (secrets redacted) and the policy in force (from Redis)',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }),
  async run(argv) {
    const { redactedConfig, VARIABLES } = await import('../config/config.js');
    const cfg = await configFrom(argv);
    // Every check `qt up` runs before it connects (one function shared with qt up).
    await (await import('../config/preconnect.js')).checkBeforeConnect(cfg);
    const red = redactedConfig(cfg);
    const policy = await policyInForce(cfg);
    if (argv.json) {
      process.stdout.write(JSON.stringify({ ...red, policy }, null, 2) + '\n');
      return;
    }
    const lines: string[] = [];
    for (const name of Object.keys(VARIABLES)) {
      const src = cfg.sources[name] ?? 'default';
      const val = cfg.effective[name];
      lines.push(`${name.padEnd(26)} ${val === undefined || val === '' ? '(unset)' : val}  (${src})`);
    }
    lines.push('', 'streams:');
    for (const [s, key] of Object.entries(streamsOf(cfg))) lines.push(`  ${s.padEnd(22)} ${key}`);
    lines.push('', `policy: ${policy.source}`);
    lines.push(`  ${'field'.padEnd(24)} ${'in force'.padEnd(22)} configured default`);
    const shown = (v: unknown) => (Array.isArray(v) ? (v.length ? v.join(',') : '(any)') : String(v));
    for (const [k, v] of Object.entries(policy.configured)) {
      if (k === 'version') continue;
      const now = policy.in_force ? shown((policy.in_force as unknown as Record<string, unknown>)[k]) : '?';
      const dflt = shown(v);
      const same = policy.in_force && now === dflt;
      lines.push(`  ${k.padEnd(24)} ${now.padEnd(22)} ${same ? '(same)' : dflt}${policy.in_force && !same ? '   (changed by qt policy set)' : ''}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  },
};

/**
 * Reads `policy:current` (the store `qt policy set` changes and the stages follow) beside
 * the policy the configuration starts with. Redis unreachable is said, not fatal: the
 * configuration is still worth seeing.
 */
async function policyInForce(cfg: Awaited<ReturnType<typeof configFrom>>): Promise<PolicyInForce> {
  const { policyFromConfig } = await import('../engine/state/policy.js');
  const { readPolicy } = await import('../contract/state.js');
  const { connectRedis } = await import('../redis/connect.js');
  const configured = policyFromConfig(cfg);
  let redis;
  try {
    redis = await connectRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli', name: 'qt:config', connectTimeoutMs: 1500 });
  } catch (e) {
    return { in_force: null, configured, source: `in force unknown: ${(e as Error).message}` };
  }
  try {
    const h = await redis.hgetall(cfg.names.policy());
    if (!Object.keys(h).length) return { in_force: null, configured, source: `none stored yet in ${cfg.names.policy()} (the engine stores the configured one when it starts)` };
    const p = readPolicy(h, configured);
    return { in_force: p, configured, source: `in force: ${cfg.names.policy()} version ${p.version} (qt policy set changes it)` };
  } catch (e) {
    return { in_force: null, configured, source: `in force unknown: cannot read ${cfg.names.policy()} (${(e as Error).message})` };
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}

function streamsOf(cfg: Awaited<ReturnType<typeof configFrom>>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const s of ['ai.signal_generated', 'trade.intent', 'apply.plan', 'apply.approved', 'apply.result', 'execution.result', 'risk.proposal', 'policy.updated', 'stage.rejected', 'dead.letter', 'rl.proposal'] as const) {
    o[s] = cfg.names.stream(s);
  }
  return o;
}
