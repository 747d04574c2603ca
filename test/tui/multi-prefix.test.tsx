/** The console over several pipelines (`qt tui --prefix '{a},{b}'`): p / P switch, each shows its own data. */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { MultiPrefixApp } from '../../src/tui/MultiPrefixApp.js';
import { busyReport, emptyReport } from './fixtures.js';
import { MemorySource } from './memory-source.js';
import { renderTui } from './render.js';

afterEach(() => cleanup());

describe('console: several prefixes', () => {
  it('shows the first pipeline with its position, p shows the next, P the previous; each reads its own source', async () => {
    const a = new MemorySource({ ...busyReport(), prefix: '{shard-a}' });
    const b = new MemorySource({ ...emptyReport(), prefix: '{shard-b}' });
    const t = renderTui({ source: a }, (p) => (
      <MultiPrefixApp {...p} pipelines={[{ prefix: '{shard-a}', source: a }, { prefix: '{shard-b}', source: b }]} />
    ));
    await t.ready();
    expect(t.frame()).toContain('{shard-a} (1/2, p/P next/prev)');
    expect(t.frame()).toContain('intent_bridge');
    expect(b.loads).toBe(0);
    const second = await t.press('p', '{shard-b} (2/2');
    expect(second).not.toContain('{shard-a}');
    await t.until(() => b.loads > 0, 'the second source read');
    await t.press('P', '{shard-a} (1/2');
    await t.press('P', '{shard-b} (2/2');
  });

  it('with one prefix nothing changes: no position, p does nothing', async () => {
    const a = new MemorySource(busyReport());
    const t = renderTui({ source: a }, (p) => <MultiPrefixApp {...p} pipelines={[{ prefix: 'qt', source: a }]} />);
    await t.ready();
    expect(t.frame()).not.toContain('p/P next/prev');
  });
});
