/**
 * `qt diagnose streams --sample` end to end against the real redis-server: a stalled group
 * (its consumer polls its own pending list, the position never moves), a stopped one (a
 * backlog, no consumer) and a healthy one (caught up, its consumer blocking on `>`). Also
 * the console's TrendHistory and the sample construction against invariants.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { qt } from '../helpers/cli.js';
import { consumeAll, fill, group, type Ctx } from './scenarios/build.js';
import { samplePlan, sampleOf, sampleTrends, TrendHistory } from '../../src/diagnose/trend-sample.js';
import type { Report } from '../../src/diagnose/read-model.js';

afterAll(closeAll);

/** Builds the three groups and starts the two pollers; returns a stop function. */
async function build(ctx: Ctx): Promise<() => Promise<void>> {
  // stalled: apply.plan / apply_layer read 5 of 50 and re-reads only its pending list
  await fill(ctx, 'apply.plan', 50, ctx.now - 1000);
  await group(ctx, 'apply.plan', 'apply_layer', '0');
  const plan = ctx.names.stream('apply.plan');
  await ctx.redis.xreadgroup('GROUP', 'apply_layer', 'stuck:1', 'COUNT', 5, 'STREAMS', plan, '>');
  // stopped: trade.intent / intent_bridge has 30 waiting and no consumer
  await fill(ctx, 'trade.intent', 30, ctx.now - 1000);
  await group(ctx, 'trade.intent', 'intent_bridge', '0');
  // healthy: apply.approved / intent_executor caught up, its consumer blocks on new entries
  await fill(ctx, 'apply.approved', 20, ctx.now - 1000);
  await group(ctx, 'apply.approved', 'intent_executor', '0');
  await consumeAll(ctx, 'apply.approved', 'intent_executor', 'live:1');
  const stuck = testRedis();
  const live = testRedis();
  let on = true;
  const loops = [
    (async () => {
      while (on) {
        await stuck.xreadgroup('GROUP', 'apply_layer', 'stuck:1', 'COUNT', 5, 'STREAMS', plan, '0');
        await new Promise((r) => setTimeout(r, 100)); // the stuck consumer's own poll period (the behaviour under test)
      }
    })(),
    (async () => {
      while (on) await live.xreadgroup('GROUP', 'intent_executor', 'live:1', 'COUNT', 10, 'BLOCK', 200, 'STREAMS', ctx.names.stream('apply.approved'), '>');
    })(),
  ];
  return async () => {
    on = false;
    await Promise.all(loops);
  };
}

