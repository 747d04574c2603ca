import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { busyReport, liveReport } from './fixtures.js';
import { MemorySource } from './memory-source.js';
import { KEYS, renderTui } from './render.js';

afterEach(() => cleanup());

describe('operator actions need a confirmation keystroke', () => {
  it('K shows the state, takes a reason, and turns the kill switch on only after y', async () => {
    const t = renderTui({ state: busyReport() });
    await t.ready();
    let f = await t.press('K', 'currently OFF');
    expect(f).toContain('default: operator via qt tui');
    await t.type('drill');
    f = await t.press(KEYS.enter, 'turn ON?');
    expect(f).toContain('will set the kill switch with reason "drill"');
    expect(t.source.calls).toEqual([]);
    await t.press('y', 'kill switch is ON');
    expect(t.source.calls).toEqual(['killSwitch:true:drill']);
    await t.press('x', 'KILL SWITCH ON');
    expect(t.frame()).toContain('kill switch reason: drill');
  });

  it('the default reason is used when none is typed', async () => {
    const t = renderTui({ state: busyReport() });
    await t.ready();
    await t.press('K', 'currently OFF');
    await t.press(KEYS.enter, 'turn ON?');
    await t.press('Y', 'kill switch is ON');
    expect(t.source.calls).toEqual(['killSwitch:true:operator via qt tui']);
  });

  it('n and esc cancel without calling the data source; other keys do nothing', async () => {
    const t = renderTui({ state: busyReport() });
    await t.ready();
    await t.press('K', 'currently OFF');
    await t.press(KEYS.enter, 'turn ON?');
    t.stdin.write('x');
    await t.press('n', 'Funnel');
    await t.press('K', 'currently OFF');
    await t.press(KEYS.esc, 'Funnel');
    await t.press('K', 'currently OFF');
    await t.press(KEYS.enter, 'turn ON?');
    await t.press(KEYS.esc, 'Funnel');
    expect(t.source.calls).toEqual([]);
    expect(t.frame()).toContain('kill: off');
  });

  it('K when the switch is on offers to turn it off', async () => {
    const t = renderTui({ state: liveReport() });
    await t.ready();
    const f = await t.press('K', 'turn OFF?');
    expect(f).toContain('currently: ON (drawdown limit)');
    await t.press('y', 'kill switch is OFF');
    expect(t.source.calls).toEqual(['killSwitch:false:']);
  });

  it('G previews the ghost keys, then deletes them only after y', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'positions' });
    await t.ready();
    const f = await t.press('G', 'will be deleted');
    expect(f).toContain('qt:position:DOGEUSDT');
    expect(f).toContain('qty is 0');
    expect(t.source.calls).toEqual(['preview']);
    await t.press('y', 'deleted 1 ghost key');
    expect(t.source.calls).toEqual(['preview', 'apply']);
    expect(t.frame()).toContain('/tmp/qt-ghosts-backup.json');
    await t.press(' ', /ghosts 0/);
  });

  it('G then n deletes nothing', async () => {
    const t = renderTui({ state: busyReport() });
    await t.ready();
    await t.press('G', 'will be deleted');
    await t.press('n', 'Funnel');
    expect(t.source.calls).toEqual(['preview']);
  });

  it('G with no ghosts says there is nothing to do', async () => {
    const r = busyReport();
    r.positions.ghosts = [];
    const t = renderTui({ source: new MemorySource(r) });
    await t.ready();
    await t.press('G', 'nothing to do');
    await t.press('y', 'Funnel');
    expect(t.source.calls).toEqual(['preview']);
  });
});

describe('refresh and reconnecting', () => {
  it('keeps the last data and says reconnecting while loads fail, then recovers', async () => {
    const source = new MemorySource(busyReport());
    const t = renderTui({ source, refreshMs: 20 });
    await t.ready();
    source.down = 'connection refused (is redis-server running?)';
    let f = await t.until((f) => f.includes('reconnecting…'), 'reconnecting');
    expect(f).toContain('intent_bridge');
    expect(f).toContain('connection refused');
    source.down = null;
    source.report = { ...source.report, mode: 'DEMO' };
    f = await t.until((f) => !f.includes('reconnecting') && f.includes('DEMO'), 'recovered');
    expect(f).toContain('updated');
  });

  it('without a report yet it says it cannot read Redis and retries', async () => {
    const source = new MemorySource(busyReport());
    source.down = 'connection refused';
    const t = renderTui({ source, refreshMs: 20 });
    await t.until((f) => f.includes('cannot read Redis: connection refused'), 'error');
    source.down = null;
    await t.until((f) => f.includes('Funnel'), 'recovered');
  });
});
