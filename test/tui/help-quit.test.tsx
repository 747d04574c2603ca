/** The help says what `q` does in each console: attached (`qt tui`) or beside the engine (`qt up --console`). */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { busyReport } from './fixtures.js';
import { renderTui } from './render.js';

afterEach(() => cleanup());

describe('help: what q does', () => {
  it('attached console (qt tui): q quits and the engine keeps running', async () => {
    const t = renderTui({ state: busyReport() });
    await t.ready();
    const f = await t.press('?', 'Keys (esc or ? to close)');
    const q = f.split('\n').find((l) => l.includes('q, ctrl-c'))!;
    expect(q).toContain('the engine keeps running');
    expect(q).not.toContain('stop the engine');
    expect(f).not.toContain('stop engine');
  });

  it('qt up --console: q stops the engine, in the help and the footer', async () => {
    let quit = 0;
    const t = renderTui({ state: busyReport(), quitStopsEngine: true, onQuit: () => quit++ });
    const first = await t.ready();
    expect(first).toContain('q stop engine');
    const f = await t.press('?', 'Keys (esc or ? to close)');
    const q = f.split('\n').find((l) => l.includes('q, ctrl-c'))!;
    expect(q).toContain('quit and stop the engine');
    expect(q).not.toContain('keeps running');
    await t.press('q', 'Funnel'); // q closes the help first
    t.stdin.write('q');
    await t.until(() => quit === 1, 'quit');
  });
});