describe('qt diagnose streams --sample', () => {
  it('judges a stalled, a stopped and a healthy group by Burrow\'s rules, with the samples as evidence (JSON, exit 2)', async () => {
    const names = testNames(uniquePrefix('trend'));
    const ctx = { redis: testRedis(), names, now: Date.now() };
    const stop = await build(ctx);
    try {
      const r = await qt(['diagnose', 'streams', '--sample', '3s', '--json', '--redis-url', testRedisUrl(), '--prefix', names.prefix]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(2);
      const out = JSON.parse(r.stdout) as Report;
      expect(out.sample).toMatchObject({ duration_ms: 3000, samples: 10, allowed_lag: 0 });
      const t = (stream: string) => out.trends!.find((x) => x.stream === stream)!;
      expect(t('apply.plan')).toMatchObject({ group: 'apply_layer', status: 'STALL', rule: 5, complete: 1 });
      expect(t('apply.plan').samples).toHaveLength(10);
      for (const s of t('apply.plan').samples) expect(s).toMatchObject({ entries_read: 5, lag: 45, pending: 5, consumers: 1 });
      expect(t('trade.intent')).toMatchObject({ group: 'intent_bridge', status: 'STOP', rule: 2 });
      expect(t('trade.intent').samples.every((s) => s.lag === 30 && s.active_at === null)).toBe(true);
      expect(t('apply.approved')).toMatchObject({ group: 'intent_executor', status: 'OK', rule: 1 });
      const f = out.findings.filter((x) => x.code === 'GROUP_TREND');
      expect(f.map((x) => `${x.severity} ${x.subject}`).sort()).toEqual(['crit apply.plan apply_layer', 'crit trade.intent intent_bridge']);
      expect(f.find((x) => x.subject === 'apply.plan apply_layer')!.message).toContain('STALL over 10 samples');
      expect((f[0]!.evidence.samples as unknown[]).length).toBe(10);
      expect(out.status).toBe('crit');
    } finally {
      await stop();
    }
  });

  it('prints the trends as a table without --json', async () => {
    const names = testNames(uniquePrefix('trend'));
    const ctx = { redis: testRedis(), names, now: Date.now() };
    await fill(ctx, 'trade.intent', 30, ctx.now - 1000);
    await group(ctx, 'trade.intent', 'intent_bridge', '0');
    const r = await qt(['diagnose', 'streams', '--sample', '1s', '--redis-url', testRedisUrl(), '--prefix', names.prefix]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/trade\.intent\s*│\s*intent_bridge\s*│\s*STOP/);
    expect(r.stdout).toContain('sampled 5 times');
    expect(r.stdout).toContain('GROUP_TREND trade.intent intent_bridge');
  });

  it('a bad duration is one line naming --sample (exit 2), and only streams samples', async () => {
    for (const [args, text] of [
      [['diagnose', 'streams', '--sample', '3x'], '--sample: expected a duration'],
      [['diagnose', 'streams', '--sample', '200ms'], '--sample: expected a duration from 1s to 1h'],
      [['diagnose', 'services', '--sample', '3s'], '--sample: only `qt diagnose streams`'],
    ] as const) {
      const r = await qt([...args, '--redis-url', testRedisUrl()]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(text);
    }
  });
});

describe('sampling (library)', () => {
  it('sampleTrends over a group created at an arbitrary id (lag null) never calls it OK by lag', async () => {
    const names = testNames(uniquePrefix('trend'));
    const redis = testRedis();
    const ctx = { redis, names, now: Date.now() };
    await fill(ctx, 'apply.plan', 20, ctx.now - 1000);
    const k = names.stream('apply.plan');
    const ids = (await redis.xrange(k, '-', '+')).map((e) => e[0]);
    await redis.xgroup('CREATE', k, 'apply_layer', ids[7]!); // an arbitrary id: Redis cannot know the lag
    const { trends } = await sampleTrends(redis, [{ stream: 'apply.plan', key: k }], 1000);
    const g = trends[0]!;
    expect(g.samples.every((s) => s.lag === null)).toBe(true);
    expect(g).toMatchObject({ status: 'STOP', rule: 2 });
  });

  it('samplePlan: at most 10 looks, at least 250 ms apart', () => {
    expect(samplePlan(3000)).toEqual({ samples: 10, intervalMs: 333 });
    expect(samplePlan(1000)).toEqual({ samples: 5, intervalMs: 250 });
    expect(samplePlan(60_000)).toEqual({ samples: 10, intervalMs: 6667 });
  });

  it('sampleOf keeps lag only where its invariants hold', () => {
    const g = { lag: 1501, entries_read: 1504, last_delivered_id: '0-1504', pending: 0, consumers: 1 };
    // caught up (last-delivered-id ≥ the newest id) ⇒ 0, whatever Redis says (redis#13337)
    expect(sampleOf(1, { lastId: '0-1504', length: 2, entriesAdded: 1504 }, g, 5).lag).toBe(0);
    // negative, above entries-added, or 0 while entries wait ⇒ unknown
    expect(sampleOf(1, { lastId: '0-9', length: 1, entriesAdded: 1 }, { ...g, lag: -99, last_delivered_id: '0-0' }, null).lag).toBeNull();
    expect(sampleOf(1, { lastId: '0-9', length: 9, entriesAdded: 9 }, { ...g, lag: 50, last_delivered_id: '0-1' }, null).lag).toBeNull();
    expect(sampleOf(1, { lastId: '0-9', length: 9, entriesAdded: 9 }, { ...g, lag: 0, last_delivered_id: '0-1' }, null).lag).toBeNull();
    expect(sampleOf(1, { lastId: '0-9', length: 9, entriesAdded: 9 }, { ...g, lag: 8, last_delivered_id: '0-1' }, 1).lag).toBe(8);
  });

  it('TrendHistory keeps one sample per refresh per group, the newest 10, and drops vanished groups', () => {
    const h = new TrendHistory();
    const rep = (at: number, groups: string[]) => ({
      generated_at: at,
      streams: [{
        stream: 'apply.plan', key: 'k', length: 50, last_entry_ms: 1, age_s: 1, entries_added: 50, last_id: '0-50', known: true, stale: false,
        groups: groups.map((g) => ({ group: g, consumers: 1, pending: 5, lag: 45, entries_read: 5, last_delivered_id: '0-5', consumer_details: [{ name: 'c', pending: 5, idle_ms: 10, inactive_ms: null }], oldest_pending_idle_ms: null })),
      }],
    });
    for (let i = 0; i < 12; i++) h.add(rep(1000 * (i + 1), ['apply_layer', 'other']));
    h.add(rep(12_000, ['apply_layer'])); // same time again: ignored
    let t = h.trends();
    expect(t.find((x) => x.group === 'apply_layer')!.samples).toHaveLength(10);
    expect(t.find((x) => x.group === 'apply_layer')!.status).toBe('STALL');
    h.add(rep(13_000, ['apply_layer']));
    t = h.trends();
    expect(t.map((x) => x.group)).toEqual(['apply_layer']);
  });
});
