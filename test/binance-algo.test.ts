/**
 * Issue 18, Binance side: protective conditional orders through Binance's Algo Order API,
 * conformance through real ccxt (binanceusdm, the installed 4.5.x) against the test Binance
 * server (test/helpers/fake-binance-algo.ts, each behaviour naming its Binance source).
 * docs/binance.md, "Protective stops on the exchange", lists these cases.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadConfig } from '../src/config/config.js';
import { createLogger, type Logger } from '../src/log.js';
import { createBinanceExchange } from '../src/engine/exchange/binance/adapter.js';
import { algoApiOf, algoOrderParams, conditionalOrderFrom } from '../src/engine/exchange/binance/algo.js';
import { createClient, type BinanceUsdm } from '../src/engine/exchange/binance/ccxt-loader.js';
import { mapBinanceError } from '../src/engine/exchange/binance/errors.js';
import { ExchangeError, type ConditionalOrderRequest, type Exchange } from '../src/engine/exchange/types.js';
import { startFakeBinance, type FakeBinance } from './helpers/fake-binance.js';
import { closeAll, testNames, testRedis, waitFor } from './helpers/redis.js';
import { ensureStop, readProtect, type StopExchange } from '../src/engine/protect/stops.js';
import type { PositionState } from '../src/contract/state.js';

let fake: FakeBinance;
let ex: Required<Pick<Exchange, 'placeConditionalOrder' | 'cancelConditionalOrder' | 'fetchConditionalOrder' | 'fetchOpenConditionalOrders'>> & Exchange;
const lines: string[] = [];
const log: Logger = createLogger({ level: 'trace', format: 'json', write: (l) => lines.push(l) });
let seq = 0;

async function failure(p: Promise<unknown>): Promise<ExchangeError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ExchangeError);
  return e as ExchangeError;
}

const stop = (over: Partial<ConditionalOrderRequest> = {}): ConditionalOrderRequest => ({
  symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 95000, clientAlgoId: `qtp-t${Date.now().toString(36)}-${++seq}`, ...over,
});

/** Opens a position through the adapter (a MARKET order on /fapi/v1/order). */
async function open(side: 'BUY' | 'SELL', qty = 0.002, symbol = 'BTCUSDT'): Promise<void> {
  await ex.submitMarketOrder({ symbol, side, qty, reduceOnly: false, clientOrderId: `qt-open-${++seq}`, leverage: 5 });
}

/** A raw ccxt client on the same fake server (for what the adapter never sends). */
async function rawClient(): Promise<BinanceUsdm> {
  const c = await createClient({ apiKey: fake.apiKey, secret: fake.secret, demo: true, enableRateLimit: false, fetchImplementation: fake.fetch });
  await c.loadMarkets();
  return c;
}

beforeEach(async () => {
  fake = await startFakeBinance();
  const e = await createBinanceExchange(loadConfig({ env: { QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey, BINANCE_API_SECRET: fake.secret } }), log, {
    fetchImplementation: fake.fetch, enableRateLimit: false, timeoutMs: 3000,
  });
  await e.start();
  ex = e as typeof ex;
});
afterAll(closeAll);
afterEach(async () => {
  await ex.stop();
  await fake.close();
  for (const l of lines) for (const s of [fake.apiKey, fake.secret]) expect(l).not.toContain(s);
  lines.length = 0;
});

