import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from '../../src/diagnose/thresholds.js';
import type { Finding, Report } from '../../src/diagnose/read-model.js';
import * as S from './scenarios/index.js';
import type { Ctx } from './scenarios/build.js';

afterAll(closeAll);

async function scenario(build: (c: Ctx) => Promise<void>, th: Partial<Thresholds> = {}): Promise<Report> {
  const redis = testRedis();
  const names = testNames(uniquePrefix('diag'));
  await build({ redis, names, now: Date.now() });
  const thresholds = { ...DEFAULT_THRESHOLDS, ...th };
  return buildReport(await collectSnapshot(redis, names, { windowMs: 3 * 3600_000, thresholds }), thresholds);
}

const find = (r: Report, code: string, subject?: string): Finding => {
  const f = r.findings.find((x) => x.code === code && (subject === undefined || x.subject === subject));
  if (!f) throw new Error(`no ${code}${subject ? ` ${subject}` : ''} in ${JSON.stringify(r.findings.map((x) => `${x.severity} ${x.code} ${x.subject}`))}`);
  return f;
};
const above = (r: Report, sev: 'info' | 'warn') => r.findings.filter((f) => (sev === 'info' ? f.severity !== 'info' : f.severity === 'crit'));

describe('scenario corpus', () => {
  it('healthy hand-built pipeline is ok with no finding above info', async () => {
    const r = await scenario(S.healthy);
    expect(above(r, 'info')).toEqual([]);
    expect(r.status).toBe('ok');
    expect(r.stages.find((s) => s.stage === 'intent_bridge')).toMatchObject({ in: 180, out: 170, source: 'metrics' });
    expect(r.funnel.map((f) => f.count)).toEqual([200, 180, 170, 165, 165]);
    expect(r.positions).toMatchObject({ open: 2, limit: 10, ledger_keys: 2, snapshot_keys: 2 });
  });

  it('trader/bridge field mismatch: CONTRACT_MISMATCH naming the producer and its fields, STAGE_REJECTING crit', async () => {
    const r = await scenario(S.fieldMismatch);
    const m = find(r, 'CONTRACT_MISMATCH', 'autonomous_trader → intent_bridge');
    expect(m.severity).toBe('crit');
    expect(m.evidence.fields_sent).toEqual(expect.arrayContaining(['position_usd', 'leverage']));
    expect(m.evidence.missing_fields).toEqual(expect.arrayContaining(['intent_id', 'ts']));
    const s = find(r, 'STAGE_REJECTING', 'intent_bridge');
    expect(s.severity).toBe('crit');
    expect(s.evidence.share).toBeCloseTo(0.99);
    expect((s.evidence.top_reasons as any[])[0]).toMatchObject({ reason: 'invalid_quantity', count: 99 });
    expect((s.evidence.top_reasons as any[])[0].example.payload).toContain('position_usd');
    expect(r.status).toBe('crit');
  });

  it('orders five times too small: STAGE_REJECTING at the executor with below_min_notional and its example', async () => {
    const r = await scenario(S.ordersTooSmall);
    const s = find(r, 'STAGE_REJECTING', 'intent_executor');
    expect((s.evidence.top_reasons as any[])[0]).toMatchObject({ reason: 'below_min_notional', count: 8 });
    expect((s.evidence.top_reasons as any[])[0].example.detail).toContain('70.61');
    expect(s.fix).toContain('leverage');
    expect(find(r, 'STAGE_NO_OUTPUT', 'intent_executor').severity).toBe('crit');
  });

  it('executor group on a stream nobody writes: GROUP_STARVING names apply.plan with its length and newest age', async () => {
    const t0 = Date.now();
    const r = await scenario(S.starvingExecutor);
    const f = find(r, 'GROUP_STARVING', 'apply.plan.manual intent_executor_manual');
    expect(f.severity).toBe('crit');
    const c = (f.evidence.closest_streams_with_traffic as any[])[0];
    expect(c).toMatchObject({ stream: 'apply.plan', length: 10_002 });
    expect(c.newest_age_s).toBeLessThanOrEqual(Math.ceil((r.generated_at - t0) / 1000) + 1); // newest written 1 s before build time
    expect(f.evidence.consumers).toBe(0);
    expect(f.message).toContain('apply.plan (10,002 entries');
  });

  it('apply layer writing a stream nobody reads: STREAM_UNCONSUMED', async () => {
    const r = await scenario(S.unconsumed);
    const f = find(r, 'STREAM_UNCONSUMED', 'apply.approved');
    expect(f.severity).toBe('warn');
    expect(f.evidence.length).toBe(500);
  });

  it('position count inflated by snapshot and ledger keys: POSITION_LIMIT_BLOCKING crit and GHOST_KEYS', async () => {
    const r = await scenario(S.positionCountInflated);
    const p = find(r, 'POSITION_LIMIT_BLOCKING');
    expect(p.severity).toBe('crit');
    expect(p.evidence).toMatchObject({ open: 3, limit: 10, rejections: 38, ledger_keys: 26, snapshot_keys: 18, keys_matching_pattern: 47 });
    expect(p.evidence.example_detail).toContain('47/10');
    const g = find(r, 'GHOST_KEYS');
    expect(g.evidence).toMatchObject({ ghosts: 18, inflates_count: true });
  });

  it('a limit really reached (pending approvals counted) is no inflated counter: info, at the limit or below it again', async () => {
    const freed = find(await scenario(S.limitReached(8)), 'POSITION_LIMIT_BLOCKING');
    expect(freed.severity).toBe('info');
    expect(freed.evidence).toMatchObject({ counted: 10, open: 8, limit: 10, keys_matching_pattern: 24 });
    const full = await scenario(S.limitReached(10));
    expect(find(full, 'POSITION_LIMIT_BLOCKING')).toMatchObject({ severity: 'info', fix: expect.stringMatching(/limit is really reached/) });
    expect(full.findings.filter((f) => f.severity === 'crit')).toEqual([]);
  });

  it('72 ghost keys: GHOST_KEYS counts them and the real open positions', async () => {
    const r = await scenario(S.ghosts72);
    const g = find(r, 'GHOST_KEYS');
    expect(g.evidence).toMatchObject({ ghosts: 72, position_ghosts: 26, snapshot_ghosts: 46, open: 10, ledger_keys: 20 });
    expect(r.positions.ghosts.find((x) => x.key.endsWith(':position:G0USDT'))?.reason).toBe('qty missing');
    expect(r.positions.ghosts.some((x) => x.key.includes(':ledger:'))).toBe(false);
  });

  it('service beating but silent while execution.result is 8 days stale', async () => {
    const r = await scenario(S.silentExecution);
    const st = find(r, 'STREAM_STALE', 'execution.result');
    expect(st.severity).toBe('crit');
    expect(st.evidence.newest_age_s as number).toBeGreaterThan(8 * 86400 - 60);
    const sv = find(r, 'SERVICE_SILENT', 'intent_executor');
    expect(sv.evidence.processed).toBe(0);
    expect(r.findings.some((f) => f.code === 'GROUP_STARVING' && f.subject.startsWith('execution.result'))).toBe(false);
  });

  it('failed services: SERVICE_FAILED with its last error, SERVICE_DOWN for those without heartbeat', async () => {
    const r = await scenario(S.failedServices);
    expect(find(r, 'SERVICE_FAILED', 'harvest_brain').evidence.last_error).toContain('203/EXEC');
    for (const s of ['risk_guard', 'rl_agent', 'verify_ensemble']) expect(find(r, 'SERVICE_DOWN', s).severity).toBe('crit');
    expect(r.findings.some((f) => f.subject === 'intent_bridge')).toBe(false);
  });

  it('reconciliation refused with 401: EXCHANGE_AUTH_FAILED', async () => {
    const r = await scenario(S.auth401);
    const f = find(r, 'EXCHANGE_AUTH_FAILED');
    expect(f.severity).toBe('crit');
    expect(f.message).toContain('-2015');
    expect(f.subject).toContain('reconciler');
  });

  it('closes failing on quantity precision: STAGE_REJECTING with precision_invalid', async () => {
    const r = await scenario(S.closePrecision);
    const f = find(r, 'STAGE_REJECTING', 'intent_executor');
    expect((f.evidence.top_reasons as any[])[0]).toMatchObject({ reason: 'precision_invalid', count: 18 });
    expect(f.fix).toContain('step size');
  });

  it('unknown PARTIAL_25 variants: STAGE_REJECTING with action_unknown_variant', async () => {
    const r = await scenario(S.partialVariants);
    const f = find(r, 'STAGE_REJECTING', 'intent_bridge');
    expect(f.severity).toBe('warn');
    expect((f.evidence.top_reasons as any[])[0].reason).toBe('action_unknown_variant');
    expect(r.findings.some((x) => x.code === 'CONTRACT_MISMATCH')).toBe(false);
  });

  it('empty control-plane streams are info only', async () => {
    const r = await scenario(S.emptyControlPlane);
    for (const s of ['policy.updated policy_watch', 'model.retrain trainer', 'reconcile.close reconciler']) expect(find(r, 'GROUP_STARVING', s).severity).toBe('info');
    expect(above(r, 'info')).toEqual([]);
  });

  it('a group with 23 dead consumers: CONSUMER_DEAD counts them and those holding entries', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('diag'));
    await S.deadConsumers({ redis, names, now: Date.now() });
    const th = { ...DEFAULT_THRESHOLDS, consumerIdleMs: 150 };
    const r = await waitFor(async () => {
      const rep = buildReport(await collectSnapshot(redis, names, { windowMs: 3600_000, thresholds: th }), th);
      const f = rep.findings.find((x) => x.code === 'CONSUMER_DEAD');
      return f && f.evidence.dead === 23 ? rep : null;
    }, 5000, 'consumers idle past 150 ms');
    const f = find(r, 'CONSUMER_DEAD', 'apply.plan apply_layer_entry');
    expect(f).toMatchObject({ severity: 'warn', evidence: { consumers: 23, dead: 23, holding_pending: 5 } });
  });

  it('a poison message stuck pending: PENDING_POISON crit with its delivery count, PENDING_STUCK warn', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('diag'));
    await S.poisonMessage({ redis, names, now: Date.now() });
    const th = { ...DEFAULT_THRESHOLDS, pendingIdleMs: 100 };
    const r = await waitFor(async () => {
      const rep = buildReport(await collectSnapshot(redis, names, { windowMs: 3600_000, thresholds: th }), th);
      return rep.findings.some((x) => x.code === 'PENDING_STUCK') ? rep : null;
    }, 5000, 'pending entry idle past 100 ms');
    const f = find(r, 'PENDING_STUCK', 'apply.approved intent_executor');
    expect(f.severity).toBe('warn');
    expect(f.evidence).toMatchObject({ pending: 1, consumer: 'box:42' });
    expect(f.evidence.deliveries as number).toBeGreaterThanOrEqual(7);
    const p = find(r, 'PENDING_POISON', 'apply.approved intent_executor');
    expect(p).toMatchObject({ severity: 'crit', evidence: { consumer: 'box:42', pending: 1, covered: true } });
    expect(p.evidence.deliveries as number).toBeGreaterThanOrEqual(7);
  });

  it('a deployment that is not ours: no registry → info, numbers derived from streams, unknowns listed', async () => {
    const r = await scenario(S.starvingExecutor);
    expect(find(r, 'SERVICES_UNKNOWN').severity).toBe('info');
    expect(r.findings.some((f) => f.code === 'SERVICE_DOWN')).toBe(false);
    expect(r.unknowns.join('\n')).toMatch(/metrics/);
    expect(r.unknowns.join('\n')).toMatch(/registry/);
  });
});
