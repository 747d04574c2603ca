/**
 * End to end, the focused views: `qt diagnose streams|services|positions|rejections` and
 * `qt cleanup consumers`, spawned as a user runs them, against the scenario corpus.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import * as S from './scenarios/index.js';
import { qt } from '../helpers/cli.js';
import type { Ctx } from './scenarios/build.js';

afterAll(closeAll);

async function deployment(...builds: ((c: Ctx) => Promise<void>)[]): Promise<{ ctx: Ctx; args: string[] }> {
  const ctx: Ctx = { redis: testRedis(), names: testNames(uniquePrefix('view')), now: Date.now() };
  for (const b of builds) await b(ctx);
  return { ctx, args: ['--redis-url', testRedisUrl(), '--prefix', ctx.names.prefix] };
}

const STREAM_CODES = ['STREAM_STALE', 'GROUP_STARVING', 'STREAM_UNCONSUMED', 'GROUP_LAGGING', 'PENDING_STUCK', 'CONSUMER_DEAD', 'DEAD_LETTERS', 'REDIS_CONFIG'];

describe('qt diagnose views and qt cleanup consumers', () => {
  it('diagnose streams: the starving group with the stream that has the traffic; only stream findings', async () => {
    const { args } = await deployment(S.starvingExecutor, S.fieldMismatch);
    const j = await qt(['diagnose', 'streams', ...args, '--json']);
    expect(j.code).toBe(2);
    const body = JSON.parse(j.stdout);
    expect(Object.keys(body).sort()).toEqual(['findings', 'generated_at', 'prefix', 'status', 'streams', 'window_s']);
    expect(body.streams.find((s: any) => s.stream === 'apply.plan.manual').groups[0]).toMatchObject({ group: 'intent_executor_manual' });
    const starving = body.findings.find((f: any) => f.code === 'GROUP_STARVING');
    expect(starving).toMatchObject({ severity: 'crit', subject: 'apply.plan.manual intent_executor_manual' });
    expect(JSON.stringify(starving.evidence)).toContain('apply.plan');
    // the field mismatch is a rejection finding, not a stream one
    for (const f of body.findings) expect(STREAM_CODES).toContain(f.code);

    const t = await qt(['diagnose', 'streams', ...args]);
    expect(t.code).toBe(2);
    expect(t.stdout).toContain('apply.plan.manual');
    expect(t.stdout).toContain('GROUP_STARVING');
    expect(t.stdout).not.toContain('CONTRACT_MISMATCH');
    expect(t.stdout).not.toMatch(/\u001b\[/);
  });

  it('diagnose services: the failed service with its error, and the ones that never came up', async () => {
    const { args } = await deployment(S.failedServices);
    const j = await qt(['diagnose', 'services', ...args, '--json']);
    expect(j.code).toBe(2);
    const body = JSON.parse(j.stdout);
    expect(body.registry_known).toBe(true);
    expect(body.services.find((s: any) => s.service === 'harvest_brain')).toMatchObject({ status: 'failed' });
    const codes = body.findings.map((f: any) => `${f.code} ${f.subject}`);
    expect(codes).toContain('SERVICE_FAILED harvest_brain');
    for (const s of ['risk_guard', 'rl_agent', 'verify_ensemble']) expect(codes).toContain(`SERVICE_DOWN ${s}`);
    expect(codes.some((c: string) => c.endsWith(' intent_bridge'))).toBe(false);

    const t = await qt(['diagnose', 'services', ...args]);
    expect(t.stdout).toContain('203/EXEC');
  });

  it('diagnose positions: 10 open, 72 ghosts listed with why, ledger keys counted and never ghosts', async () => {
    const { args } = await deployment(S.ghosts72);
    const j = await qt(['diagnose', 'positions', ...args, '--json']);
    expect(j.code).toBe(1);
    const p = JSON.parse(j.stdout).positions;
    expect(p).toMatchObject({ open: 10, ledger_keys: 20, position_keys: 36, snapshot_keys: 46 });
    expect(p.ghosts).toHaveLength(72);
    expect(p.ghosts.filter((g: any) => g.kind === 'position')).toHaveLength(26);
    expect(p.ghosts.some((g: any) => g.key.includes(':ledger:'))).toBe(false);
    const keys = p.ghosts.map((g: any) => g.key);
    expect(keys).toEqual([...keys].sort()); // diagnose lists them sorted

    const t = await qt(['diagnose', 'positions', ...args]);
    expect(t.stdout).toMatch(/ghosts: 72/);
    expect(t.stdout).toContain('qty missing');
    expect(t.stdout).toContain('GHOST_KEYS');
  });

  it('diagnose rejections: --stage and --reason narrow the counts and the examples', async () => {
    const { args } = await deployment(S.ordersTooSmall, S.closePrecision, S.fieldMismatch);
    const all = JSON.parse((await qt(['diagnose', 'rejections', ...args, '--json'])).stdout);
    expect(new Set(all.latest.map((x: any) => x.reason))).toEqual(new Set(['below_min_notional', 'precision_invalid', 'invalid_quantity']));

    const r = await qt(['diagnose', 'rejections', ...args, '--json', '--stage', 'intent_executor', '--reason', 'below_min_notional']);
    const body = JSON.parse(r.stdout);
    expect(body.latest).toHaveLength(8);
    for (const x of body.latest) expect(x).toMatchObject({ stage: 'intent_executor', reason: 'below_min_notional' });
    expect(JSON.parse(body.latest[0].payload)).toMatchObject({ notional: '70.61', qty: '0.0007' });
    expect(body.stages.map((s: any) => s.stage)).toEqual(['intent_executor']);
    expect(body.stages[0].top_reasons.map((x: any) => x.reason)).toEqual(['below_min_notional']);

    const t = await qt(['diagnose', 'rejections', ...args, '--stage', 'intent_executor', '--reason', 'below_min_notional']);
    expect(t.stdout).toContain('notional 70.61 < minNotional 100.00');
    expect(t.stdout).not.toContain('Invalid quantity');
  });

  it('cleanup consumers: a dry run lists the 18 idle consumers with nothing pending; --yes deletes them and keeps the 5 holding entries', async () => {
    const { ctx, args } = await deployment(S.deadConsumers);
    const key = ctx.names.stream('apply.plan');
    const dry = await qt(['cleanup', 'consumers', ...args, '--dry-run', '--idle', '0ms', '--json']);
    expect(dry.code).toBe(0);
    const d = JSON.parse(dry.stdout);
    expect(d).toMatchObject({ dry_run: true, deleted: 0 });
    expect(d.consumers).toHaveLength(18);
    expect(((await ctx.redis.xinfo('CONSUMERS', key, 'apply_layer_entry')) as unknown[]).length).toBe(23);

    const none = await qt(['cleanup', 'consumers', ...args]);
    expect(none.code).toBe(2);

    const yes = await qt(['cleanup', 'consumers', ...args, '--yes', '--idle', '0ms']);
    expect(yes.code).toBe(0);
    expect(yes.stdout).toContain('deleted 18');
    const left = (await ctx.redis.xinfo('CONSUMERS', key, 'apply_layer_entry')) as unknown[][];
    expect(left).toHaveLength(5);
    expect(Number(await ctx.redis.xpending(key, 'apply_layer_entry').then((p) => (p as unknown[])[0]))).toBe(10);
  });
});
