/** Services: the status detail (`9 open position(s)`) has its own column; "last error" holds only errors. */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { busyReport } from './fixtures.js';
import { maxLineWidth, renderTui } from './render.js';
import { Renderer } from '../../src/diagnose/render.js';

afterEach(() => cleanup());

function withDetail() {
  const r = busyReport();
  r.services = [
    { service: 'reconciler', status: 'running', expected: true, beat_age_s: 1, last_msg_age_s: 2, processed: 40, errors: 0, last_error: '', detail: '9 open position(s)', mode: 'PAPER', pid: '1', host: 'box' },
    { service: 'intent_executor', status: 'degraded', expected: true, beat_age_s: 1, last_msg_age_s: 2, processed: 7, errors: 2, last_error: 'exchange timeout', detail: 'retrying', mode: 'PAPER', pid: '2', host: 'box' },
  ];
  return r;
}

describe('services: detail is not an error', () => {
  it('the console shows detail and last error in separate columns', async () => {
    const t = renderTui({ state: withDetail(), initialView: 'services', size: { columns: 120, rows: 30 } });
    const f = await t.ready();
    const head = f.split('\n').find((l) => l.includes('service') && l.includes('status'))!;
    expect(head).toMatch(/detail\s+last error/);
    const detailCol = head.indexOf('detail');
    const errCol = head.indexOf('last error');
    const rec = f.split('\n').find((l) => l.includes('reconciler'))!;
    expect(rec.indexOf('9 open position(s)')).toBe(detailCol);
    expect(rec.slice(errCol).trim()).toBe('-');
    const exe = f.split('\n').find((l) => l.includes('intent_executor'))!;
    expect(exe.indexOf('retrying')).toBe(detailCol);
    expect(exe.indexOf('exchange timeout')).toBe(errCol);
    expect(maxLineWidth(f)).toBeLessThanOrEqual(120);
  });

  it('qt diagnose services has a detail column beside last error', () => {
    const out = new Renderer(false, 200).services(withDetail());
    const head = out.split('\n').find((l) => l.includes('service'))!;
    expect(head).toMatch(/detail.*last error/);
    const rec = out.split('\n').find((l) => l.includes('reconciler'))!;
    const cells = rec.split('│').map((c) => c.trim());
    expect(cells).toContain('9 open position(s)');
    expect(cells[cells.length - 2]).toBe('-');
  });
});
