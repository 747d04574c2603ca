/** Pure rules: findings from hand-made snapshots (Redis 6.2 shapes included), name matching, thresholds. */
import { describe, expect, it } from 'vitest';
import { FILTER_REASON_LIST, findingsOf } from '../../src/diagnose/findings.js';
import { readFileSync } from 'node:fs';
import { buildReport } from '../../src/diagnose/report.js';
import { closestStreams } from '../../src/diagnose/streams.js';
import { DEFAULT_THRESHOLDS, resolveThresholds } from '../../src/diagnose/thresholds.js';
import { healthNagios, healthProm } from '../../src/diagnose/health-format.js';
import type { GroupInfo, PipelineSnapshot, StreamInfo } from '../../src/diagnose/read-model.js';

const now = 1_800_000_000_000;
function stream(name: string, length: number, ageS: number | null, groups: Partial<GroupInfo>[] = [], extra: Partial<StreamInfo> = {}): StreamInfo {
  return {
    stream: name, key: `q:stream:${name}`, length, last_entry_ms: ageS === null ? null : now - ageS * 1000, age_s: ageS, entries_added: null,
    groups: groups.map((g) => ({ group: 'g', consumers: 0, pending: 0, lag: null, entries_read: null, last_delivered_id: '0-0', consumer_details: [], oldest_pending_idle_ms: null, ...g })),
    known: true, stale: ageS !== null && ageS > 1800, ...extra,
  };
}
function snap(p: Partial<PipelineSnapshot>): PipelineSnapshot {
  return {
    generated_at: now, window_s: 3600, redis: { url: '', version: '6.2.14', maxmemory_policy: 'noeviction', warnings: [] }, prefix: 'q', mode: null,
    kill_switch: null, policy_version: null, stages: [], streams: [], services: [], registry_known: true,
    positions: { open: 0, limit: null, position_keys: 0, ledger_keys: 0, snapshot_keys: 0, ghosts: [], rows: [], exchange_only: [], scanned_keys: 0 },
    rejections: { latest: [], total_in_window: 0 }, dead_letters: { count_in_window: 0, latest: [] }, funnel: [], unknowns: [], commands: 0, ...p,
  };
}

