/** End to end: spawns the CLI (through tsx) and checks exit codes and outputs. */
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import * as S from './scenarios/index.js';
import { qt } from '../helpers/cli.js';
import type { Ctx } from './scenarios/build.js';

afterAll(closeAll);

async function prefixWith(build?: (c: Ctx) => Promise<void>): Promise<string> {
  const names = testNames(uniquePrefix('cli'));
  if (build) await build({ redis: testRedis(), names, now: Date.now() });
  return names.prefix;
}

describe('qt health / diagnose / cleanup end to end', () => {
  it('health exits 0 on a healthy pipeline and --quiet prints nothing', async () => {
    const p = await prefixWith(S.healthy);
    const r = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', p, '--quiet']);
    expect(r).toMatchObject({ code: 0, stdout: '' });
  });

  it('health exits 1 on warnings (ghost keys) with a Nagios line carrying perfdata', async () => {
    const p = await prefixWith(S.ghosts72);
    const r = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', p, '--format', 'nagios']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^QT WARNING - GHOST_KEYS positions \| /);
    expect(r.stdout).toMatch(/'ghost_keys'=72;1;;0/);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('health exits 2 on critical findings; prom output has no timestamps', async () => {
    const p = await prefixWith(S.starvingExecutor);
    const r = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', p, '--format', 'prom']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`qt_health_status{prefix="${p}"} 2`);
    expect(r.stdout).toContain('qt_finding{prefix="' + p + '",code="GROUP_STARVING",severity="crit",subject="apply.plan.manual intent_executor_manual"} 1');
    for (const line of r.stdout.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .+|[a-z_]+(\{[^}]*\})? -?[0-9.eNa]+)$/);
  });

  it('health exits 3 with one line when Redis is unreachable, and never shows the password', async () => {
    const r = await qt(['health', '--redis-url', 'redis://u:s3cret-pw@127.0.0.1:1', '--prefix', 'x']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('cannot reach Redis');
    expect(r.stderr + r.stdout).not.toContain('s3cret-pw');
  });

  it('diagnose pipeline --json prints the contract shape', async () => {
    const p = await prefixWith(S.starvingExecutor);
    const r = await qt(['diagnose', 'pipeline', '--redis-url', testRedisUrl(), '--prefix', p, '--json', '--window', '1h']);
    expect(r.code).toBe(2);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ window_s: 3600, status: 'crit' });
    expect(typeof j.generated_at).toBe('number');
    const s = j.streams.find((x: any) => x.stream === 'apply.plan');
    expect(s).toMatchObject({ length: 10002, groups: [{ group: 'apply_layer_entry', consumers: 1, pending: 0 }] });
    expect(s.groups[0]).toHaveProperty('lag');
    expect(s.groups[0]).toHaveProperty('entries_read');
    expect(typeof s.age_s).toBe('number');
    expect(j.findings[0]).toEqual(expect.objectContaining({ code: expect.any(String), severity: 'crit', subject: expect.any(String), message: expect.any(String), evidence: expect.any(Object), fix: expect.any(String) }));
  });

  it('diagnose pipeline prints tables and findings for humans', async () => {
    const p = await prefixWith(S.fieldMismatch);
    const r = await qt(['diagnose', 'pipeline', '--redis-url', testRedisUrl(), '--prefix', p]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('intent_bridge');
    expect(r.stdout).toContain('CONTRACT_MISMATCH');
    expect(r.stdout).toContain('invalid_quantity 99');
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  it('cleanup ghosts without a mode refuses (exit 2); --dry-run --json prints the contract shape', async () => {
    const p = await prefixWith(S.ghosts72);
    const no = await qt(['cleanup', 'ghosts', '--redis-url', testRedisUrl(), '--prefix', p]);
    expect(no.code).toBe(2);
    expect(no.stderr).toMatch(/--dry-run.*--yes/);
    const r = await qt(['cleanup', 'ghosts', '--redis-url', testRedisUrl(), '--prefix', p, '--dry-run', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j).sort()).toEqual(['backup', 'deleted', 'dry_run', 'ghosts', 'scanned']);
    expect(j).toMatchObject({ dry_run: true, deleted: 0, backup: null });
    expect(j.ghosts[0]).toEqual({ key: expect.any(String), kind: expect.stringMatching(/position|snapshot/), reason: expect.any(String) });
  });

  it('services forget removes a retired service from the registry, and refuses one still beating', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('cli'));
    await S.failedServices({ redis, names, now: Date.now() });
    const base = ['--redis-url', testRedisUrl(), '--prefix', names.prefix];
    expect((await qt(['services', 'forget', 'rl_agent', ...base])).code).toBe(0);
    expect(await redis.sismember(names.registry(), 'rl_agent')).toBe(0);
    const busy = await qt(['services', 'forget', 'intent_bridge', ...base]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain('heartbeat');
  });
});
