/**
 * Issue 17, point 1 (and the executor's side of point 2): a position above MARKET_LOT_SIZE
 * maxQty (BTCUSDT 120 vs LOT_SIZE 1000) closes through child orders of one plan, on the paper
 * exchange and on the test Binance server through real ccxt; restarts never send a child
 * twice; engine position = exchange position. A PERCENT_PRICE refusal is counted `price_band`.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { decode, encode, fieldsFromArray, type ApplyApproved, type ApplyResult } from '../src/contract/messages.js';
import type { Names } from '../src/contract/names.js';
import { createBinanceExchange } from '../src/engine/exchange/binance/adapter.js';
import { PaperExchange } from '../src/engine/exchange/paper.js';
import { childClientOrderId, joinOrderIds, splitQuantities, withExitSplitting } from '../src/engine/exchange/split-exits.js';
import { ExchangeError, type Exchange } from '../src/engine/exchange/types.js';
import { StageRunner } from '../src/engine/runtime/stage-runner.js';
import { clientOrderIdFor } from '../src/engine/stages/executor-position.js';
import { createIntentExecutor } from '../src/engine/stages/intent-executor.js';
import { silentLogger } from '../src/log.js';
import { startFakeBinance } from './helpers/fake-binance.js';
import { closeAll, metricSums, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

const redis = testRedis();
const runners: StageRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});
afterAll(closeAll);

async function startExecutor(names: Names, exchange: Exchange): Promise<void> {
  const runner = new StageRunner(createIntentExecutor({ exchange, names, mode: 'PAPER', settlePollMs: 10 }), {
    redisUrl: testRedisUrl(),
    names,
    writer: redis,
    caps: { streamMaxLen: 10000, toolStreamMaxLen: 10000 },
    batchSize: 20,
    blockMs: 100,
    reclaimIdleMs: 150,
    reclaimEveryMs: 150,
    maxDeliveries: 5,
    heartbeatMs: 1000,
    mode: 'PAPER',
    log: silentLogger,
    consumerName: 'test:1',
  });
  runners.push(runner);
  await runner.start();
}

let n = 0;
function plan(o: Partial<ApplyApproved> = {}): ApplyApproved {
  n++;
  return {
    plan_id: `pl-split-${n}-${Date.now()}-aaaaaaaaaaaaaaaaaaaaaaaaaaaa`, // long: the client id is hashed, as for real plan ids
    intent_id: `intent-${n}`,
    ts: Date.now(),
    symbol: 'BTCUSDT',
    action: 'OPEN',
    side: 'BUY',
    qty: 120,
    price: 100000,
    notional: 12_000_000,
    leverage: 1,
    sl_price: 0,
    tp_price: 0,
    reduceOnly: false,
    source: 'test',
    permit_id: `permit-${n}`,
    ...o,
  };
}
const close = (qty: number) => plan({ action: 'CLOSE', side: 'SELL', qty, reduceOnly: true });

async function approve(names: Names, p: ApplyApproved): Promise<void> {
  await redis.xadd(names.stream('apply.approved'), '*', ...Object.entries(encode('apply.approved', p)).flat());
}
async function results(names: Names): Promise<ApplyResult[]> {
  return (await redis.xrange(names.stream('apply.result'), '-', '+')).map(([, arr]) => {
    const d = decode('apply.result', fieldsFromArray(arr));
    if (!d.ok) throw new Error(d.error);
    return d.value;
  });
}
async function resultOf(names: Names, planId: string): Promise<ApplyResult> {
  return waitFor(async () => (await results(names)).find((r) => r.plan_id === planId), 10000, `apply.result of ${planId}`);
}

async function paperWith240(names: Names): Promise<PaperExchange> {
  const paper = new PaperExchange({ redis, names, balance: 30_000_000, slippageBps: 0, takerFee: 0.0004 });
  await redis.hset(names.price('BTCUSDT'), { price: '100000', mark: '100000', ts: String(Date.now()), source: 'test' });
  await startExecutor(names, paper);
  for (const p of [plan(), plan()]) {
    await approve(names, p);
    expect(await resultOf(names, p.plan_id)).toMatchObject({ executed: true, filled_qty: 120 });
  }
  expect(await redis.hget(names.position('BTCUSDT'), 'qty')).toBe('240');
  return paper;
}

describe('exits above the market-order maximum', () => {
  it('child quantities: as many market maxima as fit, then the rest; ids derived from the plan, valid for Binance', () => {
    expect(splitQuantities(240, 120, 0.001)).toEqual([120, 120]);
    expect(splitQuantities(250.005, 120, 0.001)).toEqual([120, 120, 10.005]);
    expect(splitQuantities(120, 120, 0.001)).toEqual([]);
    const parent = clientOrderIdFor('pl-00000000-0000-0000-0000-000000000000');
    expect(childClientOrderId(parent, 2)).toMatch(/^[.A-Z:/a-z0-9_-]{1,36}$/);
    expect(childClientOrderId(parent, 2)).toBe(childClientOrderId(parent, 2));
    // order_id stays within the contract's 100 characters however many children there are
    expect(joinOrderIds(['1000000001', '1000000002'])).toBe('1000000001,1000000002');
    const many = Array.from({ length: 40 }, (_, i) => String(1000000001 + i));
    expect(joinOrderIds(many)).toBe('1000000001..1000000040(40)');
  });

  it('paper: a 240 BTC position (two entries of 120) closes in one plan of two child orders; engine = exchange = flat', async () => {
    const names = testNames(uniquePrefix('split'));
    const paper = await paperWith240(names);
    const c = close(240);
    await approve(names, c);
    const res = await resultOf(names, c.plan_id);
    const cid = clientOrderIdFor(c.plan_id);
    expect(res).toMatchObject({ executed: true, filled_qty: 240, avg_price: 100000, client_order_id: cid });
    expect(res.order_id!.split(',')).toHaveLength(2);
    expect(await redis.exists(names.position('BTCUSDT'))).toBe(0);
    expect(await paper.fetchPositions()).toEqual([]);
    expect((await redis.lrange(names.paperOrderLog(), 0, -1)).slice(-2)).toEqual([childClientOrderId(cid, 1), childClientOrderId(cid, 2)]);
    expect((await results(names)).filter((r) => r.plan_id === c.plan_id)).toHaveLength(1);
    expect(await redis.hget(names.order(cid), 'status')).toBe('FILLED');
  });

  it('paper: a restart after the first child finds it by client id, sends nothing twice, and engine = exchange', async () => {
    const names = testNames(uniquePrefix('split'));
    const paper = await paperWith240(names);
    await Promise.all(runners.splice(0).map((r) => r.stop()));
    const c = close(240);
    const cid = clientOrderIdFor(c.plan_id);
    // What a killed executor leaves: PENDING persisted, the first child filled, nothing committed.
    await redis.hset(names.order(cid), { status: 'PENDING', plan_id: c.plan_id, symbol: 'BTCUSDT', client_order_id: cid, qty: '240', ts: String(Date.now()) });
    await paper.submitMarketOrder({ symbol: 'BTCUSDT', side: 'SELL', qty: 120, reduceOnly: true, clientOrderId: childClientOrderId(cid, 1), leverage: 1 });
    const logBefore = await redis.llen(names.paperOrderLog());
    await startExecutor(names, new PaperExchange({ redis, names, balance: 30_000_000, slippageBps: 0, takerFee: 0.0004 }));
    await approve(names, c);
    expect(await resultOf(names, c.plan_id)).toMatchObject({ executed: true, filled_qty: 120 });
    expect(await redis.llen(names.paperOrderLog())).toBe(logBefore);
    const [pos] = await paper.fetchPositions();
    expect(pos).toMatchObject({ side: 'LONG', qty: 120 });
    expect(await redis.hget(names.position('BTCUSDT'), 'qty')).toBe('120');
  });

  it('test Binance server through ccxt: one MARKET close of 240 is -4005; split, it closes in two children, and a resend finds them', async () => {
    const fake = await startFakeBinance({ balance: 30_000_000 });
    try {
      const config = loadConfig({ env: { QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey, BINANCE_API_SECRET: fake.secret } });
      const adapter = await createBinanceExchange(config, silentLogger, { fetchImplementation: fake.fetch, enableRateLimit: false });
      await adapter.start();
      fake.positions.set('BTCUSDT', { side: 'LONG', qty: 240, entryPrice: 100000, leverage: 1, margin: 24_000_000 });
      fake.account = { wallet: 30_000_000, marginUsed: 24_000_000 };
      const req = { symbol: 'BTCUSDT', side: 'SELL' as const, qty: 240, reduceOnly: true, clientOrderId: 'qt-close-240', leverage: 1 };
      const whole = await adapter.submitMarketOrder({ ...req, clientOrderId: 'qt-close-whole' }).catch((e: unknown) => e);
      expect(whole).toBeInstanceOf(ExchangeError);
      expect((whole as ExchangeError).code).toBe(-4005);
      const split = withExitSplitting(adapter);
      const ack = await split.submitMarketOrder(req);
      expect(ack).toMatchObject({ filledQty: 240, clientOrderId: 'qt-close-240', status: 'FILLED' });
      expect(fake.positions.has('BTCUSDT')).toBe(false);
      expect(fake.orders.map((o) => o.clientOrderId)).toEqual(['qt-close-240.1', 'qt-close-240.2']);
      // Sent again (a restart whose look-up missed): each child is found by its client id, nothing is sent.
      const posts = fake.count('POST', '/fapi/v1/order');
      expect((await split.submitMarketOrder(req)).filledQty).toBe(240);
      expect(fake.count('POST', '/fapi/v1/order')).toBe(posts);
      expect((await split.fetchOrderByClientId('BTCUSDT', 'qt-close-240'))!.filledQty).toBe(240);
      await adapter.stop();
    } finally {
      await fake.close();
    }
  });
});

describe('PERCENT_PRICE through the executor', () => {
  it('a MARKET order whose fill would leave the band is refused -4131 and counted under price_band', async () => {
    const names = testNames(uniquePrefix('band'));
    const paper = new PaperExchange({ redis, names, balance: 10000, slippageBps: 600, takerFee: 0.0004 });
    await redis.hset(names.price('BTCUSDT'), { price: '100000', mark: '100000', ts: String(Date.now()), source: 'test' });
    await startExecutor(names, paper);
    const p = plan({ qty: 0.002, leverage: 10 });
    await approve(names, p);
    const res = await resultOf(names, p.plan_id);
    expect(res).toMatchObject({ executed: false, reason: 'price_band' });
    expect(res.detail).toContain('-4131');
    const m = await waitFor(async () => {
      const s = await metricSums(redis, names, 'intent_executor');
      return s['rej:price_band'] ? s : null;
    }, 5000, 'the price_band count');
    expect(m['rej:price_band']).toBe(1);
    expect(await paper.fetchPositions()).toEqual([]);
  });
});
