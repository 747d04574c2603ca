import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { busyReport, emptyReport, liveReport, stage } from './fixtures.js';
import { maxLineWidth, renderTui } from './render.js';

afterEach(() => cleanup());

describe('console views from fixed reports', () => {
  it('pipeline shows each stage with rates, rejection share, top reason and the funnel', async () => {
    const t = renderTui({ state: busyReport() });
    const f = await t.ready();
    expect(f).toContain('PAPER');
    expect(f).toContain('redis://127.0.0.1:6390/');
    expect(f).toContain('CRIT');
    expect(f).toMatch(/signals 180 → intents 90 → plans 9 → approved 0 → executed 0/);
    const bridge = f.split('\n').find((l) => l.trim().startsWith('intent_bridge'))!;
    expect(bridge).toContain('0.10'); // 90 in / 900 s
    expect(bridge).toContain('90%');
    expect(bridge).toContain('invalid_quantity ×70');
    expect(f).toMatch(/[▁▂▃▄▅▆▇█]/);
  });

  it('pipeline marks NO OUTPUT only where the report finds STAGE_NO_OUTPUT, not on a periodic service', async () => {
    const r = busyReport();
    r.stages = [stage('apply_layer', { in: 40, out: 0 }), stage('reconciler', { in: 40, out: 0 })];
    r.findings = [{ code: 'STAGE_NO_OUTPUT', severity: 'crit', subject: 'apply_layer', message: 'apply_layer took 40 inputs and produced nothing', evidence: {}, fix: '' }];
    const t = renderTui({ state: r });
    const f = await t.ready();
    const line = (name: string) => f.split('\n').find((l) => l.trim().replace(/^›/, '').startsWith(name))!;
    expect(line('apply_layer')).toContain('NO OUTPUT');
    expect(line('reconciler')).not.toContain('NO OUTPUT');
  });

  it('an empty Redis says nothing runs yet and how to start it', async () => {
    const t = renderTui({ state: emptyReport() });
    const f = await t.ready();
    expect(f).toContain('Nothing is running yet');
    expect(f).toContain('npx --no-install qt up');
    expect(f).toContain('MODE ?');
  });

  it('streams mark a starving group and stale streams', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'streams' });
    const f = await t.ready();
    const lines = f.split('\n');
    const i = lines.findIndex((l) => l.trim().startsWith('apply.approved'));
    expect(lines[i + 1]).toMatch(/intent_executor.*STARVING/);
    expect(lines.find((l) => l.includes('└ autonomous_trader'))).not.toContain('STARVING');
    expect(lines.find((l) => l.trim().startsWith('execution.result'))).toContain('STALE');
    expect(lines.find((l) => l.includes('└ intent_bridge'))).toMatch(/pend 4.*lag 12/);
  });

  it('rejections show top reasons per stage and the latest examples', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'rejections' });
    const f = await t.ready();
    expect(f).toMatch(/intent_bridge\s+81 of 90: invalid_quantity ×70, symbol_not_allowed ×11/);
    expect(f).toMatch(/5s intent_bridge\s+invalid_quantity\s+BTCUSDT\s+qty 0 after rounding/);
  });

  it('positions show engine beside exchange, drift, the limit and ghosts', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'positions', size: { columns: 120, rows: 30 } });
    const f = await t.ready();
    expect(f).toMatch(/open 2\/2 AT LIMIT/);
    expect(f).toMatch(/ghosts 1/);
    expect(f).toMatch(/BTCUSDT\s+LONG\s+0\.01\s+60000\s+61000\s+\+10\.00\s+\+1\.7\s+LONG 0\.02.*DRIFT qty 0\.01 vs exchange 0\.02/);
    expect(f).toMatch(/ETHUSDT\s+SHORT.*-15\.00.*ok/);
    expect(f).toMatch(/SOLUSDT.*DRIFT exchange only/);
  });

  it('services show status, beats and the last error', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'services' });
    const f = await t.ready();
    expect(f).toMatch(/ai_engine\s+running\s+1s\s+2s\s+1800/);
    expect(f).toMatch(/intent_executor\s+silent/);
    expect(f).toMatch(/reconciler\s+failed.*exchange auth failed: -2015/);
    expect(f).toMatch(/harvest_brain\s+down/);
  });

  it('findings are listed worst first', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'findings' });
    const f = await t.ready();
    const order = ['GROUP_STARVING', 'STAGE_REJECTING', 'SERVICES_UNKNOWN'].map((c) => f.indexOf(c));
    expect(order.every((x) => x > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('LIVE mode and the kill switch are shown in the header', async () => {
    const t = renderTui({ state: liveReport() });
    const f = await t.ready();
    expect(f).toContain(' LIVE ');
    expect(f).toContain('KILL SWITCH ON');
    expect(f).toContain('drawdown limit');
  });

  it.each(['pipeline', 'streams', 'rejections', 'positions', 'services', 'findings'] as const)('the %s view fits 80×24', async (view) => {
    const t = renderTui({ state: liveReport(), initialView: view, size: { columns: 80, rows: 24 } });
    const f = await t.ready();
    expect(maxLineWidth(f)).toBeLessThanOrEqual(80);
    expect(f.split('\n').length).toBeLessThanOrEqual(24);
  });

  it('an 80-column terminal still shows the essentials of a row', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'positions', size: { columns: 80, rows: 24 } });
    const f = await t.ready();
    expect(f).toMatch(/BTCUSDT\s+LONG.*DRIFT/);
    expect(f).toContain('…');
  });
});
