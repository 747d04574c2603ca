/**
 * The whole pipeline on Binance through ccxt, against the fake server: live prices from
 * the Binance price source, rules and orders from the Binance adapter, positions checked
 * by the reconciler. The fake's prices follow a seeded random walk so signals happen.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { fieldsFromArray } from '../src/contract/messages.js';
import { silentLogger } from '../src/log.js';
import { Engine, type EngineDeps } from '../src/engine/engine.js';
import type { AnyStage } from '../src/engine/runtime/types.js';
import { createBinanceExchange } from '../src/engine/exchange/binance/adapter.js';
import { createBinancePriceSource } from '../src/engine/exchange/binance/price-source.js';
import { GbmPriceSource } from '../src/engine/market/gbm.js';
import { createMarketStage } from '../src/engine/stages/market.js';
import { STAGE_FACTORIES } from '../src/engine/stages/index.js';
import { ensurePolicy, policyFromConfig } from '../src/engine/state/policy.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';
import { startFakeBinance } from './helpers/fake-binance.js';

afterAll(closeAll);

describe('pipeline on Binance (fake) through ccxt', () => {
  it('signals become Binance orders and fills; Redis positions match the exchange', async () => {
    const fake = await startFakeBinance({ balance: 100_000 });
    const r = testRedis();
    const config = loadConfig({
      env: {
        REDIS_URL: testRedisUrl(),
        QT_PREFIX: uniquePrefix('bnc'),
        QT_EXCHANGE: 'binance',
        QT_MARKET: 'binance',
        BINANCE_API_KEY: fake.apiKey,
        BINANCE_API_SECRET: fake.secret,
        QT_SYMBOLS: 'BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT',
        QT_MARKET_TICK_MS: '100',
        QT_SIGNAL_INTERVAL_MS: '300',
        QT_TRADER_COOLDOWN_MS: '500',
        QT_HEARTBEAT_MS: '500',
        QT_BLOCK_MS: '200',
        QT_RECONCILE_MS: '500',
        QT_LOG_LEVEL: 'silent',
      },
    });
    const names = config.names;
    const opts = { fetchImplementation: fake.fetch, enableRateLimit: false };
    const exchange = await createBinanceExchange(config, silentLogger, opts);
    await exchange.start();
    // The fake's prices walk (seeded) so the models see movement.
    const gbm = new GbmPriceSource({ seed: 7 });
    const walk = setInterval(() => {
      void gbm.quotes(config.symbols, Date.now()).then((q) => {
        for (const [s, x] of q) fake.setPrice(s, x.price, { mark: x.mark });
      });
    }, 50);
    const source = await createBinancePriceSource(config, opts);
    await ensurePolicy(r, names, policyFromConfig(config));
    const deps: EngineDeps = { config, writer: r, log: silentLogger, mode: 'DEMO', exchange };
    const stages: AnyStage[] = [createMarketStage({ config, source })];
    for (const n of ['ai_engine', 'autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor', 'reconciler']) stages.push(await STAGE_FACTORIES[n](deps));
    const engine = new Engine(deps);
    await engine.start(stages);
    const results = async () => ((await r.xrange(names.stream('apply.result'), '-', '+')) as [string, string[]][]).map(([, f]) => fieldsFromArray(f));
    try {
      await waitFor(async () => (await results()).filter((x) => x.executed === 'true').length >= 3, 60_000, 'three executed orders on the fake');
    } finally {
      await engine.stop();
      clearInterval(walk);
    }
    try {
      // Every executed result is one order on the exchange, under its client id; no order twice.
      const executed = (await results()).filter((x) => x.executed === 'true');
      const cids = fake.orders.map((o) => String(o.clientOrderId));
      expect(new Set(cids).size).toBe(cids.length);
      for (const res of executed) expect(cids).toContain(res.client_order_id);
      expect(fake.orders.length).toBeGreaterThanOrEqual(executed.length);
      // Every signed call passed the fake's key and signature check.
      expect(fake.calls.filter((c) => c.status === 401)).toEqual([]);
      // The engine's open positions are the exchange's (the reconciler's view).
      const onExchange = await exchange.fetchPositions();
      expect(onExchange.length).toBeGreaterThan(0);
      for (const s of config.symbols) {
        const h = await r.hgetall(names.position(s));
        const p = onExchange.find((x) => x.symbol === s);
        if (!p) expect(Number(h.qty ?? 0), `${s} flat`).toBe(0);
        else {
          expect(h.side, `${s} side`).toBe(p.side);
          expect(Number(h.qty), `${s} qty`).toBeCloseTo(p.qty, 9);
        }
      }
      const rc = await r.hgetall(names.service('reconciler'));
      expect(rc.mode).toBe('DEMO');
      expect(fake.calls.some((c) => c.path === '/fapi/v2/positionRisk')).toBe(true);
    } finally {
      await exchange.stop();
      await fake.close();
    }
  });
});
