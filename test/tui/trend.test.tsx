/** The console keeps a sample of every group per load and shows each group's trend (Burrow's rules) in the Streams view. */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { Report } from '../../src/diagnose/read-model.js';
import { emptyReport, group, stream, NOW } from './fixtures.js';
import { MemorySource } from './memory-source.js';
import { renderTui } from './render.js';

afterEach(() => cleanup());

/** Each load is one second later; apply_layer sits at position 5 with lag 45 while its consumer polls, intent_executor is caught up. */
class TickingSource extends MemorySource {
  override async load(): Promise<Report> {
    const r = await super.load();
    return { ...r, generated_at: NOW + this.loads * 1000 };
  }
}

function stalled(): Report {
  const r = emptyReport();
  r.streams = [
    stream('apply.plan', {
      length: 50, entries_added: 50, last_entry_ms: NOW - 1000, age_s: 1, last_id: '50-0',
      groups: [group('apply_layer', { pending: 5, lag: 45, entries_read: 5, last_delivered_id: '5-0', consumer_details: [{ name: 'box:1', pending: 5, idle_ms: 50, inactive_ms: null }] })],
    }),
    stream('apply.approved', {
      length: 20, entries_added: 20, last_entry_ms: NOW - 1000, age_s: 1, last_id: '20-0',
      groups: [group('intent_executor', { lag: 0, entries_read: 20, last_delivered_id: '20-0', consumer_details: [{ name: 'box:2', pending: 0, idle_ms: 100, inactive_ms: null }] })],
    }),
  ];
  return r;
}

describe('console trends', () => {
  it('shows the window filling, then trend STALL for the stuck group and trend OK for the caught-up one, and a GROUP_TREND finding', async () => {
    const t = renderTui({ source: new TickingSource(stalled()), refreshMs: 30, initialView: 'streams', size: { columns: 120, rows: 30 } });
    await t.ready();
    const f = await t.until((x) => /apply_layer.*trend STALL/.test(x), 'trend STALL after five loads');
    expect(f).toMatch(/intent_executor.*trend OK/);
    await t.press('6', 'GROUP_TREND');
    expect(t.frame()).toContain('apply.plan apply_layer');
  });

  it('before five loads the trend says its window is filling', async () => {
    const t = renderTui({ source: new TickingSource(stalled()), refreshMs: 60_000, initialView: 'streams' });
    await t.ready();
    expect(t.frame()).toMatch(/apply_layer.*trend …1\/5/);
  });
});
