/** `qt diagnose` tables fit the terminal: no line wider than the width, messages wrapped, not lost. */
import { describe, expect, it } from 'vitest';
import { outputWidth, Renderer, wrapText } from '../../src/diagnose/render.js';
import { busyReport } from '../tui/fixtures.js';

const widest = (s: string) => Math.max(...s.split('\n').map((l) => [...l].length));

describe('diagnose tables fit the width', () => {
  for (const width of [100, 80]) {
    it(`every view fits ${width} columns`, () => {
      const r = busyReport();
      r.services[2]!.last_error = 'exchange auth failed: -2015 Invalid API-key, IP, or permissions for action, request ip: 203.0.113.7 (check the key and its IP allowlist)';
      r.services[1]!.detail = '9 open position(s) and a long status detail that used to push the table wide';
      const v = new Renderer(false, width);
      for (const [name, out] of Object.entries({
        pipeline: v.pipeline(r), streams: v.streams(r), services: v.services(r), positions: v.positions(r), ghosts: v.ghosts(r),
        rejections: v.rejections(r), stages: v.stages(r), findings: v.findings(r.findings),
      })) {
        expect(widest(out), `${name} at ${width} columns:\n${out}`).toBeLessThanOrEqual(width);
      }
      // the long error is wrapped, not cut: every word of it is still there
      const services = v.services(r).replace(/[│\s]+/g, ' ');
      expect(services.replace(/ /g, '')).toContain('exchangeauthfailed:-2015InvalidAPI-key');
    });
  }

  it('a wide terminal keeps the natural layout', () => {
    const r = busyReport();
    const narrow = new Renderer(false, 100).services(r);
    const wide = new Renderer(false, 250).services(r);
    expect(wide.split('\n').length).toBeLessThanOrEqual(narrow.split('\n').length);
    expect(wide).toMatch(/last msg/);
  });

  it('wraps text at word boundaries with an indent', () => {
    expect(wrapText('the quick brown fox jumps', 14, '  ')).toEqual(['  the quick', '  brown fox', '  jumps']);
    expect(wrapText('x'.repeat(25), 12, '')).toEqual(['x'.repeat(12), 'x'.repeat(12), 'x']);
  });

  it('uses COLUMNS when stdout is not a terminal, else 100', () => {
    const was = process.env.COLUMNS;
    try {
      process.env.COLUMNS = '90';
      expect(outputWidth({ isTTY: false } as NodeJS.WriteStream)).toBe(90);
      delete process.env.COLUMNS;
      expect(outputWidth({ isTTY: false } as NodeJS.WriteStream)).toBe(100);
      expect(outputWidth({ isTTY: true, columns: 132 } as NodeJS.WriteStream)).toBe(132);
    } finally {
      if (was === undefined) delete process.env.COLUMNS;
      else process.env.COLUMNS = was;
    }
  });
});
