/**
 * The console's refresh period stretches on a deployment where one load takes long, so a
 * console never keeps Redis busy more than a fifth of the time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { LOAD_SHARE, nextDelay } from '../../src/tui/use-snapshot.js';
import type { Report } from '../../src/diagnose/read-model.js';
import { liveReport } from './fixtures.js';
import { MemorySource } from './memory-source.js';
import { renderTui } from './render.js';
import { waitFor } from '../helpers/redis.js';

afterEach(() => cleanup());

/** A source whose every load takes `ms` (a large keyspace). */
class SlowSource extends MemorySource {
  at: number[] = [];
  constructor(report: Report, readonly ms: number) {
    super(report);
  }
  override async load(): Promise<Report> {
    this.at.push(Date.now());
    await new Promise((r) => setTimeout(r, this.ms));
    return super.load();
  }
}

describe('console refresh', () => {
  it('keeps the period when loads are quick and stretches it to LOAD_SHARE x a slow load', () => {
    expect(nextDelay(1000, 30)).toBe(1000);
    expect(nextDelay(1000, 300)).toBe(300 * LOAD_SHARE);
  });

  it('waits five times a 120 ms load between loads, not the 100 ms period', async () => {
    const source = new SlowSource(liveReport(), 120);
    renderTui({ source, refreshMs: 100 });
    await waitFor(() => source.at.length >= 3, 20_000, 'three loads');
    const gaps = source.at.slice(1).map((t, i) => t - source.at[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(2);
    // each gap: the load (>= 120 ms) plus the wait (>= 5 x its duration)
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(120 + 5 * 120 - 20);
  });
});
