/**
 * The console header shows the exchange host and a ban from `{prefix}:exchange:limits`
 * (issue 16: a 418 ban must be visible in the console, not only in logs).
 */
import { describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import { Header } from '../../src/tui/Header.js';
import { VIEWS } from '../../src/tui/view-model.js';
import { limitsView } from '../../src/diagnose/findings-exchange.js';
import type { Report } from '../../src/diagnose/read-model.js';
import { emptyReport, NOW } from './fixtures.js';
import { strip } from './render.js';

function frame(report: Report): string {
  const inst = render(<Header report={report} endpoint="redis://127.0.0.1:6379" prefix="qt" reconnecting={false} error={null} updatedAt={NOW} now={NOW} view={VIEWS[0]} width={140} />);
  const f = strip(inst.lastFrame() ?? '');
  inst.unmount();
  return f;
}

describe('console header: exchange host and limits', () => {
  it('a 418 ban in force is a line of its own with its end; the host follows the mode', () => {
    const r: Report = { ...emptyReport(), mode: 'DEMO', exchange: { host: '127.0.0.1:9999', limits: limitsView({ ban_until: String(NOW + 110_000), updated_at: String(NOW) }), resyncs: [] } };
    const f = frame(r);
    expect(f).toMatch(/DEMO via 127\.0\.0\.1:9999/);
    expect(f).toMatch(/EXCHANGE BAN \(418\) until \d\d:\d\d:\d\d UTC .*no requests are sent/);
  });

  it('a 429 back-off is shown; an ended ban is not', () => {
    const backoff: Report = { ...emptyReport(), exchange: { limits: limitsView({ retry_after_until: String(NOW + 5000), ban_until: String(NOW - 1000) }), resyncs: [] } };
    expect(frame(backoff)).toMatch(/exchange rate limit \(429\): backing off until/);
    expect(frame(backoff)).not.toMatch(/EXCHANGE BAN/);
    const ended: Report = { ...emptyReport(), exchange: { limits: limitsView({ ban_until: String(NOW - 1000) }), resyncs: [] } };
    expect(frame(ended)).not.toMatch(/EXCHANGE BAN|rate limit/);
  });
});
