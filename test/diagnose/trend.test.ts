/** Burrow's rules (REDIS-STREAMS-FACTS.md order) as a pure function: one test per rule, the order, unknown lag, incomplete windows. */
import { describe, expect, it } from 'vitest';
import { compareIds, evaluateTrend, trendFindings, trendOptions, type GroupTrend, type TrendSample } from '../../src/diagnose/trend.js';

const T0 = 1_800_000_000_000;
/** n samples 1 s apart; `f(i)` overrides fields; by default the position moves, lag 5, a consumer read at each look. */
function win(n: number, f: (i: number) => Partial<TrendSample> = () => ({})): TrendSample[] {
  return Array.from({ length: n }, (_, i) => ({
    at: T0 + i * 1000, entries_read: 100 + i, last_delivered_id: `${T0 + i}-0`, lag: 5, head: 105 + i, pending: 0, consumers: 1, active_at: T0 + i * 1000, ...f(i),
  }));
}
const opts = { allowedLag: 0, minSamples: 5 };

describe('evaluateTrend (Burrow rules, FACTS order)', () => {
  it('rule 0: a window not yet full is OK and says it is incomplete', () => {
    const r = evaluateTrend(win(3, () => ({ lag: 900, active_at: null })), opts);
    expect(r).toMatchObject({ status: 'OK', rule: 0 });
    expect(r.complete).toBeCloseTo(0.6);
    expect(evaluateTrend([], opts)).toMatchObject({ status: 'OK', rule: 0, complete: 0 });
  });

  it('rule 1: current lag within the allowed lag is OK, whatever happened before', () => {
    const r = evaluateTrend(win(6, (i) => ({ lag: i === 5 ? 0 : 50, entries_read: 7, active_at: null })), opts);
    expect(r).toMatchObject({ status: 'OK', rule: 1 });
  });

  it('rule 1 with an allowed lag: lag 3 ≤ 5 is OK', () => {
    expect(evaluateTrend(win(6, () => ({ lag: 3, entries_read: 7, active_at: null })), { ...opts, allowedLag: 5 })).toMatchObject({ status: 'OK', rule: 1 });
  });

  it('an unknown lag never counts as within the allowed lag (rules 1 and 4)', () => {
    // every lag unknown, the position fixed, consumers polling: not OK by rule 1 or 4 → STALL
    const r = evaluateTrend(win(6, () => ({ lag: null, entries_read: 7, head: null })), opts);
    expect(r).toMatchObject({ status: 'STALL', rule: 5 });
  });

  it('rule 2 STOP: no consumer read and no progress for longer than the window', () => {
    const r = evaluateTrend(win(6, () => ({ lag: 45, entries_read: 10, head: 55, active_at: T0 - 9 * 86_400_000 })), opts);
    expect(r).toMatchObject({ status: 'STOP', rule: 2 });
    expect(r.why).toContain('longer than the 5 s window');
  });

  it('rule 2 STOP: a group with no consumer and a backlog', () => {
    expect(evaluateTrend(win(6, () => ({ lag: 45, entries_read: 10, head: 55, consumers: 0, active_at: null })), opts)).toMatchObject({ status: 'STOP', rule: 2 });
  });

  it('rule 2 is skipped when the group recently caught up (its position reached a head of the window)', () => {
    // the stream's head was 10 at the first look; the group is at 10 now: lag grew only by new entries
    const r = evaluateTrend(win(6, (i) => ({ lag: 1 + i, entries_read: 10, head: 10 + i, active_at: null })), opts);
    expect(r.status).not.toBe('STOP');
  });

  it('rule 3 REWIND: the position went back and has not reached the old one again', () => {
    const r = evaluateTrend(win(6, (i) => ({ entries_read: i < 3 ? 100 + i : 50 + i, lag: 5 + i })), opts);
    expect(r).toMatchObject({ status: 'REWIND', rule: 3 });
    expect(r.why).toContain('entries-read 102');
  });

  it('rule 3 compares last-delivered-ids when entries-read is null (after XGROUP SETID to an arbitrary id)', () => {
    const r = evaluateTrend(win(6, (i) => ({ entries_read: null, last_delivered_id: i < 4 ? `${T0 + 100 + i}-0` : `${T0}-0`, lag: null })), opts);
    expect(r).toMatchObject({ status: 'REWIND', rule: 3 });
  });

  it('no REWIND once the position is back above its old height', () => {
    const r = evaluateTrend(win(6, (i) => ({ entries_read: [100, 101, 90, 95, 102, 103][i]!, lag: 5 })), opts);
    expect(r.status).not.toBe('REWIND');
  });

  it('rule 4: a lag within the allowed lag anywhere in the window is OK', () => {
    const r = evaluateTrend(win(6, (i) => ({ lag: i === 2 ? 0 : 8, entries_read: 7 })), opts);
    expect(r).toMatchObject({ status: 'OK', rule: 4 });
  });

  it('rule 5 STALL: consumers keep reading but the position does not move while lag > 0', () => {
    const r = evaluateTrend(win(6, () => ({ entries_read: 40, last_delivered_id: '5-0', lag: 12 })), opts);
    expect(r).toMatchObject({ status: 'STALL', rule: 5 });
  });

  it('rule 6 WARN: the position moves but lag never decreases', () => {
    const r = evaluateTrend(win(6, (i) => ({ lag: 10 + 2 * i })), opts);
    expect(r).toMatchObject({ status: 'WARN', rule: 6 });
    expect(r.why).toContain('10 → 20');
  });

  it('rule 7: the position moves and lag decreases somewhere: OK', () => {
    const r = evaluateTrend(win(6, (i) => ({ lag: [10, 12, 9, 11, 13, 14][i]! })), opts);
    expect(r).toMatchObject({ status: 'OK', rule: 7 });
  });

  it('WARN needs two known lags: unknown lags are not "never decreasing"', () => {
    const r = evaluateTrend(win(6, () => ({ lag: null, head: null })), opts);
    expect(r).toMatchObject({ status: 'OK', rule: 7 });
    expect(r.why).toContain('unknown');
  });

  describe('rule order', () => {
    it('STOP (2) before REWIND (3)', () => {
      const r = evaluateTrend(win(6, (i) => ({ entries_read: i < 3 ? 100 : 50, lag: 9, head: 200, active_at: T0 - 60_000 })), opts);
      // offsets changed at i=3 (a "commit" at T0+3 s), 2 s before the last look, inside the 5 s span: not STOP
      expect(r.status).toBe('REWIND');
      const stopped = evaluateTrend(win(6, () => ({ entries_read: 50, lag: 9, head: 200, active_at: T0 - 60_000 })), opts);
      expect(stopped.status).toBe('STOP');
    });

    it('REWIND (3) before "any lag OK" (4)', () => {
      const r = evaluateTrend(win(6, (i) => ({ entries_read: i < 3 ? 100 + i : 60 + i, lag: i === 1 ? 0 : 7 })), opts);
      expect(r).toMatchObject({ status: 'REWIND', rule: 3 });
    });

    it('"any lag OK" (4) before STALL (5)', () => {
      const r = evaluateTrend(win(6, (i) => ({ entries_read: 40, lag: i === 0 ? 0 : 3 })), opts);
      expect(r).toMatchObject({ status: 'OK', rule: 4 });
    });

    it('STALL (5) before WARN (6): a fixed position with growing lag is STALL', () => {
      const r = evaluateTrend(win(6, (i) => ({ entries_read: 40, lag: 3 + i })), opts);
      expect(r).toMatchObject({ status: 'STALL', rule: 5 });
    });

    it('current lag OK (1) before STOP (2)', () => {
      const r = evaluateTrend(win(6, (i) => ({ lag: i === 5 ? 0 : 9, entries_read: 3, active_at: null, consumers: 0 })), opts);
      expect(r).toMatchObject({ status: 'OK', rule: 1 });
    });
  });

  it('compareIds orders stream ids numerically (ms, then sequence)', () => {
    expect(compareIds('10-0', '9-5')).toBe(1);
    expect(compareIds('5-2', '5-10')).toBe(-1);
    expect(compareIds('1700000000000-0', '1700000000000-0')).toBe(0);
  });

  it('trendFindings: GROUP_TREND crit for STOP/STALL/REWIND, warn for WARN, none for OK, samples as evidence', () => {
    const mk = (status: GroupTrend['status'], group: string): GroupTrend => ({ stream: 'apply.plan', group, status, rule: 5, complete: 1, why: 'x', source: 'sampled', samples: win(6) });
    const f = trendFindings([mk('STALL', 'a'), mk('WARN', 'b'), mk('OK', 'c'), mk('STOP', 'd'), mk('REWIND', 'e')]);
    expect(f.map((x) => `${x.severity} ${x.subject}`)).toEqual(['crit apply.plan a', 'warn apply.plan b', 'crit apply.plan d', 'crit apply.plan e']);
    expect(f[0]!.code).toBe('GROUP_TREND');
    expect((f[0]!.evidence.samples as unknown[]).length).toBe(6);
  });

  it('trendOptions: QT_DIAG_TREND_ALLOWED_LAG is a whole number; a bad value names the variable', () => {
    expect(trendOptions({})).toEqual({ allowedLag: 0, minSamples: 5 });
    expect(trendOptions({ QT_DIAG_TREND_ALLOWED_LAG: '25' }).allowedLag).toBe(25);
    for (const bad of ['-1', 'x', '1.5']) expect(() => trendOptions({ QT_DIAG_TREND_ALLOWED_LAG: bad })).toThrow(/^QT_DIAG_TREND_ALLOWED_LAG: expected a whole number/);
  });
});
