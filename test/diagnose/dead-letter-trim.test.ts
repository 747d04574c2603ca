/**
 * DEAD_LETTERS says when the capped dead.letter stream lost dead letters to its cap
 * (docs/reliability.md "Dead letters"): the figures from XINFO STREAM against the
 * metrics, pure on hand-made snapshots and on a real stream trimmed by XADD MAXLEN ~.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { deadLetterTrim } from '../../src/diagnose/dead-letter-trim.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { findingsOf } from '../../src/diagnose/findings.js';
import { DEFAULT_THRESHOLDS } from '../../src/diagnose/thresholds.js';
import type { GroupInfo, PipelineSnapshot, StreamInfo } from '../../src/diagnose/read-model.js';
import { closeAll, testNames, testRedis } from '../helpers/redis.js';

afterAll(closeAll);

function dl(length: number, added: number | null, reads: (number | null)[] = []): StreamInfo {
  const groups: GroupInfo[] = reads.map((r, i) => ({ group: `g${i}`, consumers: 1, pending: 0, lag: null, entries_read: r, last_delivered_id: '0-0', consumer_details: [], oldest_pending_idle_ms: null }));
  return { stream: 'dead.letter', key: 'q:stream:dead.letter', length, last_entry_ms: 1, age_s: 1, entries_added: added, groups, known: true, stale: false };
}

describe('deadLetterTrim (pure)', () => {
  it('trimmed = entries-added − length; all unread when no group reads the stream', () => {
    expect(deadLetterTrim(dl(10_050, 35_000), 35_000)).toEqual({ length: 10_050, entries_added: 35_000, trimmed: 24_950, trimmed_unread: 24_950, trimmed_in_window: 24_950 });
  });
  it('nothing trimmed: zeros; the window is within the stream', () => {
    expect(deadLetterTrim(dl(40, 40), 12)).toEqual({ length: 40, entries_added: 40, trimmed: 0, trimmed_unread: 0, trimmed_in_window: 0 });
  });
  it('a group that read past the trimmed entries: trimmed but none unread', () => {
    expect(deadLetterTrim(dl(100, 300, [150, 250]), 10)).toMatchObject({ trimmed: 200, trimmed_unread: 0, trimmed_in_window: 0 });
    expect(deadLetterTrim(dl(100, 300, [50]), 10)).toMatchObject({ trimmed: 200, trimmed_unread: 150 });
  });
  it('unknown stays unknown: Redis 6.2 (no entries-added), a group with null entries-read', () => {
    expect(deadLetterTrim(dl(100, null), 500)).toEqual({ length: 100, entries_added: null, trimmed: null, trimmed_unread: null, trimmed_in_window: 400 });
    expect(deadLetterTrim(dl(100, 300, [null]), 0)).toMatchObject({ trimmed: 200, trimmed_unread: null });
    expect(deadLetterTrim(undefined, 3)).toEqual({ length: 0, entries_added: null, trimmed: null, trimmed_unread: null, trimmed_in_window: 3 });
  });
});

describe('DEAD_LETTERS finding', () => {
  const base = (p: Partial<PipelineSnapshot>): PipelineSnapshot => ({
    generated_at: Date.now(), window_s: 3600, redis: { url: '', version: '7.0.15', maxmemory_policy: 'noeviction', warnings: [] }, prefix: 'q', mode: null,
    kill_switch: null, policy_version: null, stages: [], streams: [], services: [], registry_known: true,
    positions: { open: 0, limit: null, position_keys: 0, ledger_keys: 0, snapshot_keys: 0, ghosts: [], rows: [], exchange_only: [], scanned_keys: 0 },
    rejections: { latest: [], total_in_window: 0 }, dead_letters: { count_in_window: 0, latest: [] }, funnel: [], unknowns: [], commands: 0, ...p,
  });
  const stage = (dead: number) => ({ stage: 'intent_bridge', in: dead, out: 0, rejected: 0, dead, errors: 0, success_rate: 0, top_reasons: [], series: [], source: 'metrics' as const });

  it('warns that dead letters are trimmed faster than read when the window holds more than the stream', () => {
    const f = findingsOf(base({ stages: [stage(35_000)], streams: [dl(10_050, 35_000)] }), DEFAULT_THRESHOLDS).find((x) => x.code === 'DEAD_LETTERS')!;
    expect(f.severity).toBe('warn');
    expect(f.evidence).toMatchObject({ count: 35_000, trimmed: 24_950, trimmed_in_window: 24_950 });
    expect(f.message).toMatch(/trimmed faster than they are read: at least 24950 of this window's/);
    expect(f.fix).toMatch(/QT_TOOL_STREAM_MAXLEN/);
  });
  it('says nothing of trimming when the stream holds the window', () => {
    const f = findingsOf(base({ stages: [stage(5)], streams: [dl(5, 5)] }), DEFAULT_THRESHOLDS).find((x) => x.code === 'DEAD_LETTERS')!;
    expect(f.evidence).toMatchObject({ count: 5, trimmed: 0, trimmed_in_window: 0 });
    expect(f.message).not.toMatch(/trimmed/);
  });

  it('on a real stream trimmed by XADD MAXLEN ~: the figures of XINFO STREAM', async () => {
    const r = testRedis();
    const names = testNames();
    const key = names.stream('dead.letter');
    const p = r.pipeline();
    for (let i = 0; i < 2000; i++) p.xadd(key, 'MAXLEN', '~', '100', '*', 'stage', 'intent_bridge', 'stream', 'x', 'entry_id', `${i}-0`, 'error', 'bad', 'payload', '{}', 'ts', String(Date.now()));
    await p.exec();
    const len = await r.xlen(key);
    expect(len).toBeGreaterThanOrEqual(100); // approximate trimming never keeps fewer than the cap
    expect(len).toBeLessThan(2000);
    const snap = await collectSnapshot(r, names, { windowMs: 600_000 });
    const t = deadLetterTrim(snap.streams.find((s) => s.stream === 'dead.letter'), 2000);
    expect(t).toEqual({ length: len, entries_added: 2000, trimmed: 2000 - len, trimmed_unread: 2000 - len, trimmed_in_window: 2000 - len });
  });
});
