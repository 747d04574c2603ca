import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { busyReport } from './fixtures.js';
import { KEYS, renderTui } from './render.js';

afterEach(() => cleanup());

const active = (f: string) => /(Pipeline|Streams|Rejections|Positions|Services|Findings)/.exec(f.split('\n').find((l) => l.includes(' 1 Pipeline'))!)?.[0];

describe('console navigation keys', () => {
  it('1-6 switch views', async () => {
    const t = renderTui({ state: busyReport() });
    await t.ready();
    expect(await t.press('2', 'stream / group')).toContain('STARVING');
    expect(await t.press('3', 'Top reasons per stage')).toContain('invalid_quantity');
    expect(await t.press('4', 'AT LIMIT')).toContain('BTCUSDT');
    expect(await t.press('5', 'last error')).toContain('reconciler');
    expect(await t.press('6', 'sev  code')).toContain('GROUP_STARVING');
    expect(await t.press('1', 'Funnel')).toContain('intent_bridge');
  });

  it('tab and shift-tab cycle through the views', async () => {
    const t = renderTui({ state: busyReport() });
    await t.ready();
    await t.press(KEYS.tab, 'stream / group');
    await t.press(KEYS.tab, 'Top reasons per stage');
    await t.press(KEYS.shiftTab, 'stream / group');
    await t.press(KEYS.shiftTab, 'Funnel');
    expect(await t.press(KEYS.shiftTab, 'sev  code')).toContain('GROUP_STARVING');
  });

  it('j/k and arrows move the cursor; enter opens details; esc backs out', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'rejections' });
    await t.ready();
    await t.press('j');
    let f = await t.press(KEYS.enter, 'payload:');
    expect(f).toContain('intent_bridge rejected i-70: symbol_not_allowed');
    expect(f).toContain('"symbol": "PEPEUSDT"');
    await t.press(KEYS.esc, 'Top reasons per stage');
    await t.press('k');
    f = await t.press(KEYS.enter, 'payload:');
    expect(f).toContain('rejected i-77: invalid_quantity');
    expect(f).toContain('"source": "legacy_trader"');
    await t.press(KEYS.esc, 'Top reasons');
    await t.press(KEYS.down);
    await t.press(KEYS.down);
    f = await t.press(KEYS.enter, 'payload:');
    expect(f).toContain('rejected s-12: cooldown');
    await t.press(KEYS.esc, 'Top reasons');
    await t.press(KEYS.up);
    f = await t.press(KEYS.enter, 'payload:');
    expect(f).toContain('rejected i-70');
  });

  it('enter on a position shows the engine and exchange side by side with the drift', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'positions' });
    await t.ready();
    const f = await t.press(KEYS.enter, 'esc to go back');
    expect(f).toMatch(/engine:\s+qty 0\.01\s+entry 60000/);
    expect(f).toMatch(/exchange: LONG qty 0\.02/);
    expect(f).toContain('DRIFT: qty 0.01 vs exchange 0.02');
    // the position's history: its latest fills, newest first
    expect(f).toContain('latest fills (newest first):');
    expect(f).toMatch(/SELL\s+0\.003 @ 61200\s+reduce-only\s+FILLED\s+pnl \+3\.6/);
    expect(f.indexOf('SELL')).toBeLessThan(f.indexOf('BUY '));
  });

  it('/ filters the view: type, enter applies, esc clears', async () => {
    const t = renderTui({ state: busyReport(), initialView: 'services' });
    await t.ready();
    await t.press('/', 'filter:');
    await t.type('recon');
    let f = await t.press(KEYS.enter, 'filter "recon"');
    expect(f).toContain('reconciler');
    expect(f).not.toContain('ai_engine ');
    expect(f).not.toContain('harvest_brain');
    f = await t.press(KEYS.esc, 'harvest_brain');
    expect(f).toContain('ai_engine');
    // esc while typing clears too
    await t.press('/', 'filter:');
    await t.type('zzz');
    f = await t.press(KEYS.esc, 'harvest_brain');
    expect(f).not.toContain('zzz');
  });

  it('? shows the help, esc closes it; q quits', async () => {
    let quit = 0;
    const t = renderTui({ state: busyReport(), onQuit: () => quit++ });
    await t.ready();
    const f = await t.press('?', 'Keys (esc or ? to close)');
    expect(f).toContain('kill switch on/off');
    await t.press(KEYS.esc, 'Funnel');
    expect(quit).toBe(0);
    t.stdin.write('q');
    await t.until(() => quit === 1, 'quit');
  });

  it('ctrl-c quits even while typing a filter', async () => {
    let quit = 0;
    const t = renderTui({ state: busyReport(), onQuit: () => quit++ });
    await t.ready();
    await t.press('/', 'filter:');
    await t.press('q');
    expect(quit).toBe(0);
    t.stdin.write(KEYS.ctrlC);
    await t.until(() => quit === 1, 'quit');
  });

  it('switching views shows the active tab', async () => {
    const t = renderTui({ state: busyReport() });
    await t.ready();
    expect(active(t.frame())).toBe('Pipeline');
  });
});
