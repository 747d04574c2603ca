/** Issue 15 cases 9 and 10 as scenarios on a real Redis: silent services with a backlog, findings that say why, clean stops. */
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, uniquePrefix } from '../helpers/redis.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';
import { DEFAULT_THRESHOLDS } from '../../src/diagnose/thresholds.js';
import type { Finding, Report } from '../../src/diagnose/read-model.js';
import { beat, HeartbeatState, STOPPED_BEAT_TTL_MS } from '../../src/engine/runtime/heartbeat.js';
import { STAGES } from '../../src/contract/names.js';
import * as W from './scenarios/why.js';
import type { Ctx } from './scenarios/build.js';

afterAll(closeAll);

async function scenario(build: (c: Ctx) => Promise<void>): Promise<Report> {
  const redis = testRedis();
  const names = testNames(uniquePrefix('why'));
  await build({ redis, names, now: Date.now() });
  return buildReport(await collectSnapshot(redis, names, { windowMs: 3 * 3600_000, thresholds: DEFAULT_THRESHOLDS }), DEFAULT_THRESHOLDS);
}
const find = (r: Report, code: string, subject?: string): Finding => {
  const f = r.findings.find((x) => x.code === code && (subject === undefined || x.subject === subject));
  if (!f) throw new Error(`no ${code} ${subject ?? ''} in ${JSON.stringify(r.findings.map((x) => `${x.severity} ${x.code} ${x.subject}`))}`);
  return f;
};

describe('case 9: a silent service whose input went quiet but whose group holds work', () => {
  it('apply_layer: 45 undelivered and 6 pending, input stopped 9 days ago → SERVICE_SILENT', async () => {
    const r = await scenario(W.silentWithBacklog);
    const f = find(r, 'SERVICE_SILENT', 'apply_layer');
    expect(f.severity).toBe('warn');
    expect(f.message).toContain('45 undelivered and 6 pending in group apply_layer on apply.plan');
    expect(f.evidence).toMatchObject({ backlog: 'yes', newer_entries: false });
    expect((f.evidence.inputs as any[])[0]).toMatchObject({ stream: 'apply.plan', group: 'apply_layer', undelivered: 45, pending: 6, behind: true, source: 'lag' });
    expect(r.services.find((s) => s.service === 'apply_layer')!.status).toBe('silent');
  });

  it('a service that is not ours is matched to the group of its name on any stream', async () => {
    const r = await scenario(W.silentForeign);
    const f = find(r, 'SERVICE_SILENT', 'execution');
    expect(f.message).toContain('50 undelivered and 6 pending in group execution on execution.request');
  });

  it('a null lag (tombstone after the group\'s position) is not "no backlog"', async () => {
    const r = await scenario(W.silentNullLag);
    const g = r.streams.find((s) => s.stream === 'apply.plan')!.groups[0]!;
    // Redis ≥ 7.0 says null by design here; qt counts the backlog with a bounded range read (lag.ts)
    expect(g.lag_check).toMatchObject({ redis_lag: null, source: 'derived', value: 89 });
    expect(g.lag).toBe(89);
    const f = find(r, 'SERVICE_SILENT', 'apply_layer');
    expect((f.evidence.inputs as any[])[0]).toMatchObject({ undelivered: 89, behind: true, pending: 0 });
    expect(f.message).toContain('89 undelivered and 0 pending in group apply_layer on apply.plan');
  });

  it('a service that read and acknowledged everything before its input went quiet is not silent', async () => {
    const r = await scenario(W.quietCaughtUp);
    expect(r.findings.filter((f) => f.code === 'SERVICE_SILENT')).toEqual([]);
    expect(r.services.find((s) => s.service === 'apply_layer')!.status).toBe('running');
  });
});

describe('case 10: findings say why', () => {
  it('STAGE_NO_OUTPUT apply_layer (480 in, 480 rejected) names position_limit_reached ×480 with an example', async () => {
    const r = await scenario(W.noOutputLimit);
    const f = find(r, 'STAGE_NO_OUTPUT', 'apply_layer');
    expect(f.severity).toBe('crit');
    expect(f.message).toContain('position_limit_reached ×480');
    expect(f.message).toContain('open 10 >= limit 10');
    expect((f.evidence.top_reasons as any[])[0]).toMatchObject({ reason: 'position_limit_reached', count: 480 });
    expect((f.evidence.top_reasons as any[])[0].example.payload).toContain('ETHUSDT');
  });

  it('an engine that stopped cleanly is one SERVICE_DOWN "stopped cleanly at T" (warn with no open position), not one crit per service', async () => {
    const r = await scenario(W.stoppedCleanly(0));
    const down = r.findings.filter((f) => f.code === 'SERVICE_DOWN');
    expect(down.map((f) => `${f.severity} ${f.subject}`).sort()).toEqual(['crit never_started', 'warn services']);
    const f = find(r, 'SERVICE_DOWN', 'services');
    expect(f.message).toContain(`${STAGES.length} expected services stopped cleanly at `);
    expect((f.evidence.services as any[]).length).toBe(STAGES.length);
    const s = r.services.find((x) => x.service === 'apply_layer')!;
    expect(s.status).toBe('down');
    expect(s.stopped_at).toBeGreaterThan(0);
  });

  it('…and crit while positions are open (nothing runs their exits)', async () => {
    const r = await scenario(W.stoppedCleanly(2));
    const f = find(r, 'SERVICE_DOWN', 'services');
    expect(f.severity).toBe('crit');
    expect(f.message).toContain('2 position(s) are open');
  });

  it('the engine keeps the last beat of a clean stop (stopped_at, 7-day TTL); a new start removes stopped_at', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('why'));
    const hb = new HeartbeatState('apply_layer', 'PAPER');
    hb.status = 'running';
    await beat(redis, names, hb, 1000);
    expect(await redis.pttl(names.service('apply_layer'))).toBeLessThanOrEqual(3000);
    hb.status = 'stopping';
    await beat(redis, names, hb, 1000, 1_800_000_000_000);
    expect(await redis.hget(names.service('apply_layer'), 'stopped_at')).toBe('1800000000000');
    expect(await redis.pttl(names.service('apply_layer'))).toBeGreaterThan(STOPPED_BEAT_TTL_MS - 60_000);
    hb.status = 'running';
    await beat(redis, names, hb, 1000);
    expect(await redis.hget(names.service('apply_layer'), 'stopped_at')).toBeNull();
    expect(await redis.pttl(names.service('apply_layer'))).toBeLessThanOrEqual(3000);
  });
});
