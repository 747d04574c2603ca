/** The console shows, after a restart, how many entries expired and since when (issue 14 §1). */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { findingsOf } from '../../src/diagnose/findings.js';
import { DEFAULT_THRESHOLDS } from '../../src/diagnose/thresholds.js';
import { NOW, emptyReport, stage } from './fixtures.js';
import { renderTui } from './render.js';

afterEach(() => cleanup());

describe('expired entries in the console', () => {
  it('the findings view says how many entries a stage refused as expired and since when', async () => {
    const r = emptyReport();
    const first = NOW - 5 * 60_000;
    r.stages = [stage('intent_bridge', {
      in: 7, out: 5, rejected: 2, top_reasons: [{ reason: 'intent_expired', count: 2 }],
      expired: { count: 2, first_at: first, last_at: NOW },
    })];
    r.rejections.latest = [{
      id: `${NOW}-0`, stage: 'intent_bridge', reason: 'intent_expired', symbol: 'BTCUSDT', ref_id: 'old-3d', payload: '{}', ts: NOW,
      detail: 'entry intent old-3d: age 259206101 ms > limit 60000 ms (policy entry_max_age_ms; written 2026-11-28T00:00:00.000Z)',
    }];
    r.findings = findingsOf(r, DEFAULT_THRESHOLDS);
    const f = r.findings.find((x) => x.code === 'ENTRIES_EXPIRED');
    expect(f?.message).toBe(
      `intent_bridge refused 2 expired entries since ${new Date(first).toISOString().replace('T', ' ').slice(0, 19)} UTC ` +
      `(last ${new Date(NOW).toISOString().replace('T', ' ').slice(0, 19)} UTC): older than entry_max_age_ms 60000 ms, the oldest 3.0 d old; they were not traded`,
    );
    // filtering by design for STAGE_REJECTING: expiry has its own finding
    expect(r.findings.map((x) => x.code)).not.toContain('STAGE_REJECTING');
    const t = renderTui({ state: r, initialView: 'findings' });
    const frame = await t.ready();
    expect(frame).toContain('ENTRIES_EXPIRED');
    expect(frame).toMatch(/refused 2 expired/);
  });
});