describe('ccxt and the Algo Order API (installed ccxt)', () => {
  it('the installed ccxt is ≥ 4.5.27 and has the implicit Algo Order methods the adapter calls', async () => {
    const entry = createRequire(import.meta.url).resolve('ccxt');
    const version = (JSON.parse(readFileSync(join(dirname(dirname(entry)), 'package.json'), 'utf8')) as { version: string }).version;
    const [maj, min, patch] = version.split('.').map(Number);
    expect(maj === 4 && min === 5 && patch >= 27, `ccxt ${version}`).toBe(true);
    expect(() => algoApiOf(fakeClientWithout())).toThrow(/ccxt ≥ 4.5.27/);
    algoApiOf(await rawClient());
  });

  it("ccxt's unified createOrder routes a STOP_MARKET to POST /fapi/v1/algoOrder; fetchOrder / cancelOrder / fetchOpenOrders with trigger:true use the algo endpoints", async () => {
    await open('BUY');
    const c = await rawClient();
    const placed = await c.createOrder('BTC/USDT:USDT', 'market', 'sell', undefined as unknown as number, undefined, {
      stopLossPrice: 95000, closePosition: true, workingType: 'MARK_PRICE', clientAlgoId: 'ccxt-unified-1',
    });
    const sent = fake.calls.filter((x) => x.method === 'POST' && x.path === '/fapi/v1/algoOrder');
    expect(sent).toHaveLength(1);
    expect(sent[0].params).toMatchObject({ algoType: 'CONDITIONAL', type: 'STOP_MARKET', side: 'SELL', triggerPrice: '95000', closePosition: 'true', clientAlgoId: 'ccxt-unified-1' });
    expect(sent[0].params.quantity).toBeUndefined();
    expect(fake.count('POST', '/fapi/v1/order')).toBe(1); // only the entry
    expect(placed.clientOrderId).toBe('ccxt-unified-1');
    const got = await c.fetchOrder(undefined as unknown as string, 'BTC/USDT:USDT', { trigger: true, clientOrderId: 'ccxt-unified-1' });
    expect((got.info as { algoStatus: string }).algoStatus).toBe('NEW');
    expect(fake.count('GET', '/fapi/v1/algoOrder')).toBe(1);
    expect(await c.fetchOpenOrders('BTC/USDT:USDT', undefined, undefined, { trigger: true })).toHaveLength(1);
    expect(fake.count('GET', '/fapi/v1/openAlgoOrders')).toBe(1);
    await c.cancelOrder(String(placed.id), 'BTC/USDT:USDT', { trigger: true });
    expect(fake.count('DELETE', '/fapi/v1/algoOrder')).toBe(1);
    expect(fake.algo.algoOrders[0].algoStatus).toBe('CANCELED');
  });

  it('a STOP_MARKET sent to the old POST /fapi/v1/order is refused -4120 (what ccxt < 4.5.x and hand-made calls met on 2025-12-09)', async () => {
    const c = await rawClient();
    const e = await c.fapiPrivatePostOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: '95000', closePosition: 'true' }).then(
      () => undefined,
      (x: unknown) => x,
    );
    const err = mapBinanceError(e, { op: 'submit', symbol: 'BTCUSDT', submit: true });
    expect(err.code).toBe(-4120);
    expect(err.message).toContain('Algo Order API');
    expect(err.unknownOutcome).toBe(false);
  });

  it('quantity with closePosition=true is refused -4137; reduceOnly with it -1106 (the adapter sends neither)', async () => {
    const c = await rawClient();
    const base = { algoType: 'CONDITIONAL', symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', triggerPrice: '95000', closePosition: 'true', workingType: 'MARK_PRICE' };
    const e1 = await c.fapiPrivatePostAlgoOrder({ ...base, quantity: '0.002' }).then(() => undefined, (x: unknown) => x);
    expect(mapBinanceError(e1, { op: 'algoOrder' }).code).toBe(-4137);
    const e2 = await c.fapiPrivatePostAlgoOrder({ ...base, reduceOnly: 'true' }).then(() => undefined, (x: unknown) => x);
    expect(mapBinanceError(e2, { op: 'algoOrder' }).code).toBe(-1106);
    // without closePosition: a quantity needs reduceOnly=true here (what the engine sends) and MARKET_LOT_SIZE's step
    const { closePosition: _cp, ...noClose } = base;
    const e3 = await c.fapiPrivatePostAlgoOrder({ ...noClose, quantity: '0.002' }).then(() => undefined, (x: unknown) => x);
    expect(mapBinanceError(e3, { op: 'algoOrder' }).code).toBe(-1116);
    const e4 = await c.fapiPrivatePostAlgoOrder({ ...noClose, quantity: '0.0015', reduceOnly: 'true' }).then(() => undefined, (x: unknown) => x);
    expect([-4023, -1111]).toContain(mapBinanceError(e4, { op: 'algoOrder' }).code);
    expect(fake.algo.algoOrders).toHaveLength(0);
  });
});

