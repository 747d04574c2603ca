/**
 * Binance's real behaviour, case by case (issue 16; docs/binance.md "Conformance"): the
 * real executor in its real runner, real ccxt, the fake Binance server reached through
 * QT_BINANCE_BASE_URL. After every case the engine's position equals the exchange's.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '../src/config/config.js';
import { encode, fieldsFromArray, type ApplyApproved } from '../src/contract/messages.js';
import { Engine, type EngineDeps } from '../src/engine/engine.js';
import { createBinanceExchange } from '../src/engine/exchange/binance/adapter.js';
import { ExchangeLimits } from '../src/engine/exchange/binance/limits.js';
import { startExchange } from '../src/engine/exchange/start.js';
import { ExchangeError, type Exchange } from '../src/engine/exchange/types.js';
import { clientOrderIdFor } from '../src/engine/stages/executor-position.js';
import { STAGE_FACTORIES } from '../src/engine/stages/index.js';
import { collectSnapshot } from '../src/diagnose/collect.js';
import { buildReport } from '../src/diagnose/report.js';
import { ensurePolicy, policyFromConfig } from '../src/engine/state/policy.js';
import { silentLogger } from '../src/log.js';
import { startFakeBinance, type FakeBinance } from './helpers/fake-binance.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

afterAll(closeAll);

interface Rig {
  fake: FakeBinance;
  r: Redis;
  config: Config;
  exchange: Exchange;
  engine: Engine;
}
const rigs: Rig[] = [];
afterEach(async () => {
  for (const g of rigs.splice(0)) {
    await g.engine.stop();
    await g.exchange.stop();
    await g.fake.close();
  }
});

let n = 0;
async function rig(env: Record<string, string> = {}, o: { stages?: string[]; before?: (f: FakeBinance) => void } = {}): Promise<Rig> {
  const fake = await startFakeBinance({ balance: 100_000 });
  o.before?.(fake);
  const r = testRedis();
  const config = loadConfig({
    env: {
      REDIS_URL: testRedisUrl(), QT_PREFIX: uniquePrefix('conf'), QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey, BINANCE_API_SECRET: fake.secret,
      QT_BINANCE_BASE_URL: fake.url, QT_BLOCK_MS: '100', QT_LOG_LEVEL: 'silent', QT_RECLAIM_IDLE_MS: '500', QT_RECLAIM_EVERY_MS: '250',
      QT_ORDER_LOOKUP_MS: '1500', QT_SYMBOLS: 'BTCUSDT,SOLUSDT', QT_HEARTBEAT_MS: '300', ...env,
    },
  });
  const writer = testRedis();
  const exchange = await createBinanceExchange(config, silentLogger, { enableRateLimit: false, timeoutMs: 4000, redis: writer });
  expect(await startExchange(exchange, silentLogger, { delaysMs: [50, 100, 200] })).toBe(true);
  await ensurePolicy(writer, config.names, policyFromConfig(config));
  const deps: EngineDeps = { config, writer, log: silentLogger, mode: 'DEMO', exchange };
  const engine = new Engine(deps);
  const stages = [];
  for (const s of o.stages ?? ['intent_executor']) stages.push(await STAGE_FACTORIES[s](deps));
  await engine.start(stages);
  const g = { fake, r, config, exchange, engine };
  rigs.push(g);
  return g;
}

function plan(o: Partial<ApplyApproved> = {}): ApplyApproved {
  n++;
  return {
    plan_id: `cf-${n}-${Date.now()}`, intent_id: `ci-${n}`, ts: Date.now(), symbol: 'BTCUSDT', action: 'OPEN', side: 'BUY', qty: 0.002,
    price: 100000, notional: 200, leverage: 5, sl_price: 0, tp_price: 0, reduceOnly: false, source: 'conformance', permit_id: `pm-${n}`, ...o,
  } as ApplyApproved;
}

async function approve(g: Rig, p: ApplyApproved): Promise<string> {
  await g.r.xadd(g.config.names.stream('apply.approved'), '*', ...Object.entries(encode('apply.approved', p)).flat());
  return clientOrderIdFor(p.plan_id);
}

async function results(g: Rig): Promise<Record<string, string>[]> {
  return ((await g.r.xrange(g.config.names.stream('apply.result'), '-', '+')) as [string, string[]][]).map(([, f]) => fieldsFromArray(f));
}

async function resultOf(g: Rig, p: ApplyApproved, timeoutMs = 20_000): Promise<Record<string, string>> {
  return waitFor(async () => (await results(g)).find((x) => x.plan_id === p.plan_id), timeoutMs, `apply.result of ${p.plan_id}`);
}

/** Engine position (signed) = exchange position (signed), for every symbol traded. */
async function expectConsistent(g: Rig): Promise<void> {
  for (const s of g.config.symbols) {
    const h = await g.r.hgetall(g.config.names.position(s));
    const engine = Number(h.qty ?? 0) * (h.side === 'SHORT' ? -1 : 1);
    const fp = g.fake.positions.get(s);
    const exchange = fp ? fp.qty * (fp.side === 'SHORT' ? -1 : 1) : 0;
    expect(engine, `${s}: engine ${engine} = exchange ${exchange}`).toBeCloseTo(exchange, 9);
  }
}

