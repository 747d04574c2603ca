/**
 * Seeded randomness for randomized tests: every run draws from a seed, the seed is printed
 * when the test fails, and setting the named variable to it replays the same draws.
 */
import { onTestFailed } from 'vitest';
import { mulberry32 } from '../../src/engine/market/gbm.js';

export interface Seeded {
  seed: number;
  /** uniform in [0, 1), from the seed */
  random: () => number;
  /** uniform in [lo, hi), from the seed */
  rand: (lo: number, hi: number) => number;
}

/** The seed a randomized test uses: `process.env[envVar]` when set, else a fresh one. */
export function pickSeed(envVar: string): number {
  const v = process.env[envVar];
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new Error(`${envVar}: expected an integer seed, got ${JSON.stringify(v)}`);
    return n;
  }
  return Date.now() % 2 ** 31;
}

/**
 * Call inside the test body (it registers an onTestFailed hook): on failure prints
 * `<what>: seed N (replay: ENVVAR=N npx vitest run <file>)`.
 */
export function seeded(what: string, envVar: string, seed = pickSeed(envVar)): Seeded {
  onTestFailed(({ task }) => {
    console.error(`${what}: seed ${seed} (replay: ${envVar}=${seed} npx vitest run ${task.file?.name ?? ''})`);
  });
  const random = mulberry32(seed);
  return { seed, random, rand: (lo, hi) => lo + random() * (hi - lo) };
}
