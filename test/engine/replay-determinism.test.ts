/**
 * A replay is deterministic (docs/replay.md, "Determinism"): the same data and seed give the same
 * run report and the same fills and signals, field for field; the seed shows in the ids (and
 * only there); other data gives another report (so the comparison can fail); and a stage that is
 * not running makes the replay wait and say so instead of going on without it.
 * The data: the shipped XRPUSDT candles of 2021-11-16 06:00–12:00 UTC, around the drop.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.js';
import { fieldsFromArray } from '../../src/contract/messages.js';
import { runDaemon } from '../../src/engine/daemon.js';
import { createReplaySource } from '../../src/engine/market/replay.js';
import { runReplay } from '../../src/engine/replay-daemon.js';
import { ReplayLockStep } from '../../src/engine/replay-lockstep.js';
import type { ReplayReport } from '../../src/engine/replay-report.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

afterAll(closeAll);

const FILE = 'data/XRPUSDT-perp-5m-2021-11.ohlcv.json';

function replayConfig(env: Record<string, string>): Config {
  return loadConfig({
    env: {
      REDIS_URL: testRedisUrl(),
      QT_PREFIX: uniquePrefix('det'),
      QT_MARKET: 'replay',
      QT_REPLAY_FILE: FILE,
      QT_REPLAY_SPEED: '10000000',
      QT_REPLAY_FROM: '2021-11-16T06:00Z',
      QT_REPLAY_TO: '2021-11-16T12:00Z',
      QT_HEARTBEAT_MS: '200',
      QT_BLOCK_MS: '200',
      QT_LOG_LEVEL: 'silent',
      ...env,
    },
  });
}

interface Run {
  report: ReplayReport & { finished: boolean };
  /** The run's reproducible figures: the report without its wall-clock fields. */
  figures: Omit<ReplayReport, 'generated_at' | 'wall_ms'>;
  fills: Record<string, string>[];
  signals: Record<string, string>[];
  printed: string;
}

async function replay(env: Record<string, string> = {}): Promise<Run> {
  const config = replayConfig(env);
  const r = testRedis();
  const printed: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => (printed.push(String(s)), true)) as typeof process.stdout.write;
  let code: number;
  try {
    code = await runReplay(config, { quietSummary: true }, runDaemon);
  } finally {
    process.stdout.write = write;
  }
  expect(code).toBe(0);
  const report = JSON.parse((await r.get(config.names.replayReport())) ?? 'null') as Run['report'];
  const { generated_at: _g, wall_ms: _w, finished: _f, ...figures } = report;
  const read = async (s: 'execution.result' | 'ai.signal_generated') =>
    ((await r.xrange(config.names.stream(s), '-', '+')) as [string, string[]][]).map(([, f]) => fieldsFromArray(f) as Record<string, string>);
  return { report, figures, fills: await read('execution.result'), signals: await read('ai.signal_generated'), printed: printed.join('') };
}

describe('a replay is deterministic', () => {
  it('gives the same report, fills and signals twice; the seed only changes ids; other data changes the report', async () => {
    const a = await replay({ QT_REPLAY_SEED: '7' });
    const b = await replay({ QT_REPLAY_SEED: '7' });
    expect(a.report.finished).toBe(true);
    expect(a.report.signals, 'signals').toBeGreaterThan(0);
    expect(a.report.trades, 'trades').toBeGreaterThan(0);
    expect(a.report.seed).toBe(7);
    expect(a.printed).toMatch(/^replay report: XRPUSDT .* · seed 7 · /);

    // Same data, same seed: the same report (trades, win rate, P&L, fees, drawdown, hit rates,
    // every exit) and the same messages, field for field (ids, prices, replayed times).
    expect(b.figures).toEqual(a.figures);
    expect(b.fills).toEqual(a.fills);
    expect(b.signals).toEqual(a.signals);
    // Every fill is stamped with the replayed time of the point that caused it, at that point's price.
    for (const f of a.fills) expect(Number(f.ts)).toBeLessThan(Date.parse('2021-11-16T12:00Z'));

    // Another seed: other ids, the same trading (nothing random decides anything).
    const c = await replay({ QT_REPLAY_SEED: '8' });
    expect(c.report.seed).toBe(8);
    expect(c.signals.map((s) => s.signal_id)).not.toEqual(a.signals.map((s) => s.signal_id));
    expect(c.fills.map((f) => f.plan_id)).not.toEqual(a.fills.map((f) => f.plan_id));
    expect({ ...c.figures, seed: 7 }).toEqual(a.figures);

    // Other data (the next day's same hours): another report.
    const d = await replay({ QT_REPLAY_SEED: '7', QT_REPLAY_FROM: '2021-11-17T06:00Z', QT_REPLAY_TO: '2021-11-17T12:00Z' });
    expect(d.report.finished).toBe(true);
    const { from: _df, to: _dt, exits: _de, ...dRest } = d.figures;
    const { from: _af, to: _at, exits: _ae, ...aRest } = a.figures;
    expect(dRest).not.toEqual(aRest);
  });

  it('waits, and says so, while a stage of the pipeline is not running, rather than playing on', async () => {
    const config = replayConfig({});
    const r = testRedis();
    const source = createReplaySource({ ...config.replay, tickMs: config.market_.tickMs, lockStep: true });
    const lock = new ReplayLockStep({ source, seed: 1, speed: config.replay.speed, sayAfterMs: 300 });
    // Everything but the executor: approvals pile up in apply.approved, never settled.
    const stages = 'market,ai_engine,autonomous_trader,intent_bridge,apply_layer,harvest_brain,risk_guard,reconciler,rl_agent,verify_ensemble';
    let detail = '';
    let stepsWhenSaid = -1;
    const said = (async () => {
      for (;;) {
        detail = (await r.hget(config.names.service('market'), 'detail')) ?? '';
        if (/replay waits at .*apply\.approved: group intent_executor/.test(detail)) {
          stepsWhenSaid = lock.steps;
          return;
        }
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    // Stops once it has said so and has not moved for a few polls of the check.
    const held = said.then(async () => {
      const at = source.progress().pointsDone;
      await new Promise((res) => setTimeout(res, 500));
      return at;
    });
    const code = await runDaemon(config, { stages, quietSummary: true, replay: lock, until: held, forMs: 60_000 });
    expect(code).toBe(0);
    expect(detail).toMatch(/replay waits at 2021-11-16T\d\d:\d\d:\d\d\.\d{3}Z for \d+ s: apply\.approved: group intent_executor has 0 pending and entries not yet delivered/);
    expect(source.progress().pointsDone, 'no point played while waiting').toBe(await held);
    expect(lock.steps).toBe(stepsWhenSaid);
    expect(source.progress().finished).toBe(false);
  });
});