const ordersOf = (g: Rig, cid: string) => g.fake.orders.filter((o) => o.clientOrderId === cid);

describe('Binance conformance through ccxt (issue 16)', () => {
  it('1. a lost reply plus a lookup that lags: looked up over a window, found, never sent twice', async () => {
    const g = await rig({ QT_ORDER_LOOKUP_MS: '4000' });
    g.fake.faults.lookupLagMs = 1200; // -2013 for 1.2 s after creation (ccxt#1786, nautilus_trader#4215)
    g.fake.faults.afterAccept({ kind: 'drop' }); // accepted, then the connection drops
    const p = plan();
    const cid = await approve(g, p);
    const res = await resultOf(g, p);
    expect(res).toMatchObject({ executed: 'true', client_order_id: cid, filled_qty: '0.002' });
    expect(ordersOf(g, cid)).toHaveLength(1); // Binance would have filled a second one (FILLED ids are accepted again)
    const key = await g.r.hgetall(g.config.names.order(cid));
    expect(key).toMatchObject({ status: 'FILLED', sends: '1' });
    expect(key.unknown_at).toBeTruthy();
    await expectConsistent(g);
    expect(g.fake.positions.get('BTCUSDT')?.qty).toBe(0.002);
  });

  it('1b. an unknown outcome that really never reached the exchange is sent again only after "does not exist" for the whole window', async () => {
    const g = await rig({ QT_ORDER_LOOKUP_MS: '1500' });
    g.fake.failNext({ status: 502, msg: 'Bad Gateway', path: '/fapi/v1/order' }); // 5xx before the order engine: not accepted
    const p = plan();
    const cid = await approve(g, p);
    expect(await resultOf(g, p)).toMatchObject({ executed: 'true', client_order_id: cid });
    const key = await g.r.hgetall(g.config.names.order(cid));
    expect(key).toMatchObject({ status: 'FILLED', sends: '2' });
    expect(Number(key.absent_ms)).toBeGreaterThanOrEqual(1500);
    expect(Number(key.absent_lookups)).toBeGreaterThanOrEqual(2);
    expect(ordersOf(g, cid)).toHaveLength(1);
    await expectConsistent(g);
  });

  for (const [status, code, msg] of [
    [500, -1006, 'An unexpected response was received from the message bus. Execution status unknown.'],
    [408, -1007, 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.'],
    [503, 0, 'Service Unavailable'],
  ] as const) {
    it(`2. HTTP ${status}${code ? ` {"code":${code}}` : ''} after the order filled is an unknown outcome, resolved by lookup (not a refusal)`, async () => {
      const g = await rig();
      g.fake.faults.afterAccept({ kind: 'error', status, code, msg });
      const p = plan();
      const cid = await approve(g, p);
      expect(await resultOf(g, p)).toMatchObject({ executed: 'true', client_order_id: cid, filled_qty: '0.002' });
      expect(ordersOf(g, cid)).toHaveLength(1);
      expect(await g.r.hget(g.config.names.order(cid), 'sends')).toBe('1');
      await expectConsistent(g);
    });
  }

  it('2b. -1008 server busy is retried (not executed, nothing to look up) and fills once', async () => {
    const g = await rig();
    g.fake.failNext({ status: 503, code: -1008, msg: 'Server is currently overloaded with other requests. Please try again in a few minutes.', path: '/fapi/v1/order' });
    const p = plan();
    const cid = await approve(g, p);
    expect(await resultOf(g, p)).toMatchObject({ executed: 'true', client_order_id: cid });
    const key = await g.r.hgetall(g.config.names.order(cid));
    expect(key).toMatchObject({ status: 'FILLED', sends: '2' });
    expect(key.unknown_at).toBeUndefined();
    expect(ordersOf(g, cid)).toHaveLength(1);
    await expectConsistent(g);
  });

  it('3. a PARTIALLY_FILLED reply is not final: polled until FILLED, the cumulative quantity booked', async () => {
    const g = await rig();
    g.fake.faults.afterAccept({ kind: 'partial', shown: 41, forMs: 1500 });
    const p = plan({ symbol: 'SOLUSDT', qty: 236.26, price: 200, notional: 47252 });
    const cid = await approve(g, p);
    const res = await resultOf(g, p);
    expect(res).toMatchObject({ executed: 'true', filled_qty: '236.26' });
    expect(await g.r.hget(g.config.names.order(cid), 'status')).toBe('FILLED');
    expect(await g.r.hget(g.config.names.position('SOLUSDT'), 'qty')).toBe('236.26');
    await expectConsistent(g);
  });

  it('3b. EXPIRED_IN_MATCH with part executed is final: that part is booked, nothing more awaited', async () => {
    const g = await rig();
    g.fake.faults.expireNext('EXPIRED_IN_MATCH', 0.001);
    const p = plan({ qty: 0.002 });
    const cid = await approve(g, p);
    expect(await resultOf(g, p)).toMatchObject({ executed: 'true', filled_qty: '0.001' });
    const exec = ((await g.r.xrange(g.config.names.stream('execution.result'), '-', '+')) as [string, string[]][]).map(([, f]) => fieldsFromArray(f)).find((x) => x.client_order_id === cid);
    expect(exec).toMatchObject({ status: 'EXPIRED', qty: '0.001' });
    expect(await g.r.hget(g.config.names.position('BTCUSDT'), 'qty')).toBe('0.001');
    expect(ordersOf(g, cid)).toHaveLength(1);
    await expectConsistent(g);
  });

  it('4. a 418 ban stops all traffic until it ends, shared through Redis; no plan spends its delivery budget', async () => {
    // QT_MAX_DELIVERIES 2: without the hold, a 3 s ban with a 0.5 s reclaim would dead-letter every plan.
    const g = await rig({ QT_MAX_DELIVERIES: '2' });
    const names = g.config.names;
    g.fake.faults.ban(3);
    const plans = [plan(), plan(), plan({ side: 'SELL', qty: 0.001 }), plan()];
    for (const p of plans) await approve(g, p);
    // the ban is visible to every process on the host: another client's request is not sent
    const ban = await waitFor(async () => Number(await g.r.hget(names.exchangeLimits(), 'ban_until')), 10_000, 'ban_until in Redis');
    expect(ban).toBeGreaterThan(Date.now());
    const other = new ExchangeLimits({ redis: g.r, key: names.exchangeLimits() });
    expect(await other.hold()).toMatchObject({ kind: 'ban', until: ban });
    const second = await createBinanceExchange(g.config, silentLogger, { enableRateLimit: false, redis: testRedis() });
    const refused = await second.fetchPositions().then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(ExchangeError);
    expect((refused as ExchangeError).reason).toBe('rate_limited');
    // the console / diagnose see it
    const report = buildReport(await collectSnapshot(g.r, names, { windowMs: 600_000 }));
    expect(report.findings.find((f) => f.code === 'EXCHANGE_LIMITED')).toMatchObject({ severity: 'crit' });
    const executor = await waitFor(async () => (await g.r.hget(names.service('intent_executor'), 'detail'))?.includes('holding') || undefined, 10_000, 'executor holding');
    expect(executor).toBe(true);

    for (const p of plans) expect(await resultOf(g, p, 30_000)).toMatchObject({ executed: 'true' });
    // one request met the ban and told us; nothing else went out while it lasted
    expect(g.fake.faults.duringBan.length).toBeLessThanOrEqual(1);
    expect(await g.r.xlen(names.stream('dead.letter'))).toBe(0);
    for (const p of plans) expect(ordersOf(g, clientOrderIdFor(p.plan_id))).toHaveLength(1);
    await expectConsistent(g);
    await second.stop();
  });

  it('4b. a 429 Retry-After is honoured; X-MBX-USED-WEIGHT-1M is kept in the shared limits hash', async () => {
    const g = await rig();
    const names = g.config.names;
    g.fake.faults.tooMany(2, '/fapi/v1/order');
    const p = plan();
    const cid = await approve(g, p);
    expect(await resultOf(g, p)).toMatchObject({ executed: 'true' });
    const posts = g.fake.calls.filter((c) => c.method === 'POST' && c.path === '/fapi/v1/order');
    expect(posts.map((c) => c.status)).toEqual([429, 200]);
    const limits = await g.r.hgetall(names.exchangeLimits());
    // the retry went out only after Retry-After had passed
    expect(posts[1]!.at).toBeGreaterThanOrEqual(Number(limits.retry_after_until));
    expect(Number(limits.used_weight_1m)).toBeGreaterThan(0);
    expect(Number(limits.used_weight_1m)).toBeLessThanOrEqual(g.fake.faults.usedWeight);
    expect(ordersOf(g, cid)).toHaveLength(1);
    await expectConsistent(g);
  });

  it('5. a clock 8 s ahead: the offset is measured at start, orders are signed with it; a later jump (-1021) is measured again and retried; CLOCK_SKEW', async () => {
    const g = await rig({}, { before: (f) => (f.faults.serverClockOffsetMs = -8000) });
    const names = g.config.names;
    const p = plan();
    await approve(g, p);
    expect(await resultOf(g, p)).toMatchObject({ executed: 'true' });
    expect(g.fake.calls.filter((c) => c.status === 400 && c.path === '/fapi/v1/order')).toHaveLength(0);
    const off = Number(await waitFor(() => g.r.hget(names.exchangeLimits(), 'clock_offset_ms'), 5000, 'clock offset recorded'));
    expect(off).toBeGreaterThan(7000);
    expect(off).toBeLessThan(9000);
    // the exchange's clock jumps 20 s the other way: -1021 once, then the offset is measured again
    g.fake.faults.serverClockOffsetMs = 20_000;
    const q = plan();
    await approve(g, q);
    expect(await resultOf(g, q)).toMatchObject({ executed: 'true' });
    expect(g.fake.calls.some((c) => c.status === 400 && c.path === '/fapi/v1/order')).toBe(true);
    const off2 = Number(await waitFor(async () => { const v = Number(await g.r.hget(names.exchangeLimits(), 'clock_offset_ms')); return v < -19000 ? v : undefined; }, 5000, 'offset measured again'));
    expect(off2).toBeLessThan(-19000);
    const report = buildReport(await collectSnapshot(g.r, names, { windowMs: 600_000 }));
    expect(report.findings.find((f) => f.code === 'CLOCK_SKEW')).toMatchObject({ severity: 'crit', evidence: { clock_offset_ms: off2 } });
    await expectConsistent(g);
  });

  it('6. -2022 on a reduce-only close of a position the exchange does not have: resynced at once, shown as drift, not re-exited', async () => {
    const g = await rig({}, { stages: ['intent_bridge', 'apply_layer', 'intent_executor'] });
    const names = g.config.names;
    const now = Date.now();
    await g.r.hset(names.price('BTCUSDT'), { price: '100000', mark: '100000', ts: String(now), source: 'test' });
    await g.r.hset(names.position('BTCUSDT'), {
      symbol: 'BTCUSDT', side: 'LONG', qty: '0.001', entry_price: '100000', leverage: '5', sl_price: '0', tp_price: '0',
      initial_risk_usd: '1', opened_at: String(now - 60_000), updated_at: String(now - 60_000), plan_id: 'old',
    });
    const close = (i: number) =>
      g.r.xadd(names.stream('trade.intent'), '*', 'intent_id', `exit-${i}-${now}`, 'ts', String(Date.now()), 'intent_type', 'HARVEST', 'symbol', 'BTCUSDT',
        'action', 'CLOSE', 'source', 'exit_manager', 'reduceOnly', 'true');
    await close(1);
    const res = await waitFor(async () => (await results(g)).find((x) => x.symbol === 'BTCUSDT'), 20_000, 'the close answered');
    expect(res).toMatchObject({ executed: 'false', reason: 'exchange_rejected' });
    expect(res.detail).toMatch(/-2022.*resynced: engine had LONG 0.001, exchange holds flat/);
    expect(await g.r.exists(names.position('BTCUSDT'))).toBe(0);
    const rec = JSON.parse((await g.r.hget(names.exchangeResync(), 'BTCUSDT'))!);
    expect(rec).toMatchObject({ symbol: 'BTCUSDT', code: -2022, engine: { side: 'LONG', qty: 0.001 }, exchange: null });
    // the exit manager's next close finds no position: nothing is sent
    await close(2);
    await waitFor(async () => ((await g.r.xrange(names.stream('stage.rejected'), '-', '+')) as [string, string[]][]).some(([, f]) => fieldsFromArray(f).reason === 'no_position'), 10_000, 'second close rejected: no_position');
    expect(g.fake.calls.filter((c) => c.method === 'POST' && c.path === '/fapi/v1/order')).toHaveLength(1);
    const report = buildReport(await collectSnapshot(g.r, names, { windowMs: 600_000 }));
    const drift = report.findings.find((f) => f.code === 'POSITION_DRIFT' && f.subject === 'positions:resync');
    expect(drift?.message).toMatch(/BTCUSDT engine LONG 0.001 → exchange flat/);
    await expectConsistent(g);
  });

  it('7. a protective stop on the exchange (Algo Order API) fires on the mark while no exit stage runs: a normal order with a new id closes the position, and the engine learns it from the exchange (engine = exchange)', async () => {
    const g = await rig({ QT_RECONCILE_POLICY: 'adopt', QT_RECONCILE_MS: '500' }, { stages: ['intent_executor', 'reconciler'] });
    const p = plan({ qty: 0.003 });
    const cid = await approve(g, p);
    expect(await resultOf(g, p)).toMatchObject({ executed: 'true', client_order_id: cid, filled_qty: '0.003' });
    await expectConsistent(g);
    const ex = g.exchange as Required<Pick<Exchange, 'placeConditionalOrder' | 'fetchConditionalOrder' | 'fetchOpenConditionalOrders'>>;
    const stopId = `qtp-${p.plan_id.slice(-20)}-1`;
    const placed = await ex.placeConditionalOrder({ symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET', stopPrice: 97000, clientAlgoId: stopId });
    expect(placed.status).toBe('NEW');
    expect(g.fake.calls.filter((c) => c.method === 'POST' && c.path === '/fapi/v1/order')).toHaveLength(1); // the entry only
    g.fake.setPrice('BTCUSDT', 97100, { mark: 96990 }); // the mark crosses; the last price does not
    const fired = await ex.fetchConditionalOrder('BTCUSDT', stopId);
    expect(fired).toMatchObject({ status: 'FINISHED', algoId: placed.algoId });
    const normal = g.fake.orders.find((o) => String(o.orderId) === fired!.triggeredOrderId)!;
    expect(normal).toMatchObject({ side: 'SELL', reduceOnly: true, executedQty: '0.003', status: 'FILLED' });
    expect(normal.clientOrderId).not.toBe(cid);
    expect(g.fake.positions.has('BTCUSDT')).toBe(false);
    // no exit stage ran: the reconciler finds the position gone on the exchange and the engine follows it
    await waitFor(async () => (await g.r.exists(g.config.names.position('BTCUSDT'))) === 0, 10_000, 'engine position forgotten');
    await expectConsistent(g);
    expect(await ex.fetchOpenConditionalOrders('BTCUSDT')).toEqual([]);
  });

  it('7b. the executor itself rests the plan\'s stop through the Algo Order API after the fill; when the mark crosses it the reconciler books the close at the fill\'s actualPrice (engine = exchange)', async () => {
    const g = await rig({ QT_RECONCILE_POLICY: 'adopt', QT_RECONCILE_MS: '500' }, { stages: ['intent_executor', 'reconciler'] });
    const p = plan({ qty: 0.003, sl_price: 97000 });
    await approve(g, p);
    expect(await resultOf(g, p)).toMatchObject({ executed: 'true', filled_qty: '0.003' });
    const resting = await waitFor(() => g.fake.algo.algoOrders.find((o) => o.algoStatus === 'NEW'), 10_000, 'the protective stop resting');
    expect(resting).toMatchObject({ symbol: 'BTCUSDT', side: 'SELL', orderType: 'STOP_MARKET', closePosition: true, workingType: 'MARK_PRICE' });
    expect(Number(resting.triggerPrice)).toBe(97000);
    expect(g.fake.calls.filter((c) => c.method === 'POST' && c.path === '/fapi/v1/order')).toHaveLength(1); // the entry only: the stop went to /fapi/v1/algoOrder
    const before = Number((await g.r.hget(g.config.names.ledger('BTCUSDT'), 'realized_pnl')) ?? 0);
    g.fake.setPrice('BTCUSDT', 96950, { mark: 96940 });
    const fired = g.fake.algo.algoOrders.find((o) => o.clientAlgoId === resting.clientAlgoId)!;
    expect(Number(fired.actualPrice)).toBeGreaterThan(0);
    await waitFor(async () => (await g.r.exists(g.config.names.position('BTCUSDT'))) === 0, 10_000, 'engine position closed');
    await expectConsistent(g);
    const entry = Number((await resultOf(g, p)).avg_price);
    const booked = Number((await g.r.hget(g.config.names.ledger('BTCUSDT'), 'realized_pnl')) ?? 0) - before;
    expect(booked).toBeCloseTo((Number(fired.actualPrice) - entry) * 0.003, 6);
  });

  it('QT_BINANCE_BASE_URL: every fapi request went to that host (paths unchanged) and the heartbeats name it', async () => {
    const g = await rig();
    const p = plan();
    await approve(g, p);
    await resultOf(g, p);
    expect(g.fake.calls.length).toBeGreaterThan(3);
    expect(g.fake.calls.every((c) => c.path.startsWith('/fapi/'))).toBe(true);
    const host = new URL(g.fake.url).host;
    await waitFor(async () => (await g.r.hget(g.config.names.service('intent_executor'), 'exchange_host')) === host, 5000, 'exchange_host in the heartbeat');
    const report = buildReport(await collectSnapshot(g.r, g.config.names, { windowMs: 600_000 }));
    expect(report.exchange?.host).toBe(host);
  });
});
