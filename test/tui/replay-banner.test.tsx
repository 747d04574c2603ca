/** The console's mode banner says REPLAY ×N while the market feed replays recorded candles. */
import { describe, expect, it } from 'vitest';
import { replayBadge } from '../../src/tui/Header.js';
import { busyReport } from './fixtures.js';
import { renderTui } from './render.js';

describe('replay in the mode banner', () => {
  it('shows REPLAY ×N from the market heartbeat, and nothing on a live feed', async () => {
    const r = busyReport();
    expect(replayBadge(r)).toBeNull();
    r.services.push({ service: 'market', status: 'running', expected: true, beat_age_s: 1, last_msg_age_s: 0, processed: 10, errors: 0, last_error: '', detail: 'replay ×1500 at 2021-11-16T10:05Z (40%)', mode: 'PAPER', pid: '1', host: 'box' });
    expect(replayBadge(r)).toBe('REPLAY ×1500');
    const t = renderTui({ state: r, initialView: 'pipeline', size: { columns: 120, rows: 40 } });
    const f = await t.ready();
    expect(f.split('\n')[0]).toMatch(/PAPER REPLAY ×1500/);
    t.unmount();
  });
});
