/**
 * renderTui: renders the console (or any element) with full defaults, and a key helper
 * that writes to stdin and waits until the frame changes (ink-testing-library updates
 * lastFrame after a macrotask and may merge keys written back to back).
 */
import type { ReactElement } from 'react';
import { render } from 'ink-testing-library';
import { App, type AppProps } from '../../src/tui/App.js';
import type { Report } from '../../src/diagnose/read-model.js';
import { MemorySource } from './memory-source.js';
import type { DataSource } from '../../src/tui/data-source.js';

export const KEYS = { tab: '\t', shiftTab: '\x1b[Z', up: '\x1b[A', down: '\x1b[B', enter: '\r', esc: '\x1b', backspace: '\x7f', ctrlC: '\x03' };

const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;
export const strip = (s: string) => s.replace(ANSI, '');

export async function waitFrame(get: () => string, cond: (f: string) => boolean, what: string, ms = 3000): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const f = get();
    if (cond(f)) return f;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last frame:\n${f}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface TuiOptions<S extends DataSource> extends Partial<Omit<AppProps, 'source'>> {
  state?: Report;
  source?: S;
}

export function renderTui<S extends DataSource = MemorySource>(opts: TuiOptions<S> = {}, ui?: (p: AppProps) => ReactElement) {
  const source = (opts.source ?? new MemorySource(opts.state!)) as S;
  const props: AppProps = { source, prefix: 'qt', refreshMs: 60_000, size: { columns: 100, rows: 30 }, ...opts };
  const inst = render(ui ? ui(props) : <App {...props} />);
  const frame = () => strip(inst.lastFrame() ?? '');
  return {
    ...inst,
    source,
    frame,
    /** waits until the frame satisfies `cond` */
    until: (cond: (f: string) => boolean | RegExp, what = 'frame') => waitFrame(frame, (f) => { const c = cond(f); return c instanceof RegExp ? c.test(f) : c; }, what),
    /** waits for the first report to show */
    ready: () => waitFrame(frame, (f) => !f.includes('connecting to Redis'), 'first report'),
    /** writes one key and waits for the frame to change (or for `expect` to appear) */
    async press(key: string, expect?: string | RegExp): Promise<string> {
      const before = frame();
      await new Promise((r) => setTimeout(r, 0));
      inst.stdin.write(key);
      return waitFrame(
        frame,
        (f) => (expect === undefined ? f !== before : typeof expect === 'string' ? f.includes(expect) : expect.test(f)),
        `frame after key ${JSON.stringify(key)}${expect ? ` showing ${expect}` : ''}`,
      );
    },
    /** writes text one key at a time */
    async type(text: string): Promise<void> {
      for (const ch of text) await this.press(ch);
    },
  };
}

export function maxLineWidth(frame: string): number {
  return Math.max(0, ...frame.split('\n').map((l) => [...l].length));
}
