import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Names } from '../../src/contract/names.js';
import { checkDailyLoss, checkExposure, utcDay } from '../../src/engine/exits/risk.js';
import type { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import { riskGuard } from '../../src/engine/stages/risk-guard.js';
import { DEFAULT_POLICY } from '../../src/contract/state.js';
import { closeAll, testNames, testRedis, waitFor } from '../helpers/redis.js';
import { entries, runnerFor, setPrice, stopAll, writePolicy } from './harness.js';

const r = testRedis();
let running: StageRunner[] = [];
afterEach(async () => {
  await stopAll(running);
  running = [];
});
afterAll(closeAll);

async function result(names: Names, pnl: number, executed = true) {
  await r.xadd(names.stream('apply.result'), '*', 'plan_id', `p${Math.random()}`, 'intent_id', 'i', 'ts', String(Date.now()), 'symbol', 'BTCUSDT',
    'executed', String(executed), 'realized_pnl', String(pnl), 'filled_qty', '0.01', 'avg_price', '50000');
}

async function startGuard(names: Names) {
  const run = runnerFor(riskGuard({ everyMs: 30 }), names, r);
  await run.start();
  running.push(run);
  return run;
}

describe('risk checks (pure)', () => {
  it('names the numbers of a symbol and a total exposure breach and a leverage over the cap', () => {
    const p = { ...DEFAULT_POLICY, max_symbol_exposure_usd: 1000, max_total_exposure_usd: 1500, max_leverage: 10 };
    const c = checkExposure([{ symbol: 'BTCUSDT', notional: 1200, leverage: 20 }, { symbol: 'ETHUSDT', notional: 400, leverage: 5 }], p);
    expect(c.map((x) => x.detail)).toEqual([
      'exposure BTCUSDT 1200.00 > max 1000.00 USD: no new entries on BTCUSDT',
      'leverage BTCUSDT 20x > max 10x: reduce the position',
      'total exposure 1600.00 > max 1500.00 USD over 2 position(s): no new entries',
    ]);
  });
  it('turns the kill switch on at a daily loss equal to the limit, not below', () => {
    const p = { ...DEFAULT_POLICY, daily_loss_limit_usd: 500 };
    expect(checkDailyLoss('d', -499.99, p).decision).toBe('allow');
    expect(checkDailyLoss('d', -500, p).decision).toBe('kill_switch_on');
  });
});

describe('risk_guard', () => {
  it('a daily realised loss over the limit turns the kill switch on with its reason', async () => {
    const names = testNames();
    await writePolicy(r, names, { daily_loss_limit_usd: 500 });
    await startGuard(names);
    await result(names, -300);
    await result(names, -400, false); // not executed: no PnL
    await result(names, 120);
    await waitFor(async () => (await r.hget(names.dailyPnl(utcDay(Date.now())), 'realized_pnl')) === '-180', 5000, 'daily pnl -180');
    expect(await r.get(names.killSwitch())).toBeNull();
    await result(names, -350);
    const reason = await waitFor(() => r.get(names.killSwitch()), 5000, 'kill switch');
    expect(reason).toMatch(/daily realised loss 530\.00 USD .* >= limit 500\.00 USD/);
    const props = await entries(r, names, 'risk.proposal');
    expect(props.filter((p) => p.decision === 'kill_switch_on')).toHaveLength(1);
  });

  it('proposes a block when a symbol exposure exceeds the policy', async () => {
    const names = testNames();
    await writePolicy(r, names, { max_symbol_exposure_usd: 1000 });
    await setPrice(r, names, 'BTCUSDT', 50000);
    await r.hset(names.position('BTCUSDT'), { symbol: 'BTCUSDT', side: 'LONG', qty: '0.03', entry_price: '49000', leverage: '5' });
    await r.hset(names.position('ledger:BTCUSDT'), { realized_pnl: '5' }); // bookkeeping, never exposure
    const run = await startGuard(names);
    const p = await waitFor(async () => (await entries(r, names, 'risk.proposal')).find((x) => x.kind === 'exposure'), 5000, 'exposure proposal');
    expect(p).toMatchObject({ decision: 'block', symbol: 'BTCUSDT', value: '1500', limit: '1000' });
    await waitFor(() => run.hb.status === 'degraded', 5000, 'degraded');
  });
});
