/**
 * Exchange-fault suite: the real executor (in its real runner) against the paper
 * exchange with ~10% of calls failing at random: 429, 5xx, timeouts before the order
 * and timeouts after the exchange accepted it. No client order id is sent twice, every
 * plan ends with exactly one apply.result, every order key ends FILLED or REJECTED
 * (no UNKNOWN/PENDING/SUBMITTED left) and positions equal their fills on both sides.
 * The same through ccxt against the fake Binance server (429, 503, answer held after accept).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { encode } from '../../src/contract/messages.js';
import { Engine, type EngineDeps } from '../../src/engine/engine.js';
import { FAULT_KINDS } from '../../src/engine/exchange/paper-faults.js';
import { PaperExchange } from '../../src/engine/exchange/paper.js';
import { STAGE_FACTORIES } from '../../src/engine/stages/index.js';
import { clientOrderIdFor } from '../../src/engine/stages/executor-position.js';
import { createBinanceExchange } from '../../src/engine/exchange/binance/adapter.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { startFakeBinance } from '../helpers/fake-binance.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';
import { seeded } from '../helpers/seed.js';
import { LONG, PRICES, SYMBOLS, duplicateOrders, entries, pending, positionsVsFills, writePrices } from './harness.js';

afterAll(closeAll);

const N = LONG ? 2000 : 300;

describe('exchange faults (paper exchange, and Binance through ccxt against the fake server)', () => {
  it(`resolves every unknown outcome without a duplicate order: ${N} plans, 10% of calls failing`, async () => {
    const { random } = seeded(`exchange-faults paper (${N} plans${LONG ? ', QT_CHAOS_LONG=1' : ''})`, 'QT_FAULTS_SEED');
    const r = testRedis();
    const prefix = uniquePrefix('faults');
    const config = loadConfig({
      env: {
        REDIS_URL: testRedisUrl(), QT_PREFIX: prefix, QT_BLOCK_MS: '100', QT_BATCH_SIZE: '20', QT_LOG_LEVEL: 'silent',
        QT_RECLAIM_IDLE_MS: '200', QT_RECLAIM_EVERY_MS: '200', QT_MAX_DELIVERIES: '50', QT_SYMBOLS: SYMBOLS.join(','),
      },
    });
    const names = config.names;
    await writePrices(r, names);
    const writer = testRedis();
    const exchange = new PaperExchange({
      redis: writer, names, balance: 1e9, slippageBps: 1, takerFee: 0.0004,
      faults: { rate: 0.1, kinds: [...FAULT_KINDS], random },
    });
    await exchange.start();
    const deps: EngineDeps = { config, writer, log: createLogger({ level: 'silent' }), mode: 'PAPER', exchange };
    const engine = new Engine(deps);
    await engine.start([await STAGE_FACTORIES.intent_executor(deps)]);

    const now = Date.now();
    const p = r.pipeline();
    for (let i = 0; i < N; i++) {
      const symbol = SYMBOLS[i % SYMBOLS.length];
      const price = PRICES[symbol];
      const qty = Math.ceil((150 / price) * 1000) / 1000; // over every symbol's min notional
      const f = encode('apply.approved', {
        plan_id: `pf-${i}`, intent_id: `if-${i}`, ts: now, symbol, action: 'OPEN', side: i % 2 ? 'SELL' : 'BUY',
        qty, price, notional: qty * price, leverage: 5, sl_price: 0, tp_price: 0, reduceOnly: false, source: 'faults', permit_id: `pm-${i}`,
      } as never);
      p.xadd(names.stream('apply.approved'), '*', ...Object.entries(f).flat());
    }
    await p.exec();
    try {
      await waitFor(async () => (await r.xlen(names.stream('apply.result'))) >= N, 300_000, 'every plan answered');
      await waitFor(async () => (await pending(r, names.stream('apply.approved'), 'intent_executor')) === 0, 20000, 'nothing pending');
    } finally {
      await engine.stop();
    }

    const results = await entries(r, names.stream('apply.result'));
    const perPlan = new Map<string, number>();
    for (const x of results) perPlan.set(x.plan_id, (perPlan.get(x.plan_id) ?? 0) + 1);
    expect(perPlan.size).toBe(N);
    expect([...perPlan.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(await duplicateOrders(r, names)).toEqual([]);
    const executed = results.filter((x) => x.executed === 'true');
    expect(await r.llen(names.paperOrderLog())).toBe(executed.length);
    // Every order's life ended: FILLED or REJECTED, never left UNKNOWN/PENDING/SUBMITTED.
    const statuses: Record<string, number> = {};
    for (let i = 0; i < N; i++) {
      const s = (await r.hget(names.order(clientOrderIdFor(`pf-${i}`)), 'status')) ?? '(none)';
      statuses[s] = (statuses[s] ?? 0) + 1;
    }
    expect(Object.keys(statuses).filter((s) => s !== 'FILLED' && s !== 'REJECTED')).toEqual([]);
    for (const pos of await positionsVsFills(r, names)) {
      expect(pos.engine, `${pos.symbol} engine = fills`).toBeCloseTo(pos.fills, 6);
      expect(pos.exchange, `${pos.symbol} exchange = fills`).toBeCloseTo(pos.fills, 6);
    }
    const inj = exchange.injectedFaults;
    console.info(`exchange faults: ${N} plans, executed ${executed.length}, statuses ${JSON.stringify(statuses)}, injected ${JSON.stringify(inj)}, ` +
      `handler retries ${engine.runners[0].totals.errors}`);
    expect(inj.timeout_after).toBeGreaterThan(0);
    expect(inj.rate_limit + inj.server_error + inj.timeout_before).toBeGreaterThan(0);
    // Transient faults are retried, not turned into refusals.
    expect(results.filter((x) => x.executed !== 'true').map((x) => `${x.symbol} ${x.reason} ${x.detail}`).slice(0, 3)).toEqual([]);
  }, LONG ? 1_800_000 : 600_000);

  it('through ccxt against the fake Binance server: 10% of requests failing, no duplicate order, every plan answered once', async () => {
    const { random } = seeded(`exchange-faults binance${LONG ? ' (QT_CHAOS_LONG=1)' : ''}`, 'QT_FAULTS_SEED');
    const fake = await startFakeBinance({ balance: 1_000_000 });
    const r = testRedis();
    const config = loadConfig({
      env: {
        REDIS_URL: testRedisUrl(), QT_PREFIX: uniquePrefix('bfaults'), QT_EXCHANGE: 'binance', BINANCE_API_KEY: fake.apiKey, BINANCE_API_SECRET: fake.secret,
        QT_BLOCK_MS: '100', QT_BATCH_SIZE: '10', QT_LOG_LEVEL: 'silent', QT_RECLAIM_IDLE_MS: '300', QT_RECLAIM_EVERY_MS: '300',
        QT_MAX_DELIVERIES: '50', QT_SYMBOLS: SYMBOLS.join(','),
        // the fake's lookups do not lag here: a short window of "does not exist" before a resend keeps the run short
        QT_ORDER_LOOKUP_MS: '600',
        // plans queue behind injected 10 s timeouts for minutes in the long run: this test is about
        // faults, not entry age (test/stale-entries.test.ts is), so approvals must not expire here
        QT_ENTRY_MAX_AGE_MS: '3600000',
      },
    });
    const names = config.names;
    const injected = { rate_limit: 0, server_error: 0, timeout_after: 0 };
    let orderPosts = 0;
    let armed = false; // faults start once the exchange has loaded its markets
    const faulty: typeof fetch = (input, init) => {
      const isOrder = String(input).includes('/fapi/v1/order') && (init?.method ?? 'GET').toUpperCase() === 'POST';
      if (armed && isOrder && ++orderPosts % 15 === 3) (injected.timeout_after++, fake.timeoutAfterAccept()); // a few for sure
      else if (armed && random() < 0.1) {
        const k = random();
        if (k < 0.35) (injected.rate_limit++, fake.failNext({ status: 429, code: -1003, msg: 'Too many requests (injected)' }));
        else if (k < 0.7 || !isOrder) (injected.server_error++, fake.failNext({ status: 503, msg: 'Service Unavailable (injected)' }));
        else (injected.timeout_after++, fake.timeoutAfterAccept());
      }
      return fake.fetch(input, init);
    };
    const exchange = await createBinanceExchange(config, silentLogger, { fetchImplementation: faulty, enableRateLimit: false, timeoutMs: 3000 } as never);
    for (const s of SYMBOLS) fake.setPrice(s, PRICES[s]);
    await writePrices(r, names);
    await exchange.start();
    const writer = testRedis();
    const deps: EngineDeps = { config, writer, log: createLogger({ level: 'silent' }), mode: 'DEMO', exchange };
    const engine = new Engine(deps);
    const M = LONG ? 300 : 60;
    try {
      await engine.start([await STAGE_FACTORIES.intent_executor(deps)]);
      armed = true;
      const now = Date.now();
      const p = r.pipeline();
      for (let i = 0; i < M; i++) {
        const symbol = SYMBOLS[i % SYMBOLS.length];
        const price = PRICES[symbol];
        const qty = Math.ceil((150 / price) * 1000) / 1000;
        const f = encode('apply.approved', {
          plan_id: `pb-${i}`, intent_id: `ib-${i}`, ts: now, symbol, action: 'OPEN', side: i % 2 ? 'SELL' : 'BUY',
          qty, price, notional: qty * price, leverage: 5, sl_price: 0, tp_price: 0, reduceOnly: false, source: 'faults', permit_id: `pm-${i}`,
        } as never);
        p.xadd(names.stream('apply.approved'), '*', ...Object.entries(f).flat());
      }
      await p.exec();
      await waitFor(async () => (await r.xlen(names.stream('apply.result'))) >= M, 300_000, 'every plan answered');
      await waitFor(async () => (await pending(r, names.stream('apply.approved'), 'intent_executor')) === 0, 20000, 'nothing pending');
    } finally {
      await engine.stop();
      await exchange.stop();
      await fake.close();
    }
    const results = await entries(r, names.stream('apply.result'));
    const perPlan = new Map<string, number>();
    for (const x of results) perPlan.set(x.plan_id, (perPlan.get(x.plan_id) ?? 0) + 1);
    expect(perPlan.size).toBe(M);
    expect([...perPlan.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    const cids = fake.orders.map((o) => String(o.clientOrderId));
    expect(cids.length - new Set(cids).size, 'client order ids sent twice').toBe(0);
    const executed = results.filter((x) => x.executed === 'true');
    expect(results.filter((x) => x.executed !== 'true').map((x) => `${x.reason} ${x.detail}`).slice(0, 3)).toEqual([]);
    expect(fake.orders.length).toBe(executed.length);
    for (let i = 0; i < M; i++) expect(['FILLED', 'REJECTED']).toContain(await r.hget(names.order(clientOrderIdFor(`pb-${i}`)), 'status'));
    for (const s of SYMBOLS) {
      const h = await r.hgetall(names.position(s));
      const engineQty = Number(h.qty ?? 0) * (h.side === 'SHORT' ? -1 : 1);
      const fp = fake.positions.get(s);
      const fakeQty = fp ? fp.qty * (fp.side === 'SHORT' ? -1 : 1) : 0;
      expect(engineQty, `${s} engine = exchange`).toBeCloseTo(fakeQty, 6);
    }
    console.info(`binance faults: ${M} plans, executed ${executed.length}, exchange orders ${fake.orders.length}, injected ${JSON.stringify(injected)}`);
    expect(injected.timeout_after).toBeGreaterThanOrEqual(3);
    expect(injected.rate_limit + injected.server_error).toBeGreaterThan(0);
  }, LONG ? 1_800_000 : 600_000);
});
