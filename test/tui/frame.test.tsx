import { describe, expect, it } from 'vitest';
import { benchConsoleRender, renderConsoleFrame } from '../../src/tui/bench.js';
import { busyReport, group, stream } from './fixtures.js';
import { maxLineWidth, renderTui, strip } from './render.js';

describe('console frames without a terminal (bench)', () => {
  it('renders each view of a report to text within the width', () => {
    const r = busyReport();
    const f = strip(renderConsoleFrame(r, 'streams', { columns: 80, rows: 24 }));
    expect(f).toMatch(/intent_executor.*STARVING/);
    expect(maxLineWidth(f)).toBeLessThanOrEqual(80);
    const times = benchConsoleRender(r, 3);
    expect(Object.keys(times)).toEqual(['pipeline', 'streams', 'rejections', 'positions', 'services', 'findings']);
    for (const ms of Object.values(times)) expect(ms).toBeGreaterThan(0);
  });
});

describe('starving groups follow the findings', () => {
  it('a quiet control-plane group (info finding) is not shown as STARVING', async () => {
    const r = busyReport();
    r.streams.push(stream('policy.updated', { length: 3, last_entry_ms: r.generated_at - 7_200_000, age_s: 7200, groups: [group('autonomous_trader_policy')] }));
    r.findings.push({ code: 'GROUP_STARVING', severity: 'info', subject: 'policy.updated autonomous_trader_policy', message: 'quiet', evidence: { group: 'autonomous_trader_policy' }, fix: '-' });
    const t = renderTui({ state: r, initialView: 'streams', size: { columns: 100, rows: 40 } });
    const f = await t.ready();
    const line = f.split('\n').find((l) => l.includes('└ autonomous_trader_policy'))!;
    expect(line).toContain('quiet (control plane)');
    expect(line).not.toContain('STARVING');
    t.unmount();
  });
});
