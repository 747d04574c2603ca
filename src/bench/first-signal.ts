/**
 * Time to the first tradable signal with the default clock (market tick 1 s, signals every
 * 5 s): the market and ai_engine stages in-process on a fresh prefix, from start until
 * `ai.signal_generated` holds a signal at or over the minimum confidence. A speed figure,
 * so it is measured here and not asserted in the test suite (test/ai-engine.test.ts only
 * checks that such a signal comes).
 */
import type { Redis } from 'ioredis';
import { loadConfig } from '../config/config.js';
import { fieldsFromArray } from '../contract/messages.js';
import { silentLogger } from '../log.js';
import { Engine } from '../engine/engine.js';
import { createAiEngineStage } from '../engine/stages/ai-engine.js';
import { createMarketStage } from '../engine/stages/market.js';

/**
 * Seconds from engine start to the first signal with confidence ≥ QT_MIN_CONFIDENCE.
 * @throws Error when none comes within `deadlineMs` (ms).
 */
export async function firstSignalSeconds(r: Redis, redisUrl: string, prefix: string, deadlineMs = 120_000): Promise<number> {
  const config = loadConfig({ env: { REDIS_URL: redisUrl, QT_PREFIX: prefix, QT_LOG_LEVEL: 'silent' } });
  const engine = new Engine({ config, writer: r, log: silentLogger, mode: 'PAPER' });
  const t0 = process.hrtime.bigint();
  await engine.start([createMarketStage({ config }), createAiEngineStage({ config })]);
  try {
    const until = Date.now() + deadlineMs;
    while (Date.now() < until) {
      const e = (await r.xrange(config.names.stream('ai.signal_generated'), '-', '+')) as [string, string[]][];
      if (e.some(([, f]) => Number(fieldsFromArray(f).confidence) >= config.trading.minConfidence)) return Number(process.hrtime.bigint() - t0) / 1e9;
      await new Promise((z) => setTimeout(z, 50));
    }
    throw new Error(`no signal at min confidence within ${deadlineMs} ms`);
  } finally {
    await engine.stop();
  }
}
