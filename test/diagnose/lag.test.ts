/** Pure rules of the lag check and the group findings, on reply shapes of Redis 6.2, 7.0 and 7.2/Valkey. */
import { describe, expect, it } from 'vitest';
import { cmpId, judgeLag, needsRange, type LagInput } from '../../src/diagnose/lag.js';
import { findingsOf } from '../../src/diagnose/findings.js';
import { buildReport, verdictOf } from '../../src/diagnose/report.js';
import { exitCodeForStatus } from '../../src/contract/codes.js';
import { DEFAULT_THRESHOLDS } from '../../src/diagnose/thresholds.js';
import type { GroupInfo, PipelineSnapshot, ServiceInfo, StreamInfo } from '../../src/diagnose/read-model.js';

const base: LagInput = {
  length: 10, entries_added: 10, last_generated_id: '0-10', first_entry_id: '0-1', max_deleted_entry_id: '0-0',
  last_delivered_id: '0-4', lag: 6, entries_read: 4, has_lag_field: true,
};

describe('lag check (pure)', () => {
  it('stream ids compare by ms then sequence, beyond 2^53', () => {
    expect(cmpId('0-10', '0-9')).toBe(1);
    expect(cmpId('1700000000000-0', '999-99')).toBe(1);
    expect(cmpId('18446744073709551615-1', '18446744073709551615-0')).toBe(1);
    expect(cmpId('5', '5-0')).toBe(0);
  });

  it('uses Redis\'s lag when it passes every invariant, without a range read', () => {
    expect(needsRange(base)).toBe(false);
    expect(judgeLag(base)).toMatchObject({ value: 6, source: 'redis', reason: null, corrupt: false });
  });

  it('Redis 6.2 (no lag field): not_supported, counted from the range read, never 0 when unknown', () => {
    const i = { ...base, lag: null, entries_read: null, entries_added: null, max_deleted_entry_id: '', has_lag_field: false };
    expect(needsRange(i)).toBe(true);
    expect(judgeLag(i, { after: 6, before: 4, bound: 500 })).toMatchObject({ value: 6, source: 'derived', reason: 'not_supported', redis_lag: null });
    expect(judgeLag(i, null)).toMatchObject({ value: null, source: 'unknown', max: 10 });
  });

  it('a tombstone inside the stream: Redis\'s figure is confirmed by the count, or replaced', () => {
    const i = { ...base, max_deleted_entry_id: '0-2', length: 9 };
    expect(needsRange(i)).toBe(true);
    expect(judgeLag(i, { after: 6, before: 3, bound: 500 })).toMatchObject({ value: 6, source: 'redis', reason: null });
    expect(judgeLag({ ...i, lag: 7 }, { after: 6, before: 3, bound: 500 })).toMatchObject({ value: 6, source: 'derived', reason: 'deleted_inside', redis_lag: 7 });
  });

  it('lag above entries-added is corrupt even when positive', () => {
    expect(judgeLag({ ...base, lag: 50, entries_read: 0 }, { after: 6, before: 4, bound: 500 })).toMatchObject({ corrupt: true, reason: 'over_entries_added', value: 6 });
  });
});

const now = 1_800_000_000_000;
function snapWith(g: Partial<GroupInfo>, services: ServiceInfo[] = [], version = '7.2.4'): PipelineSnapshot {
  const s: StreamInfo = {
    stream: 'apply.plan', key: 'q:stream:apply.plan', length: 5, last_entry_ms: now - 1000, age_s: 1, entries_added: 5, known: true, stale: false,
    groups: [{ group: 'apply_layer', consumers: 0, pending: 0, lag: 0, entries_read: 5, last_delivered_id: `${now - 1000}-0`, consumer_details: [], oldest_pending_idle_ms: null, ...g }],
    first_entry_id: `${now - 5000}-0`, last_generated_id: `${now - 1000}-0`, max_deleted_entry_id: '0-0',
  };
  return {
    generated_at: now, window_s: 3600, redis: { url: '', version, maxmemory_policy: 'noeviction', warnings: [] }, prefix: 'q', mode: null,
    kill_switch: null, policy_version: null, stages: [], streams: [s], services, registry_known: true,
    positions: { open: 0, limit: null, position_keys: 0, ledger_keys: 0, snapshot_keys: 0, ghosts: [], rows: [], exchange_only: [], scanned_keys: 0 },
    rejections: { latest: [], total_in_window: 0 }, dead_letters: { count_in_window: 0, latest: [] }, funnel: [], unknowns: [], commands: 0,
  };
}
const svc = (status: ServiceInfo['status']): ServiceInfo => ({
  service: 'apply_layer', status, expected: true, beat_age_s: 1, last_msg_age_s: 1, processed: 1, errors: 0, last_error: '', detail: '', mode: null, pid: '1', host: 'h',
});

describe('CONSUMER_LEAK (pure, version-aware)', () => {
  const consumers = (n: number, inactive: number | null) =>
    Array.from({ length: n }, (_, i) => ({ name: `c${i}`, pending: 0, idle_ms: 10, inactive_ms: i < 2 ? 5 : inactive }));

  it('Redis 7.2+: liveness by inactive (two read recently, the rest never)', () => {
    const f = findingsOf(snapWith({ consumers: 300, consumers_listed: true, consumer_details: consumers(300, 7_200_000) }, [svc('running'), svc('running')]), DEFAULT_THRESHOLDS)
      .find((x) => x.code === 'CONSUMER_LEAK')!;
    expect(f).toMatchObject({ severity: 'warn', evidence: { consumers: 300, running_services: 2, inactive_known: true, live_by_inactive: 2, holding_nothing: 300 } });
    expect(f.message).not.toContain('idle cannot tell');
  });

  it('Redis 7.0 (no inactive field): says idle cannot tell a poller from a dead consumer', () => {
    const f = findingsOf(snapWith({ consumers: 300, consumers_listed: true, consumer_details: consumers(300, null).map((c) => ({ ...c, inactive_ms: null })) }, [], '7.0.15'), DEFAULT_THRESHOLDS)
      .find((x) => x.code === 'CONSUMER_LEAK')!;
    expect(f.evidence).toMatchObject({ inactive_known: false, live_by_inactive: null });
    expect(f.message).toContain('idle cannot tell');
  });

  it('no leak under the threshold or within ten consumers per running service', () => {
    expect(findingsOf(snapWith({ consumers: 99 }), DEFAULT_THRESHOLDS).some((x) => x.code === 'CONSUMER_LEAK')).toBe(false);
    const running = Array.from({ length: 20 }, () => svc('running'));
    expect(findingsOf(snapWith({ consumers: 150 }, running), DEFAULT_THRESHOLDS).some((x) => x.code === 'CONSUMER_LEAK')).toBe(false);
  });
});

describe('verdict', () => {
  it('a blind spot makes the status unknown (exit 3), but a crit finding stands', () => {
    const blind = { blind_spots: [{ what: 'acl', detail: 'NOPERM', fix: 'ACL SETUSER u %R~q:*' }] };
    expect(buildReport({ ...snapWith({}), ...blind }).status).toBe('unknown');
    expect(verdictOf(['warn', 'info'], blind)).toBe('unknown');
    expect(verdictOf(['crit', 'warn'], blind)).toBe('crit');
    expect(verdictOf(['info'], {})).toBe('ok');
    expect(exitCodeForStatus('unknown')).toBe(3);
  });
});
