import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTrace, trace } from '../../src/control/trace.js';
import type { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import { closeAll, testNames, testRedis, waitFor } from '../helpers/redis.js';
import { entries, openEntry, setPrice, startPipeline, stopAll, writePolicy } from '../exits/harness.js';

const r = testRedis();
const names = testNames();
let running: StageRunner[] = [];
beforeAll(async () => {
  await writePolicy(r, names, { allowlist: ['BTCUSDT'] });
  await setPrice(r, names, 'BTCUSDT', 50000);
  await setPrice(r, names, 'SOLUSDT', 150);
  running = (await startPipeline(r, names)).runners;
});
afterAll(async () => {
  await stopAll(running);
  await closeAll();
});

describe('qt trace', () => {
  it('explains an executed order from its signal, intent, plan or client order id', async () => {
    await r.xadd(names.stream('ai.signal_generated'), '*', 'signal_id', 'sig-trace-1', 'ts', String(Date.now()), 'symbol', 'BTCUSDT', 'side', 'BUY', 'confidence', '0.8', 'price', '50000', 'models', '{}', 'model_version', 'v1');
    await r.xadd(names.stream('trade.intent'), '*', 'intent_id', 'int-trace-1', 'signal_id', 'sig-trace-1', 'ts', String(Date.now()), 'intent_type', 'AUTONOMOUS_ENTRY',
      'symbol', 'BTCUSDT', 'action', 'BUY', 'source', 'autonomous_trader', 'qty', '0.01', 'leverage', '5');
    const res = await waitFor(async () => (await entries(r, names, 'apply.result')).find((x) => x.intent_id === 'int-trace-1'), 10000, 'executed');
    for (const id of ['sig-trace-1', 'int-trace-1', res.plan_id, res.client_order_id]) {
      const t = await trace(r, names, id);
      expect(t.outcome, id).toBe('executed');
      expect(t.steps.map((s) => s.found)).toEqual([true, true, true, true, true, true]);
    }
    const text = formatTrace(await trace(r, names, 'int-trace-1'));
    expect(text).toContain('→ executed: filled 0.01 BTCUSDT');
  });

  it('explains a rejected intent with the stage and reason code', async () => {
    const id = await openEntry(r, names, 'SOLUSDT', 'BUY', 1, 1, 150);
    await waitFor(async () => (await entries(r, names, 'stage.rejected')).some((e) => e.ref_id === id || e.payload.includes(id)), 10000, 'rejection');
    const t = await trace(r, names, id);
    expect(t.outcome).toBe('rejected');
    expect(t.stopped_at).toMatchObject({ reason: 'symbol_not_allowed' });
    expect(['intent_bridge', 'apply_layer']).toContain(t.stopped_at!.stage);
    expect(t.steps.find((s) => s.step === 'fill')!.found).toBe(false);
    expect(t.summary).toMatch(/^stopped at (intent_bridge|apply_layer): symbol_not_allowed/);
  });

  it('explains a dead letter with the stage and the error', async () => {
    await r.xadd(names.stream('trade.intent'), '*', 'intent_id', 'int-dead-1', 'action', 'BUY', 'symbol', 'BTCUSDT');
    await waitFor(async () => (await entries(r, names, 'dead.letter')).some((e) => e.payload.includes('int-dead-1')), 10000, 'dead letter');
    const t = await trace(r, names, 'int-dead-1');
    expect(t.outcome).toBe('dead_letter');
    expect(t.stopped_at).toMatchObject({ stage: 'intent_bridge', reason: 'dead_letter' });
    expect(t.stopped_at!.detail).toMatch(/not a valid trade.intent message/);
  });

  it('says so when an id is nowhere', async () => {
    const t = await trace(r, names, 'nothing-like-this');
    expect(t).toMatchObject({ found: false, outcome: 'not_found' });
  });
});
