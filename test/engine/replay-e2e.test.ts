/**
 * Real prices through the whole pipeline: the shipped XRPUSDT candles of 2021-11-16 04:00–12:00
 * UTC (with the drop from ~1.13 to ~1.04 between 10:00 and 10:30) replayed on the paper
 * exchange by `qt up --market replay`'s code path, every stage running. Signals, entries and
 * exits happen on prices nobody here made up; every stage accounts for its input; the engine's
 * positions equal the paper exchange's at the end; the run report is stored.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { fieldsFromArray } from '../../src/contract/messages.js';
import { STAGE_INPUT } from '../../src/contract/names.js';
import { runDaemon } from '../../src/engine/daemon.js';
import { runReplay } from '../../src/engine/replay-daemon.js';
import type { ReplayReport } from '../../src/engine/replay-report.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { Renderer } from '../../src/diagnose/render.js';
import { buildReport } from '../../src/diagnose/report.js';
import { closeAll, metricSums, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

afterAll(closeAll);

const DROP_FROM = Date.parse('2021-11-16T10:00Z');
const DROP_TO = Date.parse('2021-11-16T11:30Z');

describe('replay of real candles through the whole pipeline', () => {
  it('trades the 2021-11-16 drop on the paper exchange, accounts for every input, and reports the run', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('replay');
    const config = loadConfig({
      env: {
        REDIS_URL: testRedisUrl(),
        QT_PREFIX: prefix,
        QT_MARKET: 'replay',
        QT_REPLAY_FILE: 'data/XRPUSDT-perp-5m-2021-11.ohlcv.json',
        QT_REPLAY_SPEED: '100000',
        QT_REPLAY_FROM: '2021-11-16T04:00Z',
        QT_REPLAY_TO: '2021-11-16T12:00Z',
        QT_MARKET_TICK_MS: '50',
        QT_HEARTBEAT_MS: '500',
        QT_BLOCK_MS: '200',
        QT_LOG_LEVEL: 'silent',
      },
    });
    const names = config.names;
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await runReplay(config, { quietSummary: true }, runDaemon);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);

    // The report is printed and stored.
    expect(out.join('')).toMatch(/^replay report: XRPUSDT 2021-11-16T04:00:00\.000Z/);
    const report = JSON.parse((await r.get(names.replayReport())) ?? 'null') as ReplayReport & { finished: boolean };
    expect(report.finished).toBe(true);
    expect(report.signals).toBeGreaterThan(0);

    // Signals became entries and exits; at least one exit during the drop.
    const fills = ((await r.xrange(names.stream('execution.result'), '-', '+')) as [string, string[]][]).map(([, f]) => fieldsFromArray(f));
    expect(fills.filter((f) => f.reduceOnly !== 'true').length, 'entries').toBeGreaterThan(0);
    expect(report.trades, 'exits').toBeGreaterThan(0);
    expect(report.trades).toBe(fills.filter((f) => f.reduceOnly === 'true').length);
    const inDrop = report.exits.filter((e) => e.market_ts !== null && e.market_ts >= DROP_FROM && e.market_ts < DROP_TO);
    expect(inDrop.length, `an exit between 10:00 and 11:30 (exits at ${report.exits.map((e) => new Date(e.market_ts ?? 0).toISOString()).join(', ')})`).toBeGreaterThan(0);
    // Its prices are the replayed ones: within the window's real range.
    for (const f of fills) expect(Number(f.price)).toBeGreaterThan(1.0);
    for (const f of fills) expect(Number(f.price)).toBeLessThan(1.2);

    // Accounting: every consuming stage, in = out + rejected + dead, nothing pending.
    for (const stage of ['autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor']) {
      const m = await metricSums(r, names, stage);
      expect(m.in ?? 0, `${stage} in`).toBeGreaterThan(0);
      expect((m.out ?? 0) + (m.rejected ?? 0) + (m.dead ?? 0), `${stage} in = out + rejected + dead`).toBe(m.in);
      const input = STAGE_INPUT[stage as keyof typeof STAGE_INPUT]!;
      const pend = (await r.xpending(names.stream(input), stage)) as [number];
      expect(Number(pend[0]), `${stage} pending`).toBe(0);
    }

    // Engine positions = the paper exchange's.
    const eng = await r.hgetall(names.position('XRPUSDT'));
    const paper = await r.hgetall(names.paperPosition('XRPUSDT'));
    const engQty = Number(eng.qty ?? 0) * (eng.side === 'SHORT' ? -1 : 1);
    const paperQty = Number(paper.qty ?? paper.position_amt ?? 0) * (paper.side === 'SHORT' ? -1 : 1);
    expect(engQty).toBeCloseTo(paperQty, 9);
    expect(report.open_positions).toBe(Math.abs(engQty) > 0 ? 1 : 0);

    // qt diagnose pipeline shows the run report.
    const diag = buildReport(await collectSnapshot(r, names, { windowMs: 600_000 }));
    expect(diag.replay).toMatchObject({ symbols: ['XRPUSDT'], trades: report.trades, signals: report.signals, finished: true });
    expect(new Renderer(false).pipeline(diag)).toMatch(/replay XRPUSDT 2021-11-16T04:00:00\.000Z → .* ×\d+ seed 1\n {2}signals \d+ · trades \d+ · win rate/);
  });
});
