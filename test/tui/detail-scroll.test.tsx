/**
 * Detail screens wrap long lines (never cut them with …) and scroll: j/k/↑/↓ a line,
 * PgUp/PgDn a page, with a `lines a-b of n` row, at 80 and 160 columns.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { busyReport, NOW } from './fixtures.js';
import { KEYS, maxLineWidth, renderTui } from './render.js';

afterEach(() => cleanup());

const PGDN = '\x1b[6~';
const PGUP = '\x1b[5~';

function longReport() {
  const r = busyReport();
  const evidence: Record<string, unknown> = {};
  for (let i = 0; i < 40; i++) evidence[`key_${String(i).padStart(2, '0')}`] = `value ${i} `.repeat(12).trim();
  evidence.zz_last_key = 'END-OF-EVIDENCE';
  r.findings = [
    {
      code: 'STAGE_REJECTING',
      severity: 'warn',
      subject: 'intent_bridge',
      message: 'intent_bridge rejects most of its input, '.repeat(8) + 'END-OF-MESSAGE',
      fix: 'look at the producer and the filters, '.repeat(8) + 'END-OF-FIX',
      evidence,
    },
  ];
  const payload: Record<string, string> = {};
  for (let i = 0; i < 40; i++) payload[`field_${i}`] = 'x'.repeat(100 + i) + `-TAIL${i}`;
  r.rejections = {
    total_in_window: 1,
    latest: [{ id: `${NOW - 5000}-0`, stage: 'intent_bridge', reason: 'invalid_quantity', symbol: 'BTCUSDT', ref_id: 'i-77', detail: 'qty 0 after rounding '.repeat(12) + 'END-OF-DETAIL', payload: JSON.stringify(payload), ts: NOW - 5000 }],
  };
  return r;
}

/** The rows joined again (a long word is split over rows at a hard break; a row goes on indented). */
const flat = (f: string) => f.replace(/\n */g, '');
/** The detail screen's rows: from its title to its `lines a-b of n` row (header and footer are not its). */
const body = (f: string, title: string) => f.slice(f.indexOf(title), f.search(/lines \d+-\d+ of \d+/));
const indicator = (f: string) => /lines (\d+)-(\d+) of (\d+)/.exec(f);

describe.each([80, 160])('detail screens at %i columns', (columns) => {
  it('a finding: message, fix and evidence wrap instead of being cut, and the evidence scrolls', async () => {
    const t = renderTui({ state: longReport(), size: { columns, rows: 24 } });
    await t.ready();
    await t.press('6', 'STAGE_REJECTING');
    const f0 = await t.press(KEYS.enter, 'evidence:');
    expect(maxLineWidth(f0)).toBeLessThanOrEqual(columns);
    expect(flat(f0)).toContain('END-OF-MESSAGE');
    expect(flat(f0)).toContain('END-OF-FIX');
    expect(body(f0, 'WARN STAGE_REJECTING')).not.toMatch(/…/);
    expect(flat(f0)).not.toContain('END-OF-EVIDENCE');
    const at0 = indicator(f0)!;
    expect(at0[1]).toBe('1');
    // j scrolls one line, k back; the title stays on top.
    const f1 = await t.press('j');
    expect(indicator(f1)![1]).toBe('2');
    expect(f1).toContain('WARN STAGE_REJECTING');
    const f2 = await t.press(KEYS.down);
    expect(indicator(f2)![1]).toBe('3');
    const f3 = await t.press('k');
    expect(indicator(f3)![1]).toBe('2');
    // PgDn to the end shows the last evidence line; more PgDn stays there; PgUp goes back.
    let f = f3;
    for (let i = 0; i < 30 && !flat(f).includes('END-OF-EVIDENCE'); i++) f = await t.press(PGDN);
    expect(flat(f)).toContain('END-OF-EVIDENCE');
    const end = indicator(f)!;
    expect(end[2]).toBe(end[3]);
    const up = await t.press(PGUP);
    expect(Number(indicator(up)![1])).toBeLessThan(Number(end[1]));
    expect(maxLineWidth(up)).toBeLessThanOrEqual(columns);
    // esc closes the details; enter opens them again at the top.
    await t.press(KEYS.esc, 'message');
    const again = await t.press(KEYS.enter, 'evidence:');
    expect(indicator(again)![1]).toBe('1');
  });

  it('a rejection: the detail and payload wrap and scroll to the last field', async () => {
    const t = renderTui({ state: longReport(), size: { columns, rows: 24 } });
    await t.ready();
    await t.press('3', 'Top reasons');
    const f0 = await t.press(KEYS.enter, 'payload:');
    expect(maxLineWidth(f0)).toBeLessThanOrEqual(columns);
    expect(flat(f0)).toContain('END-OF-DETAIL');
    expect(body(f0, 'intent_bridge rejected')).not.toMatch(/…/);
    let f = f0;
    for (let i = 0; i < 80 && !flat(f).includes('TAIL39'); i++) f = await t.press('j');
    expect(flat(f)).toContain('TAIL39');
    expect(maxLineWidth(f)).toBeLessThanOrEqual(columns);
  });
});
