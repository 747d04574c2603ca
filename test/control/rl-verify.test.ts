import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Names } from '../../src/contract/names.js';
import type { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import { nextTrust, rlAgent } from '../../src/engine/stages/rl-agent.js';
import { idAfter, verifyEnsemble, verifySignals } from '../../src/engine/stages/verify-ensemble.js';
import { closeAll, metricSums, testNames, testRedis, waitFor } from '../helpers/redis.js';
import { entries, runnerFor, stopAll, writePolicy } from '../exits/harness.js';

const r = testRedis();
let running: StageRunner[] = [];
afterEach(async () => {
  await stopAll(running);
  running = [];
});
afterAll(closeAll);

const models = (o: Record<string, [string, number]>) => JSON.stringify(Object.fromEntries(Object.entries(o).map(([k, [vote, score]]) => [k, { vote, score }])));
async function signal(names: Names, id: string, m: string, confidence = '0.7', ts = Date.now()) {
  await r.xadd(names.stream('ai.signal_generated'), '*', 'signal_id', id, 'ts', String(ts), 'symbol', 'BTCUSDT', 'side', 'BUY', 'confidence', confidence, 'price', '50000', 'models', m, 'model_version', 'v1');
}
async function result(names: Names, f: Record<string, string>) {
  await r.xadd(names.stream('apply.result'), '*', ...Object.entries({ plan_id: 'p', ts: String(Date.now()), symbol: 'BTCUSDT', executed: 'true', ...f }).flat());
}

describe('rl_agent (shadow)', () => {
  it('raises trust in the models that voted with a winning position, lowers it for those against, and proposes it unapplied', async () => {
    const names = testNames();
    await writePolicy(r, names, { rl_influence: false });
    const run = runnerFor(rlAgent(), names, r);
    await run.start();
    running.push(run);
    await signal(names, 'sig-1', models({ momentum: ['BUY', 0.8], trend: ['SELL', 0.6], breakout: ['HOLD', 0.1] }));
    await r.xadd(names.stream('trade.intent'), '*', 'intent_id', 'int-1', 'signal_id', 'sig-1', 'ts', '1', 'intent_type', 'AUTONOMOUS_ENTRY', 'symbol', 'BTCUSDT', 'action', 'BUY', 'source', 't', 'qty', '0.01');
    await result(names, { intent_id: 'int-1', action: 'OPEN', side: 'BUY', filled_qty: '0.01' });
    await waitFor(async () => (await r.hget(names.rlState(), 'open:BTCUSDT')) !== null, 5000, 'entry remembered');
    await result(names, { intent_id: 'int-2', action: 'CLOSE', side: 'SELL', filled_qty: '0.01', realized_pnl: '25' });
    const props = await waitFor(async () => {
      const l = await entries(r, names, 'rl.proposal');
      return l.length === 2 ? l : null;
    }, 5000, 'two proposals');
    const st = await r.hgetall(names.rlState());
    expect(Number(st['trust:momentum'])).toBeGreaterThan(1);
    expect(Number(st['trust:trend'])).toBeLessThan(1);
    expect(st['trust:breakout']).toBeUndefined();
    expect(props.map((p) => [p.model, p.applied])).toEqual([['momentum', 'false'], ['trend', 'false']]);
  });

  it('keeps trust within its bounds', () => {
    let t = 1;
    for (let i = 0; i < 200; i++) t = nextTrust(t, 1000, 1);
    expect(t).toBe(1.5);
    for (let i = 0; i < 200; i++) t = nextTrust(t, -1000, 1);
    expect(t).toBe(0.1);
  });
});

describe('verify_ensemble', () => {
  const row = (m: string, confidence = '0.7', ts = 1000) => ({ ts: String(ts), confidence, models: m });
  it('passes a healthy ensemble', () => {
    const rows = Array.from({ length: 30 }, (_, i) => row(models({ a: [i % 2 ? 'BUY' : 'SELL', 0.5 + i / 100], b: ['HOLD', i / 100] })));
    expect(verifySignals(rows, 1000)).toMatchObject({ ok: true, models: ['a', 'b'] });
  });
  it('flags a model stuck on one answer, a model not producing, and confidences outside 0..1', () => {
    const rows = Array.from({ length: 30 }, (_, i) => row(models(i < 5 ? { a: ['BUY', 0.7], b: ['SELL', 0.4] } : { a: ['BUY', 0.7] }), i === 0 ? '1.7' : '0.7'));
    const r0 = verifySignals(rows, 1000);
    expect(r0.ok).toBe(false);
    expect(r0.reasons).toEqual(expect.arrayContaining([
      'a: stuck on one answer (BUY 0.7) for 30 signals',
      'b: missing from 25 of 30 signals (not producing)',
      '1 of 30 signals have a confidence outside 0..1',
    ]));
  });
  it('judges the fallback model only on the signals the fallback decided', () => {
    const decided = (i: number) => row(JSON.stringify({ a: { vote: 'BUY', score: 0.5 + i / 100 }, tick_momentum: { vote: 'SELL', score: i / 100 }, fallback: true, fallback_reason: 'models disagree' }));
    const plain = (i: number) => row(models({ a: [i % 2 ? 'BUY' : 'SELL', 0.5 + i / 100] }));
    // 2 of 21 signals decided by the fallback, which voted on both: healthy
    const rows = Array.from({ length: 21 }, (_, i) => (i < 2 ? decided(i) : plain(i)));
    expect(verifySignals(rows, 1000)).toMatchObject({ ok: true, reasons: [] });
    // the fallback decided 4 signals but its model voted on 1 of them: not producing
    const silent = (i: number) => row(JSON.stringify({ a: { vote: 'BUY', score: 0.5 + i / 100 }, fallback: true, fallback_reason: 'models disagree' }));
    const bad = Array.from({ length: 21 }, (_, i) => (i < 1 ? decided(i) : i < 4 ? silent(i) : plain(i)));
    expect(verifySignals(bad, 1000).reasons).toContain('tick_momentum: missing from 3 of 4 fallback-decided signals (not producing)');
  });

  it('does not call models stuck while the ai_engine says they are warming up', () => {
    const warm = JSON.stringify({ a: { vote: 'HOLD', score: 0, why: 'not enough candles' }, fallback: true, fallback_reason: 'warming up: 6 candles < 21' });
    const rows = Array.from({ length: 30 }, () => row(warm));
    const r = verifySignals(rows, 1000);
    expect(r.ok).toBe(true);
    expect(r.warming).toBe(30);
    // past warm-up the same answers are judged
    const judged = Array.from({ length: 30 }, () => row(JSON.stringify({ a: { vote: 'HOLD', score: 0 }, fallback: true, fallback_reason: 'models disagree' })));
    expect(verifySignals(judged, 1000).reasons).toContain('a: stuck on one answer (HOLD 0) for 30 signals');
  });
  it('counts as input only the signals new since its last tick, not the window it re-reads', async () => {
    const names = testNames();
    for (let i = 0; i < 25; i++) await signal(names, `s${i}`, models({ a: [i % 2 ? 'BUY' : 'SELL', 0.5 + i / 100] }));
    const run = runnerFor(verifyEnsemble({ everyMs: 50, graceMs: 0 }), names, r);
    await run.start();
    running.push(run);
    // Many ticks pass over the same 25 signals: in stays 25.
    await waitFor(async () => (await metricSums(r, names, 'verify_ensemble')).in === 25 || undefined, 5000, 'in = 25');
    const hb0 = Number(await r.hget(names.service('verify_ensemble'), 'beat_at'));
    await waitFor(async () => Number(await r.hget(names.service('verify_ensemble'), 'beat_at')) > hb0 + 500 || undefined, 5000, 'more ticks');
    expect((await metricSums(r, names, 'verify_ensemble')).in).toBe(25);
    for (let i = 25; i < 32; i++) await signal(names, `s${i}`, models({ a: [i % 2 ? 'BUY' : 'SELL', 0.5 + i / 100] }));
    await waitFor(async () => (await metricSums(r, names, 'verify_ensemble')).in === 32 || undefined, 5000, 'in = 32');
    const hb1 = Number(await r.hget(names.service('verify_ensemble'), 'beat_at'));
    await waitFor(async () => Number(await r.hget(names.service('verify_ensemble'), 'beat_at')) > hb1 + 500 || undefined, 5000, 'more ticks');
    expect((await metricSums(r, names, 'verify_ensemble')).in).toBe(32);
  });

  it('compares stream ids as numbers', () => {
    expect(idAfter('10-0', '9-5')).toBe(true);
    expect(idAfter('5-10', '5-9')).toBe(true);
    expect(idAfter('5-9', '5-9')).toBe(false);
  });

  it('reports the result in its heartbeat: degraded with reasons when no signals arrive', async () => {
    const names = testNames();
    const run = runnerFor(verifyEnsemble({ everyMs: 50, graceMs: 0 }), names, r);
    await run.start();
    running.push(run);
    const hb = await waitFor(async () => {
      const h = await r.hgetall(names.service('verify_ensemble'));
      return h.status === 'degraded' ? h : null;
    }, 5000, 'degraded heartbeat');
    expect(hb.detail).toContain('no signals on ai.signal_generated');
    for (let i = 0; i < 25; i++) await signal(names, `s${i}`, models({ a: [i % 2 ? 'BUY' : 'SELL', 0.5 + i / 100] }));
    await waitFor(async () => (await r.hget(names.service('verify_ensemble'), 'status')) === 'running', 5000, 'running heartbeat');
  });
});