describe('binance adapter: protective conditional orders', () => {
  it('places a closePosition STOP_MARKET on the mark price through POST /fapi/v1/algoOrder, trigger rounded to the tick', async () => {
    await open('BUY');
    const req = stop({ stopPrice: 95000.04 });
    const o = await ex.placeConditionalOrder(req);
    expect(o).toMatchObject({ clientAlgoId: req.clientAlgoId, symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 95000, closePosition: true, workingType: 'MARK_PRICE', status: 'NEW' });
    expect(o.algoId).toBe(String(fake.algo.algoOrders[0].algoId));
    expect(o.createdAt).toBeGreaterThan(Date.now() - 60_000);
    const sent = fake.calls.find((c) => c.method === 'POST' && c.path === '/fapi/v1/algoOrder')!.params;
    expect(sent).toMatchObject({ algoType: 'CONDITIONAL', symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', triggerPrice: '95000.0', closePosition: 'true', workingType: 'MARK_PRICE', clientAlgoId: req.clientAlgoId });
    expect(sent.quantity).toBeUndefined();
    expect(sent.reduceOnly).toBeUndefined();
    expect(fake.count('POST', '/fapi/v1/order')).toBe(1); // the entry only: never the old endpoint for a stop
  });

  it('looks one up by clientAlgoId (open or not) and returns null for one never placed', async () => {
    await open('BUY');
    const req = stop();
    const placed = await ex.placeConditionalOrder(req);
    expect(await ex.fetchConditionalOrder('BTCUSDT', req.clientAlgoId)).toEqual(placed);
    const q = fake.calls.filter((c) => c.method === 'GET' && c.path === '/fapi/v1/algoOrder').at(-1)!.params;
    expect(q.clientAlgoId).toBe(req.clientAlgoId);
    expect(await ex.fetchConditionalOrder('BTCUSDT', 'qtp-never-placed-1')).toBeNull();
  });

  it("lists the open ones per symbol and for all symbols, leaving out algo orders that are not closePosition stops on the mark (counted in a warning)", async () => {
    await open('BUY');
    await open('SELL', 0.05, 'ETHUSDT');
    const a = await ex.placeConditionalOrder(stop());
    const b = await ex.placeConditionalOrder(stop({ symbol: 'ETHUSDT', side: 'BUY', stopPrice: 4200 }));
    // placed by hand on the exchange: a last-price stop
    expect(fake.algo.place({ algoType: 'CONDITIONAL', symbol: 'BTCUSDT', side: 'SELL', type: 'TAKE_PROFIT_MARKET', triggerPrice: '110000', closePosition: 'true', workingType: 'CONTRACT_PRICE', clientAlgoId: 'by-hand-1' }).status).toBe(200);
    expect((await ex.fetchOpenConditionalOrders('BTCUSDT')).map((o) => o.clientAlgoId)).toEqual([a.clientAlgoId]);
    expect((await ex.fetchOpenConditionalOrders()).map((o) => o.clientAlgoId).sort()).toEqual([a.clientAlgoId, b.clientAlgoId].sort());
    const calls = fake.calls.filter((c) => c.path === '/fapi/v1/openAlgoOrders');
    expect(calls[0].params).toMatchObject({ symbol: 'BTCUSDT', algoType: 'CONDITIONAL' });
    expect(calls[1].params.symbol).toBeUndefined();
    expect(lines.some((l) => l.includes('not placed by qt') && l.includes('"count":1'))).toBe(true);
  });

  it('cancels one: DELETE /fapi/v1/algoOrder, then its final state CANCELED; a second cancel (-2011) returns the same final state', async () => {
    await open('BUY');
    const req = stop();
    await ex.placeConditionalOrder(req);
    const c = await ex.cancelConditionalOrder('BTCUSDT', req.clientAlgoId);
    expect(c).toMatchObject({ clientAlgoId: req.clientAlgoId, status: 'CANCELED' });
    expect(await ex.fetchOpenConditionalOrders('BTCUSDT')).toEqual([]);
    const again = await ex.cancelConditionalOrder('BTCUSDT', req.clientAlgoId);
    expect(again).toMatchObject({ status: 'CANCELED' });
    const deletes = fake.calls.filter((x) => x.method === 'DELETE' && x.path === '/fapi/v1/algoOrder');
    expect(deletes.map((d) => d.status)).toEqual([200, 400]);
    expect(await ex.cancelConditionalOrder('BTCUSDT', 'qtp-never-placed-2')).toBeNull();
  });

  it('a second order with a clientAlgoId that rests is refused as duplicate (-4116); once that one is no longer open the id is accepted again (Binance: unique among open orders only)', async () => {
    await open('BUY');
    const req = stop();
    await ex.placeConditionalOrder(req);
    const e = await failure(ex.placeConditionalOrder({ ...req, stopPrice: 96000 }));
    expect(e.reason).toBe('duplicate');
    expect(e.code).toBe(-4116);
    expect(e.unknownOutcome).toBe(false);
    expect((await ex.fetchOpenConditionalOrders('BTCUSDT')).map((o) => o.stopPrice)).toEqual([95000]);
    await ex.cancelConditionalOrder('BTCUSDT', req.clientAlgoId);
    const again = await ex.placeConditionalOrder({ ...req, stopPrice: 96000 });
    expect(again).toMatchObject({ status: 'NEW', stopPrice: 96000 });
    expect(fake.algo.algoOrders.filter((o) => o.clientAlgoId === req.clientAlgoId)).toHaveLength(2);
  });

  it('a stop already crossed by the mark is refused -2021 "Order would immediately trigger."', async () => {
    await open('BUY');
    const e = await failure(ex.placeConditionalOrder(stop({ stopPrice: 100500 })));
    expect(e.code).toBe(-2021);
    expect(e.reason).toBe('exchange_rejected');
    expect(fake.algo.algoOrders).toHaveLength(0);
  });

  it('a second closePosition stop of the same type on one side is -4130; a take-profit beside it rests', async () => {
    await open('BUY');
    await ex.placeConditionalOrder(stop({ stopPrice: 95000 }));
    const e = await failure(ex.placeConditionalOrder(stop({ stopPrice: 94000, clientAlgoId: 'qtp-second-stop-1' })));
    expect(e.code).toBe(-4130);
    await ex.placeConditionalOrder(stop({ type: 'TAKE_PROFIT_MARKET', stopPrice: 110000, clientAlgoId: 'qtp-take-profit-1' }));
    expect(await ex.fetchOpenConditionalOrders('BTCUSDT')).toHaveLength(2);
  });

  it('a reduce-only stop with a quantity rests beside a closePosition one (-4130 is about closePosition); fired, it closes min(quantity, position); a hand-placed reduce-only one is not listed', async () => {
    await open('BUY', 0.002);
    const cp = await ex.placeConditionalOrder(stop({ stopPrice: 95000 }));
    const q = await ex.placeConditionalOrder(stop({ stopPrice: 96000, quantity: 0.005 }));
    expect(q).toMatchObject({ closePosition: false, quantity: 0.005, status: 'NEW' });
    const sent = fake.calls.filter((c) => c.method === 'POST' && c.path === '/fapi/v1/algoOrder').at(-1)!.params;
    expect(sent).toMatchObject({ quantity: '0.005', reduceOnly: 'true' });
    expect(sent.closePosition).toBeUndefined();
    expect(fake.algo.place({ algoType: 'CONDITIONAL', symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', triggerPrice: '90000', quantity: '0.001', reduceOnly: 'true', workingType: 'MARK_PRICE', clientAlgoId: 'web_by_hand' }).status).toBe(200);
    expect((await ex.fetchOpenConditionalOrders('BTCUSDT')).map((o) => o.clientAlgoId)).toEqual([cp.clientAlgoId, q.clientAlgoId]);
    // off the MARKET_LOT_SIZE step: refused before sending (the server would answer -4023 too)
    expect((await failure(ex.placeConditionalOrder(stop({ stopPrice: 96500, quantity: 0.0025 })))).code).not.toBe(-4130);
    fake.setPrice('BTCUSDT', 95900, { mark: 95900 });
    const after = await ex.fetchConditionalOrder('BTCUSDT', q.clientAlgoId);
    expect(after).toMatchObject({ status: 'FINISHED' });
    const normal = fake.orders.find((o) => String(o.orderId) === after!.triggeredOrderId)!;
    expect(normal).toMatchObject({ status: 'FILLED', side: 'SELL', reduceOnly: true, executedQty: '0.002', closePosition: false });
    expect(fake.positions.size).toBe(0);
  });

  it('ensureStop moves a stop through the adapter without a gap: ≥ 1 stop rests at every call, exactly one after; the form alternates and no -4130 is met', async () => {
    await open('BUY', 0.003);
    const r = testRedis();
    const names = testNames();
    const openedAt = Date.now();
    await r.hset(names.position('BTCUSDT'), { symbol: 'BTCUSDT', side: 'LONG', qty: '0.003', entry_price: '100000', opened_at: String(openedAt), updated_at: String(openedAt) });
    const pos: PositionState = { symbol: 'BTCUSDT', side: 'LONG', qty: 0.003, entry_price: 100000, leverage: 5, sl_price: 95000, tp_price: 0, initial_risk_usd: 15, opened_at: openedAt, updated_at: openedAt, plan_id: 'p' };
    const seen: { op: string; open: number }[] = [];
    const resting = () => fake.algo.algoOrders.filter((o) => o.symbol === 'BTCUSDT' && o.algoStatus === 'NEW').length;
    const x: StopExchange = {
      name: ex.name, rules: (s) => ex.rules(s),
      fetchConditionalOrder: (s, c) => ex.fetchConditionalOrder(s, c),
      fetchOpenConditionalOrders: (s) => ex.fetchOpenConditionalOrders(s),
      placeConditionalOrder: async (req) => {
        try { return await ex.placeConditionalOrder(req); } finally { seen.push({ op: 'place', open: resting() }); }
      },
      cancelConditionalOrder: async (s, c) => {
        seen.push({ op: 'before-cancel', open: resting() });
        const out = await ex.cancelConditionalOrder(s, c);
        seen.push({ op: 'after-cancel', open: resting() });
        return out;
      },
    };
    const d = { redis: r, names, exchange: x, now: Date.now, log: { info() {}, warn() {}, debug() {} } };
    expect(await ensureStop(d, 'BTCUSDT', pos, 95000, { mode: 'all' })).toBe('placed');
    for (const [i, level] of [96000, 97000, 98000].entries()) {
      seen.length = 0;
      expect(await ensureStop(d, 'BTCUSDT', pos, level, { mode: 'all' })).toBe('moved');
      expect(seen).toEqual([{ op: 'place', open: 2 }, { op: 'before-cancel', open: 2 }, { op: 'after-cancel', open: 1 }]);
      const rec = readProtect('BTCUSDT', await r.hgetall(names.protect('BTCUSDT')))!;
      expect(rec).toMatchObject({ status: 'ACTIVE', stop_price: level, gap_ms: 0, quantity: i % 2 === 0 ? 0.003 : 0 });
      const open = await ex.fetchOpenConditionalOrders('BTCUSDT');
      expect(open.map((o) => [o.clientAlgoId, o.stopPrice, o.closePosition])).toEqual([[rec.client_algo_id, level, i % 2 === 1]]);
    }
    expect(fake.calls.filter((c) => c.path === '/fapi/v1/algoOrder' && c.method === 'POST').map((c) => c.status)).toEqual([200, 200, 200, 200]);
  });

  it('a reply lost after acceptance is an unknown outcome; the lookup by clientAlgoId finds it resting and a resend is refused as duplicate', async () => {
    await open('BUY');
    const req = stop();
    fake.faults.afterAccept({ kind: 'drop' });
    const e = await failure(ex.placeConditionalOrder(req));
    expect(e.unknownOutcome).toBe(true);
    expect(await ex.fetchConditionalOrder('BTCUSDT', req.clientAlgoId)).toMatchObject({ status: 'NEW', stopPrice: 95000 });
    expect((await failure(ex.placeConditionalOrder(req))).reason).toBe('duplicate');
    expect(await ex.fetchOpenConditionalOrders('BTCUSDT')).toHaveLength(1);
  });

  it('a lookup can lag the placement (-2013 for a while): null first, then found; the all-symbols open list costs weight 40, one symbol 1', async () => {
    await open('BUY');
    fake.algo.lookupLagMs = 600;
    const req = stop();
    await ex.placeConditionalOrder(req);
    expect(await ex.fetchConditionalOrder('BTCUSDT', req.clientAlgoId)).toBeNull();
    expect(await waitFor(() => ex.fetchConditionalOrder('BTCUSDT', req.clientAlgoId), 5000, 'visible')).toMatchObject({ status: 'NEW' });
    // the fake's weight counter restarts each minute (X-MBX-USED-WEIGHT-1M): measure away from a minute's end
    await waitFor(() => Date.now() % 60_000 < 55_000, 10_000, 'not at the end of a minute');
    const w0 = fake.faults.usedWeight;
    await ex.fetchOpenConditionalOrders('BTCUSDT');
    const w1 = fake.faults.usedWeight;
    await ex.fetchOpenConditionalOrders();
    expect([w1 - w0, fake.faults.usedWeight - w1]).toEqual([1, 40]);
  });

  it('the mark crossing a SELL stop fires it: a normal order with a new id closes the whole long; the exchange position and the adapter agree (none)', async () => {
    await open('BUY', 0.003);
    const req = stop({ stopPrice: 95000 });
    const placed = await ex.placeConditionalOrder(req);
    // the last price crosses, the mark does not: a MARK_PRICE stop rests
    fake.setPrice('BTCUSDT', 94000, { mark: 95500 });
    expect(fake.algo.fired).toHaveLength(0);
    expect(await ex.fetchPositions()).toHaveLength(1);
    fake.setPrice('BTCUSDT', 95200, { mark: 94900 });
    expect(fake.algo.fired).toHaveLength(1);
    const after = await ex.fetchConditionalOrder('BTCUSDT', req.clientAlgoId);
    expect(after).toMatchObject({ algoId: placed.algoId, status: 'FINISHED', triggeredPrice: 94900 });
    expect(after!.triggeredOrderId).toBeDefined();
    expect(after!.triggeredOrderId).not.toBe(placed.algoId);
    const normal = fake.orders.find((o) => String(o.orderId) === after!.triggeredOrderId)!;
    expect(normal).toMatchObject({ status: 'FILLED', side: 'SELL', reduceOnly: true, executedQty: '0.003', origType: 'STOP_MARKET', closePosition: true });
    expect(normal.clientOrderId).not.toBe(req.clientAlgoId);
    expect(fake.positions.size).toBe(0);
    expect(await ex.fetchPositions()).toEqual([]);
    expect(await ex.fetchOpenConditionalOrders('BTCUSDT')).toEqual([]);
    const bal = await ex.fetchBalance();
    expect(bal.wallet).toBeCloseTo(fake.account.wallet, 6);
    expect(bal.wallet).toBeLessThan(10_000 - 0.003 * (100000 - 94900) + 0.01); // the loss was taken
  });

  it('cancel after the trigger: DELETE answers -2011, the adapter returns the final state (TRIGGERED while the order works, then FINISHED) with the new order id', async () => {
    fake.algo.triggeredForMs = 1500;
    await open('BUY');
    const req = stop();
    await ex.placeConditionalOrder(req);
    fake.setPrice('BTCUSDT', 94000);
    const c = await ex.cancelConditionalOrder('BTCUSDT', req.clientAlgoId);
    expect(c!.status === 'TRIGGERED' || c!.status === 'FINISHED').toBe(true);
    expect(c!.triggeredOrderId).toBe(fake.algo.fired[0].orderId);
    expect(fake.calls.filter((x) => x.method === 'DELETE' && x.path === '/fapi/v1/algoOrder').map((d) => d.status)).toEqual([400]);
    const final = await waitFor(async () => {
      const o = await ex.fetchConditionalOrder('BTCUSDT', req.clientAlgoId);
      return o?.status === 'FINISHED' ? o : undefined;
    }, 5000, 'FINISHED');
    expect(final.triggeredOrderId).toBe(c!.triggeredOrderId);
    expect(await ex.fetchPositions()).toEqual([]);
  });

  it('a BUY stop protects a short (fires at mark ≥ stop); a TAKE_PROFIT_MARKET SELL fires at mark ≥ its price', async () => {
    await open('SELL', 0.002);
    expect((await failure(ex.placeConditionalOrder(stop({ side: 'BUY', stopPrice: 99000 })))).code).toBe(-2021);
    const s = await ex.placeConditionalOrder(stop({ side: 'BUY', stopPrice: 105000 }));
    fake.setPrice('BTCUSDT', 105100);
    expect(await ex.fetchConditionalOrder('BTCUSDT', s.clientAlgoId)).toMatchObject({ status: 'FINISHED' });
    expect(await ex.fetchPositions()).toEqual([]);

    await open('BUY', 0.002);
    const tp = await ex.placeConditionalOrder(stop({ type: 'TAKE_PROFIT_MARKET', side: 'SELL', stopPrice: 110000 }));
    fake.setPrice('BTCUSDT', 109000);
    expect(await ex.fetchConditionalOrder('BTCUSDT', tp.clientAlgoId)).toMatchObject({ status: 'NEW' });
    fake.setPrice('BTCUSDT', 110000);
    expect(await ex.fetchConditionalOrder('BTCUSDT', tp.clientAlgoId)).toMatchObject({ status: 'FINISHED', type: 'TAKE_PROFIT_MARKET' });
    expect(await ex.fetchPositions()).toEqual([]);
  });

  it('a stop left resting after its position was closed by another order ends REJECTED when it fires, and creates no order', async () => {
    await open('BUY');
    const req = stop();
    await ex.placeConditionalOrder(req);
    await ex.submitMarketOrder({ symbol: 'BTCUSDT', side: 'SELL', qty: 0.002, reduceOnly: true, clientOrderId: 'qt-close-1', leverage: 5 });
    expect(await ex.fetchOpenConditionalOrders('BTCUSDT')).toHaveLength(1); // Binance does not cancel it with the position
    const orders = fake.orders.length;
    fake.setPrice('BTCUSDT', 94000);
    expect(await ex.fetchConditionalOrder('BTCUSDT', req.clientAlgoId)).toMatchObject({ status: 'REJECTED' });
    expect(fake.orders.length).toBe(orders);
    expect(await ex.fetchPositions()).toEqual([]);
  });

  it('errors carry no credentials and failures of the lookups are ExchangeErrors with the Binance code', async () => {
    fake.failNext({ status: 400, code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.', path: '/fapi/v1/algoOrder' });
    const e = await failure(ex.fetchConditionalOrder('BTCUSDT', 'qtp-x-1'));
    expect(e.code).toBe(-1021);
    expect(e.message).not.toContain(fake.secret);
    fake.failNext({ status: 503, path: '/fapi/v1/openAlgoOrders' });
    expect((await failure(ex.fetchOpenConditionalOrders('BTCUSDT'))).retryable).toBe(true);
    await expect(ex.fetchConditionalOrder('NOPEUSDT', 'qtp-x-2')).rejects.toThrow(/not a USDT perpetual/);
  });
});

describe('algo.ts: the request sent and the rows read', () => {
  const rules = { symbol: 'BTCUSDT', tickSize: 0.1 } as Parameters<typeof algoOrderParams>[1];

  it('sends closePosition on the mark price, never quantity or reduceOnly; refuses a clientAlgoId Binance would refuse', () => {
    const p = algoOrderParams(stop({ stopPrice: 94999.96, clientAlgoId: 'qtp-abc-1' }), rules);
    expect(p).toEqual({
      algoType: 'CONDITIONAL', symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', triggerPrice: '95000.0', closePosition: 'true', workingType: 'MARK_PRICE',
      clientAlgoId: 'qtp-abc-1', newOrderRespType: 'RESULT',
    });
    expect(() => algoOrderParams(stop({ clientAlgoId: 'x'.repeat(37) }), rules)).toThrow(/clientAlgoId/);
    expect(() => algoOrderParams(stop({ clientAlgoId: 'has space' }), rules)).toThrow(/clientAlgoId/);
    expect(() => algoOrderParams(stop({ stopPrice: 0 }), rules)).toThrow(/not a price/);
  });

  it('with a quantity: sends quantity on the MARKET_LOT_SIZE step and reduceOnly=true, no closePosition; an off-step quantity is refused as Binance would (-4023)', () => {
    const full = { ...rules, marketStepSize: 0.001, marketMinQty: 0.001, marketMaxQty: 120, quantityPrecision: 3 } as Parameters<typeof algoOrderParams>[1];
    expect(algoOrderParams(stop({ stopPrice: 95000, clientAlgoId: 'qtp-abc-2', quantity: 0.002 }), full)).toEqual({
      algoType: 'CONDITIONAL', symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', triggerPrice: '95000.0', quantity: '0.002', reduceOnly: 'true', workingType: 'MARK_PRICE',
      clientAlgoId: 'qtp-abc-2', newOrderRespType: 'RESULT',
    });
    expect(() => algoOrderParams(stop({ quantity: 0 }), full)).toThrow(ExchangeError);
    expect(() => algoOrderParams(stop({ quantity: 200 }), full)).toThrow(/max quantity/);
  });

  it("reads Binance's Query Algo Order row; a foreign row is undefined; an undocumented algoStatus throws", () => {
    const row = {
      algoId: 2146760, clientAlgoId: 'qtp-a-1', algoType: 'CONDITIONAL', orderType: 'STOP_MARKET', symbol: 'BTCUSDT', side: 'SELL', algoStatus: 'FINISHED',
      actualOrderId: '8000000009', actualPrice: '94900.0', triggerPrice: '95000.0', workingType: 'MARK_PRICE', closePosition: true, createTime: 1, updateTime: 2,
    };
    expect(conditionalOrderFrom(row)).toEqual({
      algoId: '2146760', clientAlgoId: 'qtp-a-1', symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 95000, closePosition: true, workingType: 'MARK_PRICE',
      status: 'FINISHED', createdAt: 1, updatedAt: 2, triggeredOrderId: '8000000009', triggeredPrice: 94900,
    });
    expect(conditionalOrderFrom({ ...row, algoStatus: 'NEW', actualOrderId: '', actualPrice: '0.00000' })).not.toHaveProperty('triggeredOrderId');
    expect(conditionalOrderFrom({ ...row, orderType: 'TAKE_PROFIT' })).toBeUndefined();
    expect(conditionalOrderFrom({ ...row, closePosition: false })).toBeUndefined();
    // a reduce-only stop with a quantity: ours (qtp-) is read, one placed by hand is not
    expect(conditionalOrderFrom({ ...row, closePosition: false, reduceOnly: true, quantity: '0.002' })).toMatchObject({ closePosition: false, quantity: 0.002 });
    expect(conditionalOrderFrom({ ...row, clientAlgoId: 'web_abc', closePosition: false, reduceOnly: true, quantity: '0.002' })).toBeUndefined();
    expect(conditionalOrderFrom({ ...row, workingType: 'CONTRACT_PRICE' })).toBeUndefined();
    expect(() => conditionalOrderFrom({ ...row, algoStatus: 'WORKING' })).toThrow(/not one Binance documents/);
  });
});

function fakeClientWithout(): unknown {
  return { fapiPrivatePostAlgoOrder: () => undefined };
}
