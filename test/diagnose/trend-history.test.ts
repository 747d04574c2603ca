/**
 * Trends from history: the engine records its group's position with each heartbeat into
 * the per-minute metrics hash, and `qt health` judges the trend from those records
 * (Burrow's rules) without sampling. Real redis-server; real StageRunner.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';
import { qt } from '../helpers/cli.js';
import { Names } from '../../src/contract/names.js';
import { addSignals, relayStage, runnerDeps, startRunner } from '../runtime/fixtures.js';
import { fill, group, metrics, registry, beat, type Ctx } from './scenarios/build.js';
import { sampleFromMetrics, trendsFromMetrics } from '../../src/diagnose/trend-history.js';
import { LAG_FIELDS } from '../../src/engine/runtime/lag-record.js';

afterAll(closeAll);

describe('the engine records its group position per minute', () => {
  it('a consuming stage writes lag, entries_read, last_delivered_id, pending… beside its counters', async () => {
    const r = testRedis();
    const names = testNames();
    const runner = startRunner(relayStage(), runnerDeps(names, r));
    await runner.start();
    try {
      await addSignals(r, names, 3);
      const h = await waitFor(async () => {
        for (const m of [Names.minuteOf(Date.now()), Names.minuteOf(Date.now()) - 1]) {
          const x = await r.hgetall(names.metrics('relay', m));
          // (the record and the `in` counter may fall in neighbouring minutes: checked apart below)
          if (x.lag_at && x.entries_read === '3') return x;
        }
        return null;
      }, 20000, 'a position record after the 3 signals');
      for (const f of ['lag', 'entries_read', 'last_delivered_id', 'pending', 'entries_added', 'last_id', 'consumers', 'lag_at']) expect(Object.keys(h)).toContain(f);
      expect(LAG_FIELDS).toContain('lag_at');
      expect(h).toMatchObject({ lag: '0', entries_added: '3', pending: '0', consumers: '1' });
      expect(h.last_delivered_id).toBe(h.last_id);
      // beside its counters: the same per-minute hashes count the 3 entries in
      let counted = 0;
      for (let m = Names.minuteOf(Date.now()); m >= Names.minuteOf(Date.now()) - 3; m--) counted += Number((await r.hget(names.metrics('relay', m), 'in')) ?? 0);
      expect(counted).toBe(3);
      expect(await r.ttl(names.metrics('relay', Names.minuteOf(Number(h.lag_at))))).toBeGreaterThan(26 * 3600);
    } finally {
      await runner.stop();
    }
  });
});

/** apply_layer stalled for 6 minutes by its own records: position 5 of 50, lag 45; its consumer still polls. */
async function stalledHistory(ctx: Ctx): Promise<void> {
  await fill(ctx, 'apply.plan', 50, ctx.now - 7 * 60_000);
  await group(ctx, 'apply.plan', 'apply_layer', '0');
  const k = ctx.names.stream('apply.plan');
  const r = (await ctx.redis.xreadgroup('GROUP', 'apply_layer', 'box:1', 'COUNT', 5, 'STREAMS', k, '>')) as [string, [string, string[]][]][];
  const ld = r[0]![1][4]![0];
  const last = (await ctx.redis.xrevrange(k, '+', '-', 'COUNT', 1))[0]![0];
  for (let m = 6; m >= 1; m--) {
    await metrics(ctx, 'apply_layer', { lag: 45, entries_read: 5, entries_added: 50, pending: 5, consumers: 1, lag_at: ctx.now - m * 60_000 }, m);
    await ctx.redis.hset(ctx.names.metrics('apply_layer', Names.minuteOf(ctx.now) - m), { last_delivered_id: ld, last_id: last });
  }
  await registry(ctx, 'apply_layer');
  await beat(ctx, 'apply_layer', { last_msg_at: String(ctx.now - 7 * 60_000) });
}

describe('qt health judges the trend from history', () => {
  it('a group whose records show a fixed position with lag 45 while its consumer polls: GROUP_TREND STALL (crit) from metrics', async () => {
    const names = testNames(uniquePrefix('hist'));
    await stalledHistory({ redis: testRedis(), names, now: Date.now() });
    const r = await qt(['health', '--format', 'json', '--redis-url', testRedisUrl(), '--prefix', names.prefix]);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as { findings: { code: string; severity: string; subject: string; message: string; evidence: Record<string, unknown> }[] };
    const f = out.findings.find((x) => x.code === 'GROUP_TREND')!;
    expect(f).toMatchObject({ severity: 'crit', subject: 'apply.plan apply_layer' });
    expect(f.evidence).toMatchObject({ status: 'STALL', source: 'metrics' });
    expect((f.evidence.samples as unknown[]).length).toBe(7); // six minutes of records and the group now
  });

  it('records with a null lag stay unknown (never OK by lag); minutes without a record are skipped', () => {
    expect(sampleFromMetrics(null)).toBeNull();
    expect(sampleFromMetrics({ in: '3' })).toBeNull();
    const s = sampleFromMetrics({ lag_at: '1000', last_delivered_id: '5-0', last_id: '9-0', entries_read: '5', pending: '0', consumers: '1' })!;
    expect(s).toMatchObject({ at: 1000, lag: null, entries_read: 5 });
    const caughtUp = sampleFromMetrics({ lag_at: '1000', lag: '1501', last_delivered_id: '9-0', last_id: '9-0' })!;
    expect(caughtUp.lag).toBe(0); // redis#13337: caught up whatever lag says
    const hashes = new Map([['apply_layer', Array.from({ length: 6 }, (_, i) => ({ lag_at: String(1000 * (i + 1)), last_delivered_id: '5-0', last_id: '9-0', pending: '0', consumers: '1' }))]]);
    const t = trendsFromMetrics(hashes, [], 6000);
    expect(t[0]).toMatchObject({ stream: 'apply.plan', group: 'apply_layer', source: 'metrics' });
    expect(t[0]!.status).not.toBe('OK');
  });
});
