/**
 * Issue 15, cases 1–8: diagnostics check Redis's stream numbers instead of copying them. Each
 * scenario is built on the real Redis 7.0.15 the suite starts and asserts code, subject and
 * the key numbers.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';
import { healthJson, healthNagios, healthProm, healthText } from '../../src/diagnose/health-format.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from '../../src/diagnose/thresholds.js';
import { LAG_RANGE_COUNT } from '../../src/diagnose/lag.js';
import { MAX_CONSUMERS_LISTED } from '../../src/diagnose/streams.js';
import { PENDING_SAMPLE } from '../../src/diagnose/pending.js';
import type { Finding, GroupInfo, Report } from '../../src/diagnose/read-model.js';
import type { Names } from '../../src/contract/names.js';
import * as S from './scenarios/index.js';
import type { Ctx } from './scenarios/build.js';
import { qt } from '../helpers/cli.js';

const aclUser = `exp1-${randomBytes(3).toString('hex')}`;
afterAll(async () => {
  await testRedis().call('ACL', 'DELUSER', aclUser);
  await closeAll();
});

async function build(b: (c: Ctx) => Promise<void>): Promise<Names> {
  const names = testNames(uniquePrefix('rn'));
  await b({ redis: testRedis(), names, now: Date.now() });
  return names;
}

async function report(names: Names, th: Partial<Thresholds> = {}, redis: Redis = testRedis()): Promise<Report> {
  const thresholds = { ...DEFAULT_THRESHOLDS, ...th };
  return buildReport(await collectSnapshot(redis, names, { windowMs: 3600_000, thresholds }), thresholds);
}

const find = (r: Report, code: string, subject?: string): Finding => {
  const f = r.findings.find((x) => x.code === code && (subject === undefined || x.subject === subject));
  if (!f) throw new Error(`no ${code}${subject ? ` ${subject}` : ''} in ${JSON.stringify(r.findings.map((x) => `${x.severity} ${x.code} ${x.subject}`))}`);
  return f;
};
const has = (r: Report, code: string) => r.findings.some((f) => f.code === code);
const groupOf = (r: Report, stream: string, group: string): GroupInfo => r.streams.find((s) => s.stream === stream)!.groups.find((g) => g.group === group)!;

describe('issue 15: Redis stream numbers checked, not copied (Redis 7.0)', () => {
  it('case 1: lag 1501 after XDEL while the group is caught up: 0 entries wait, LAG_UNRELIABLE info, no GROUP_LAGGING', async () => {
    const r = await report(await build(S.lagAfterXdel));
    const g = groupOf(r, 'apply.plan', 'apply_layer');
    expect(g.lag_check).toMatchObject({ value: 0, source: 'derived', reason: 'caught_up', redis_lag: 1501 });
    expect(g.lag).toBe(0);
    expect(has(r, 'GROUP_LAGGING')).toBe(false);
    const f = find(r, 'LAG_UNRELIABLE', 'apply.plan apply_layer');
    expect(f.severity).toBe('info');
    expect(f.evidence).toMatchObject({ redis_lag: 1501, value: 0, entries_added: 1504, length: 3, last_delivered_id: '0-1504', last_generated_id: '0-1504' });
    expect(f.message).toContain('lag 1,501');
    expect(r.status).toBe('ok');
  });

  it('case 2: 15,000 XADD MAXLEN 10000 with nobody reading: ENTRIES_TRIMMED crit, 5,000 lost, cause the cap with no reader', async () => {
    const r = await report(await build(S.trimmedBeforeDelivery));
    const f = find(r, 'ENTRIES_TRIMMED', 'apply.plan apply_layer');
    expect(f.severity).toBe('crit');
    expect(f.evidence).toMatchObject({ lost: 5000, cause: 'maxlen_cap', reader: 'none', entries_added: 15_000, entries_read: 0, length: 10_000 });
    expect(typeof f.evidence.lost_before_ms).toBe('number');
    expect(f.message).toMatch(/^5,000 entries of apply\.plan were removed before apply_layer read them/);
    expect(groupOf(r, 'apply.plan', 'apply_layer').lag).toBe(10_000);
    expect(r.status).toBe('crit');
  });

  it('case 2: XTRIM MAXLEN 0 after the group read 1 of 5: 4 lost, and never "has never received an entry"', async () => {
    const r = await report(await build(S.trimmedEmpty));
    const f = find(r, 'ENTRIES_TRIMMED', 'apply.plan apply_layer');
    expect(f).toMatchObject({ severity: 'crit', evidence: { lost: 4, cause: 'trimmed_empty', entries_added: 5, entries_read: 1, length: 0 } });
    for (const x of r.findings) expect(x.message).not.toContain('never received');
    const s = find(r, 'GROUP_STARVING', 'apply.plan apply_layer');
    expect(s.message).toContain('all 5 entries it received were trimmed or deleted');
    // the one entry it read is pending and its payload is gone
    expect(find(r, 'PENDING_ORPHANED', 'apply.plan apply_layer').evidence).toMatchObject({ orphaned: 1, exact: true, pending: 1 });
    const lc = groupOf(r, 'apply.plan', 'apply_layer').lag_check!;
    expect(lc).toMatchObject({ value: 0, redis_lag: 4, reason: 'over_length' });
  });

  it('case 3: lag null after XDEL past the group: counted with a bounded range read, GROUP_LAGGING warn with 4,998', async () => {
    const names = await build(S.nullLagBacklog);
    const r = await report(names);
    const g = groupOf(r, 'apply.plan', 'apply_layer');
    expect(g.lag_check).toMatchObject({ value: 4998, source: 'derived', reason: 'tombstone_after_position', redis_lag: null });
    const l = find(r, 'GROUP_LAGGING', 'apply.plan apply_layer');
    expect(l).toMatchObject({ severity: 'warn', evidence: { lag: 4998, lag_source: 'derived', lag_reason: 'tombstone_after_position' } });
    expect(find(r, 'LAG_UNRELIABLE', 'apply.plan apply_layer').message).toContain('max-deleted-entry-id > last-delivered-id');
    expect(healthNagios(r, DEFAULT_THRESHOLDS)).toContain("'max_group_lag'=4998;");
    expect(r.status).toBe('warn');
  });

  it('case 3: lag null where no bounded read can count: unknown (never 0), bounds given, U in Nagios, no Prometheus sample', async () => {
    const r = await report(await build(S.nullLagDeep));
    const g = groupOf(r, 'apply.plan', 'apply_layer');
    expect(g.lag).toBeNull();
    expect(g.lag_check).toMatchObject({ value: null, source: 'unknown', reason: 'tombstone_after_position', min: LAG_RANGE_COUNT, max: 4000 });
    const f = find(r, 'LAG_UNRELIABLE', 'apply.plan apply_layer');
    expect(f.severity).toBe('warn');
    expect(f.message).toContain(`between ${LAG_RANGE_COUNT} and 4,000`);
    expect(r.status).not.toBe('ok');
    expect(healthNagios(r, DEFAULT_THRESHOLDS)).toContain("'max_group_lag'=U;");
    const prom = healthProm(r);
    expect(prom).toContain('# TYPE qt_group_lag gauge');
    expect(prom).not.toMatch(/^qt_group_lag\{.*group="apply_layer"/m);
    expect(prom).toMatch(/^qt_group_pending\{.*group="apply_layer"\} 0$/m);
  });

  it('case 4: ENTRIESREAD 100 on a one-entry stream: corrupt, never -99 in exports or stage numbers', async () => {
    const r = await report(await build(S.negativeLag));
    const g = groupOf(r, 'apply.approved', 'intent_executor');
    expect(g.lag_check).toMatchObject({ corrupt: true, reason: 'negative', redis_lag: -99, redis_entries_read: 100, value: 0 });
    expect(g.entries_read).toBeNull();
    const f = find(r, 'LAG_UNRELIABLE', 'apply.approved intent_executor');
    expect(f.severity).toBe('warn');
    expect(f.message).toContain('ENTRIESREAD');
    expect(f.fix).toContain('XGROUP SETID');
    expect(healthProm(r)).not.toContain('-99');
    expect(JSON.stringify(r.stages)).not.toContain('100');
    expect(r.stages.find((s) => s.stage === 'intent_executor')?.in).not.toBe(100);
  });

  it('case 4: after XGROUP SETID to an arbitrary id the reason says so (not "Redis < 7.0 or after XDEL")', async () => {
    const r = await report(await build(S.setIdArbitrary));
    const g = groupOf(r, 'apply.approved', 'intent_executor');
    expect(g.lag_check).toMatchObject({ reason: 'arbitrary_position', value: 300, source: 'derived', redis_lag: null, redis_entries_read: null });
    const f = find(r, 'LAG_UNRELIABLE', 'apply.approved intent_executor');
    expect(f.message).toContain('created or moved to an arbitrary id');
    expect(r.unknowns.join('\n')).not.toMatch(/Redis < 7\.0 or/);
  });

  it('case 5: an entry claimed 800 times with lag 0: PENDING_POISON crit with 801 deliveries, the sample bound said', async () => {
    const r = await report(await build(S.poisonClaimed));
    const f = find(r, 'PENDING_POISON', 'apply.approved intent_executor');
    expect(f.severity).toBe('crit');
    expect(f.evidence).toMatchObject({ deliveries: 801, pending: 150, sampled: PENDING_SAMPLE, covered: false });
    expect(f.evidence.id_age_ms as number).toBeGreaterThanOrEqual(0);
    expect(f.message).toContain(`only the oldest ${PENDING_SAMPLE} of 150 pending entries were checked`);
    expect(groupOf(r, 'apply.approved', 'intent_executor').lag).toBe(0);
    expect(r.status).toBe('crit');
  });

  it('case 6: 20,000 pending then XTRIM MAXLEN 10: PENDING_ORPHANED counts 19,990 and shows the stream memory', async () => {
    const r = await report(await build(S.orphanedPending));
    const f = find(r, 'PENDING_ORPHANED', 'apply.plan apply_layer');
    expect(f.severity).toBe('warn');
    expect(f.evidence).toMatchObject({ orphaned: 19_990, exact: true, trimmed: 19_990, pending: 20_000, length: 10 });
    expect(f.evidence.memory_bytes as number).toBeGreaterThan(0);
    expect(f.message).toMatch(/^19,990 of 20,000 pending entries/);
    expect(r.streams.find((s) => s.stream === 'apply.plan')!.memory_bytes).toBeGreaterThan(0);
  });

  it('case 7: 500 idle consumers holding nothing: CONSUMER_LEAK warn; on 7.0 it says idle cannot tell a poller from a dead one', async () => {
    const r = await report(await build(S.consumerLeak(500)));
    const f = find(r, 'CONSUMER_LEAK', 'apply.plan apply_layer');
    expect(f.severity).toBe('warn');
    expect(f.evidence).toMatchObject({ consumers: 500, listed: true, holding_nothing: 500, running_services: 0 });
    if (!f.evidence.inactive_known) expect(f.message).toContain('idle cannot tell');
    expect(r.status).toBe('warn');
  });

  it('case 7: a group with more consumers than qt lists is never read with XINFO CONSUMERS', async () => {
    const n = MAX_CONSUMERS_LISTED + 200;
    const r = await report(await build(S.consumerLeak(n)));
    const g = groupOf(r, 'apply.plan', 'apply_layer');
    expect(g).toMatchObject({ consumers: n, consumers_listed: false, consumer_details: [] });
    expect(find(r, 'CONSUMER_LEAK', 'apply.plan apply_layer').evidence).toMatchObject({ consumers: n, listed: false });
    expect(r.commands).toBeLessThan(100);
  });

  it('case 8: a prefix with nothing under it is UNKNOWN and names the prefix that holds streams', async () => {
    const names = await build(S.trimmedEmpty);
    const typo = testNames(names.prefix.slice(0, -1) + (names.prefix.endsWith('x') ? 'y' : 'x'));
    const r = await report(typo);
    expect(r.status).toBe('unknown');
    const b = r.blind_spots![0]!;
    expect(b.what).toBe('prefix');
    expect(b.prefixes_with_streams![0]).toBe(names.prefix);
    expect(b.detail).toContain(`did you mean \`${names.prefix}\`?`);
    expect(healthNagios(r, DEFAULT_THRESHOLDS)).toMatch(/^QT UNKNOWN - prefix: nothing exists under the prefix/);
    expect(JSON.parse(healthJson(r))).toMatchObject({ status: 'unknown', exit_code: 3 });
  });

  it('case 8: an empty Redis (database) is UNKNOWN, not "pipeline healthy"', async () => {
    const u = new URL(testRedisUrl());
    u.pathname = '/13';
    const db = testRedis(u.toString());
    const r = await report(testNames('quantum'), {}, db);
    expect(r.status).toBe('unknown');
    expect(r.blind_spots![0]!.detail).toContain('holds no stream at all');
    expect(healthText(r)).toMatch(/^qt health: UNKNOWN \(quantum\)/);
  });

  it('case 8: a user that may SCAN but read no key: UNKNOWN naming the ACL rule %R~prefix:*', async () => {
    const names = await build(S.ninePositions);
    const admin = testRedis();
    await admin.call('ACL', 'SETUSER', aclUser, 'reset', 'on', '>pw-exp1', '-@all', '+@connection', '+info', '+scan', '+xinfo', '+xpending', '+hgetall',
      '+hget', '+smembers', '+get', '+exists', '+xrevrange', '+client', '+type', '+xlen');
    const u = new URL(testRedisUrl());
    u.username = aclUser;
    u.password = 'pw-exp1';
    const ro = new Redis(u.toString(), { maxRetriesPerRequest: 1 });
    ro.on('error', () => undefined);
    try {
      const r = await report(names, {}, ro);
      expect(r.status).toBe('unknown');
      const b = r.blind_spots!.find((x) => x.what === 'acl')!;
      expect(b.acl_rule).toBe(`%R~${names.prefix}:*`);
      expect(b.fix).toContain(`%R~${names.prefix}:*`);
      expect(healthNagios(r, DEFAULT_THRESHOLDS)).toMatch(/^QT UNKNOWN - acl: /);
    } finally {
      ro.disconnect();
    }
  });

  it('case 8: --format json prints the unknown verdict when Redis is unreachable (exit 3)', async () => {
    const r = await qt(['health', '--redis-url', 'redis://127.0.0.1:1', '--prefix', 'quantum', '--format', 'json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ prefix: 'quantum', status: 'unknown', exit_code: 3 });
  });
});