describe('findings (pure)', () => {
  it('Redis 6.2: an empty stream with a group starves even without lag, entries-read or entries-added', () => {
    const f = findingsOf(snap({ streams: [stream('apply.plan', 10002, 1, [{ group: 'apply_layer' }]), stream('apply.plan.manual', 0, null, [{ group: 'intent_executor' }])] }), DEFAULT_THRESHOLDS);
    const g = f.find((x) => x.code === 'GROUP_STARVING')!;
    expect(g).toMatchObject({ severity: 'crit', subject: 'apply.plan.manual intent_executor' });
    expect(f.some((x) => x.code === 'GROUP_LAGGING')).toBe(false);
  });

  it('a typo in a stream name is matched by edit distance', () => {
    const c = closestStreams('apply.aproved', [stream('apply.approved', 5, 1), stream('trade.intent', 5, 1)]);
    expect(c.strong).toBe(true);
    expect(c.matches.map((m) => m.stream)).toEqual(['apply.approved']);
  });

  it('lag over the thresholds is warn then crit; null lag is never judged', () => {
    const f = findingsOf(snap({ streams: [stream('trade.intent', 50000, 1, [{ group: 'a', lag: 2000, consumers: 1 }, { group: 'b', lag: 20000, consumers: 1 }, { group: 'c', lag: null, consumers: 1 }])] }), DEFAULT_THRESHOLDS);
    expect(f.filter((x) => x.code === 'GROUP_LAGGING').map((x) => [x.subject, x.severity])).toEqual([['trade.intent b', 'crit'], ['trade.intent a', 'warn']]);
  });

  it('explicit small ids give no age, so no staleness is claimed', () => {
    const f = findingsOf(snap({ streams: [stream('trade.intent', 5, null, [{ group: 'x' }]), stream('apply.plan', 5, 1, [{ group: 'apply_layer' }])] }), DEFAULT_THRESHOLDS);
    expect(f.filter((x) => x.severity !== 'info')).toEqual([]);
  });

  it('maxmemory-policy other than noeviction is a REDIS_CONFIG warning; info-only reports are ok', () => {
    const r = buildReport(snap({ registry_known: false, redis: { url: '', version: '7.2.4', maxmemory_policy: 'allkeys-lru', warnings: ['maxmemory-policy is allkeys-lru: …'] } }));
    expect(r.findings.map((x) => [x.code, x.severity])).toEqual([['REDIS_CONFIG', 'warn'], ['SERVICES_UNKNOWN', 'info']]);
    expect(buildReport(snap({ registry_known: false })).status).toBe('ok');
  });

  it('thresholds come from env and flags, and every bad value is reported', () => {
    const r = resolveThresholds({ QT_DIAG_STALE: '10m', QT_DIAG_LAG_WARN: 'lots' }, { rejectCrit: '2' });
    expect(r.thresholds.staleMs).toBe(600_000);
    expect(r.problems).toHaveLength(2);
  });

  it('nagios perfdata and prometheus text are well formed', () => {
    const r = buildReport(snap({ streams: [stream('trade.intent', 5, 1, [{ group: 'intent_bridge', lag: 3, consumers: 1 }])] }));
    expect(healthNagios(r, DEFAULT_THRESHOLDS)).toMatch(/^QT OK - pipeline healthy \| ('[a-z_]+'=\d+;[\d]*;[\d]*;0 ?)+$/);
    const prom = healthProm(r);
    expect(prom).toContain('qt_group_lag{prefix="q",stream="trade.intent",group="intent_bridge"} 3');
    expect(prom).not.toMatch(/ \d{13}$/m);
  });

  it('auth failures are recognised from 401/-2015 texts, not from numbers that contain 401', () => {
    const svc = (last_error: string) => ({ service: 'reconciler', status: 'running' as const, expected: true, beat_age_s: 1, last_msg_age_s: 1, processed: 1, errors: 0, last_error, detail: '', mode: null, pid: null, host: null });
    const codes = (t: string) => findingsOf(snap({ services: [svc(t)] }), DEFAULT_THRESHOLDS).map((f) => f.code);
    expect(codes('HTTP 401 Unauthorized')).toContain('EXCHANGE_AUTH_FAILED');
    expect(codes('binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}')).toContain('EXCHANGE_AUTH_FAILED');
    expect(codes('notional 401.5 < minNotional 500')).not.toContain('EXCHANGE_AUTH_FAILED');
  });

  it('docs/diagnostics.md lists every filter-by-design reason of the code in the STAGE_REJECTING row', () => {
    const doc = readFileSync(new URL('../../docs/diagnostics.md', import.meta.url), 'utf8');
    const row = doc.split('\n').find((l) => l.startsWith('| `STAGE_REJECTING` |'))!;
    expect(row).toBeTruthy();
    for (const r of FILTER_REASON_LIST) expect(row, r).toContain('`' + r + '`');
  });

  it('STAGE_FILTERING (info) says where the input went when filters by design take most of it; no STAGE_REJECTING', () => {
    const reasons = [{ reason: 'position_open', count: 333 }, { reason: 'opposite_position', count: 221 }, { reason: 'cooldown', count: 30 }];
    const st = { stage: 'autonomous_trader', in: 620, out: 36, rejected: 584, dead: 0, top_reasons: reasons, source: 'metrics' };
    const f = findingsOf(snap({ stages: [st as never] }), DEFAULT_THRESHOLDS);
    const x = f.find((y) => y.code === 'STAGE_FILTERING')!;
    expect(x).toMatchObject({ severity: 'info', subject: 'autonomous_trader' });
    expect(x.message).toContain('5.81% of its input');
    expect(x.message).toContain('position_open 333, opposite_position 221, cooldown 30');
    expect(x.evidence).toMatchObject({ in: 620, out: 36, filtered_by_design: 584, reasons: { position_open: 333, opposite_position: 221, cooldown: 30 } });
    expect(f.some((y) => y.code === 'STAGE_REJECTING')).toBe(false);
    // Mostly passed on: no finding.
    const few = findingsOf(snap({ stages: [{ ...st, out: 580, rejected: 40, top_reasons: [{ reason: 'cooldown', count: 40 }] } as never] }), DEFAULT_THRESHOLDS);
    expect(few.some((y) => y.code === 'STAGE_FILTERING')).toBe(false);
  });
});
