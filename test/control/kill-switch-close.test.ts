import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sendClose } from '../../src/control/close.js';
import { readKillSwitch, setKillSwitch } from '../../src/control/kill-switch.js';
import type { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import { riskGuard } from '../../src/engine/stages/risk-guard.js';
import { UsageError } from '../../src/errors.js';
import { closeAll, testNames, testRedis, waitFor } from '../helpers/redis.js';
import { entries, openEntry, runnerFor, setPrice, startPipeline, stopAll, writePolicy } from '../exits/harness.js';

const r = testRedis();
let running: StageRunner[] = [];
afterEach(async () => {
  await stopAll(running);
  running = [];
});
afterAll(closeAll);

describe('kill switch', () => {
  it('after a daily loss over the limit, entries are rejected kill_switch and exits still execute', async () => {
    const names = testNames();
    await writePolicy(r, names, { daily_loss_limit_usd: 100 });
    await setPrice(r, names, 'BTCUSDT', 50000);
    await setPrice(r, names, 'ETHUSDT', 3000);
    const p = await startPipeline(r, names);
    running.push(...p.runners);
    await openEntry(r, names, 'BTCUSDT', 'BUY', 0.01, 1, 50000);
    await waitFor(async () => (await r.hget(names.position('BTCUSDT'), 'qty')) === '0.01', 10000, 'position open');

    const guard = runnerFor(riskGuard({ everyMs: 30 }), names, r);
    await guard.start();
    running.push(guard);
    await r.xadd(names.stream('apply.result'), '*', 'plan_id', 'px', 'intent_id', 'ix', 'ts', String(Date.now()), 'symbol', 'SOLUSDT', 'executed', 'true', 'realized_pnl', '-150');
    await waitFor(() => r.get(names.killSwitch()), 5000, 'kill switch on');

    const entryId = await openEntry(r, names, 'ETHUSDT', 'BUY', 0.1, 1, 3000);
    const rej = await waitFor(async () => (await entries(r, names, 'stage.rejected')).find((e) => e.ref_id === entryId || e.payload.includes(entryId)), 10000, 'entry rejected');
    expect(rej).toMatchObject({ stage: 'apply_layer', reason: 'kill_switch' });
    expect(await r.exists(names.position('ETHUSDT'))).toBe(0);

    const c = await sendClose(r, names, 'btcusdt', 100);
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0, 10000, 'exit executed under the kill switch');
    const res = (await entries(r, names, 'apply.result')).find((x) => x.intent_id === c.intent_id);
    expect(res).toMatchObject({ executed: 'true', filled_qty: '0.01' });
  });

  it('on needs a reason; off clears it; both are recorded on risk.proposal', async () => {
    const names = testNames();
    await expect(setKillSwitch(r, names, true, '  ')).rejects.toBeInstanceOf(UsageError);
    expect(await readKillSwitch(r, names)).toEqual({ on: false, reason: null });
    await setKillSwitch(r, names, true, 'exchange maintenance');
    expect(await r.get(names.killSwitch())).toBe('operator: exchange maintenance');
    await setKillSwitch(r, names, false, undefined);
    expect(await r.exists(names.killSwitch())).toBe(0);
    expect((await entries(r, names, 'risk.proposal')).map((e) => e.decision)).toEqual(['kill_switch_on', 'kill_switch_off']);
  });
});

describe('qt close', () => {
  it('refuses a symbol with no open position, naming it', async () => {
    const names = testNames();
    await r.hset(names.position('ledger:BTCUSDT'), { realized_pnl: '1' });
    await expect(sendClose(r, names, 'BTCUSDT', 100)).rejects.toThrow(/no open position on BTCUSDT/);
    expect(await entries(r, names, 'trade.intent')).toEqual([]);
  });

  it('refuses a percentage other than 25, 50, 75 or 100', async () => {
    const names = testNames();
    await expect(sendClose(r, names, 'BTCUSDT', 30)).rejects.toThrow(/--pct: expected one of 25, 50, 75, 100/);
  });

  it('sends a MANUAL reduce-only partial exit that the pipeline executes with a valid quantity', async () => {
    const names = testNames();
    await writePolicy(r, names);
    await setPrice(r, names, 'BTCUSDT', 50000);
    const p = await startPipeline(r, names);
    running.push(...p.runners);
    await openEntry(r, names, 'BTCUSDT', 'BUY', 0.01, 1, 50000);
    await waitFor(async () => (await r.hget(names.position('BTCUSDT'), 'qty')) === '0.01', 10000, 'position open');
    const c = await sendClose(r, names, 'BTCUSDT', 25);
    const intent = (await entries(r, names, 'trade.intent')).find((i) => i.intent_id === c.intent_id)!;
    expect(intent).toMatchObject({ intent_type: 'MANUAL', action: 'PARTIAL_25', reduceOnly: 'true', source: 'operator' });
    await waitFor(async () => (await r.hget(names.position('BTCUSDT'), 'qty')) === '0.008', 10000, 'partial executed (0.0025 rounded down to 0.002)');
  });
});
