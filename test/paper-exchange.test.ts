import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Names } from '../src/contract/names.js';
import { UsageError } from '../src/errors.js';
import { loadMarkets, packageRoot, SNAPSHOT_FILE } from '../src/engine/exchange/markets.js';
import { PaperExchange, type PaperOptions } from '../src/engine/exchange/paper.js';
import { ExchangeError, type OrderRequest } from '../src/engine/exchange/types.js';
import { closeAll, testNames, testRedis, uniquePrefix } from './helpers/redis.js';

const redis = testRedis();
let names: Names;

beforeEach(() => {
  names = testNames(uniquePrefix('paper'));
});
afterAll(closeAll);

function paper(o: Partial<PaperOptions> = {}): PaperExchange {
  return new PaperExchange({ redis, names, balance: 10000, slippageBps: 0, takerFee: 0.0004, ...o });
}
async function setMark(symbol: string, mark: number): Promise<void> {
  await redis.hset(names.price(symbol), { price: String(mark), mark: String(mark), ts: String(Date.now()), source: 'test' });
}
let seq = 0;
function order(o: Partial<OrderRequest> = {}): OrderRequest {
  return { symbol: 'BTCUSDT', side: 'BUY', qty: 0.002, reduceOnly: false, clientOrderId: `qt-test-${++seq}`, leverage: 10, ...o };
}
async function refusal(p: Promise<unknown>): Promise<ExchangeError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ExchangeError) return e;
    throw e;
  }
  throw new Error('expected an ExchangeError, the call succeeded');
}

describe('market rules', () => {
  it('loads the 2025-10-30 snapshot with the filters Binance enforces', () => {
    const m = loadMarkets();
    expect(m.size).toBe(14);
    expect([...m.keys()]).toEqual(expect.arrayContaining(['BTCUSDT', 'ETHUSDT', 'ALGOUSDT', 'AEVOUSDT']));
    const btc = m.get('BTCUSDT')!;
    expect(btc).toMatchObject({ tickSize: 0.1, marketStepSize: 0.001, marketMinQty: 0.001, marketMaxQty: 120, maxQty: 1000, minNotional: 100, maxLeverage: 125, pricePrecision: 2, quantityPrecision: 3 });
    expect(m.get('AEVOUSDT')!.tickSize).toBe(0.00001);
  });

  it('QT_MARKETS_FILE replaces the snapshot, and a bad file is an error naming the variable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-markets-'));
    const doc = JSON.parse(readFileSync(join(packageRoot(), SNAPSHOT_FILE), 'utf8'));
    doc.symbols = doc.symbols.filter((s: { symbol: string }) => s.symbol === 'ETHUSDT');
    const file = join(dir, 'one.json');
    writeFileSync(file, JSON.stringify(doc));
    expect([...loadMarkets(file).keys()]).toEqual(['ETHUSDT']);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"symbols": "nope"}');
    expect(() => loadMarkets(bad)).toThrow(UsageError);
    expect(() => loadMarkets(bad)).toThrow(/QT_MARKETS_FILE/);
    expect(() => loadMarkets(join(dir, 'missing.json'))).toThrow(/QT_MARKETS_FILE.*ENOENT/);
  });
});

describe('paper exchange refuses what Binance refuses, with Binance codes', () => {
  it('unknown symbol is -1121 symbol_not_allowed', async () => {
    const e = await refusal(paper().submitMarketOrder(order({ symbol: 'DOGEUSDT' })));
    expect([e.code, e.reason]).toEqual([-1121, 'symbol_not_allowed']);
  });

  it('a quantity off the MARKET_LOT_SIZE step is -1111 precision_invalid', async () => {
    await setMark('BTCUSDT', 100000);
    const e = await refusal(paper().submitMarketOrder(order({ qty: 0.0015 })));
    expect([e.code, e.reason]).toEqual([-1111, 'precision_invalid']);
  });

  it('under minQty is -1013 below_min_qty and over maxQty is -4005 invalid_quantity', async () => {
    await setMark('BTCUSDT', 100000);
    const markets = new Map(loadMarkets());
    markets.set('BTCUSDT', { ...markets.get('BTCUSDT')!, marketMinQty: 0.005 });
    const low = await refusal(paper({ markets }).submitMarketOrder(order({ qty: 0.004 })));
    expect([low.code, low.reason]).toEqual([-1013, 'below_min_qty']);
    const high = await refusal(paper().submitMarketOrder(order({ qty: 121 })));
    expect([high.code, high.reason]).toEqual([-4005, 'invalid_quantity']);
    expect(high.message).toMatch(/121\.000 > maxQty 120\.000/);
  });

  it('under MIN_NOTIONAL is -4164 below_min_notional with the numbers', async () => {
    await setMark('BTCUSDT', 70610);
    const e = await refusal(paper().submitMarketOrder(order({ qty: 0.001 })));
    expect([e.code, e.reason]).toEqual([-4164, 'below_min_notional']);
    expect(e.message).toContain('notional 70.61 < min 100.00');
    expect(await redis.llen(names.paperOrderLog())).toBe(0);
  });

  it('reduce-only that would open or grow a position is -2022', async () => {
    await setMark('BTCUSDT', 60000);
    const ex = paper();
    const none = await refusal(ex.submitMarketOrder(order({ side: 'SELL', reduceOnly: true })));
    expect([none.code, none.reason]).toEqual([-2022, 'exchange_rejected']);
    await ex.submitMarketOrder(order({ side: 'BUY', qty: 0.002 }));
    const grow = await refusal(ex.submitMarketOrder(order({ side: 'BUY', qty: 0.002, reduceOnly: true })));
    expect(grow.code).toBe(-2022);
  });

  it('leverage over the symbol cap is -4028 leverage_exceeds_max', async () => {
    const ex = paper();
    const btc = await refusal(ex.setLeverage('BTCUSDT', 150));
    expect([btc.code, btc.reason]).toEqual([-4028, 'leverage_exceeds_max']);
    // AEVOUSDT's bracket 1 is 50x in the shipped snapshot (data/binance-usdm-leverageBracket.json)
    expect((await refusal(ex.setLeverage('AEVOUSDT', 51))).code).toBe(-4028);
    await ex.setLeverage('AEVOUSDT', 50);
    await setMark('BTCUSDT', 60000);
    expect((await refusal(ex.submitMarketOrder(order({ leverage: 200 })))).code).toBe(-4028);
  });

  it('an order needing more margin than available is -2019 insufficient_margin', async () => {
    await setMark('BTCUSDT', 60000);
    const ex = paper({ balance: 100 });
    await ex.setLeverage('BTCUSDT', 1);
    const e = await refusal(ex.submitMarketOrder(order({ qty: 0.002 })));
    expect([e.code, e.reason]).toEqual([-2019, 'insufficient_margin']);
    expect(e.message).toMatch(/available 100\.00/);
    await ex.setLeverage('BTCUSDT', 10);
    const ack = await ex.submitMarketOrder(order({ qty: 0.002 }));
    expect(ack.filledQty).toBe(0.002);
    const bal = await ex.fetchBalance();
    expect(bal.available).toBeCloseTo(100 - 0.002 * 60000 * 0.0004 - 12, 6);
  });

  it('no price for the symbol is price_unavailable', async () => {
    const e = await refusal(paper().submitMarketOrder(order({ symbol: 'ETHUSDT', qty: 0.01 })));
    expect(e.reason).toBe('price_unavailable');
  });

  it('a duplicate client order id is -4116 and is filled only once', async () => {
    await setMark('BTCUSDT', 60000);
    const ex = paper();
    const req = order();
    await ex.submitMarketOrder(req);
    const e = await refusal(ex.submitMarketOrder({ ...req }));
    expect([e.code, e.reason]).toEqual([-4116, 'duplicate']);
    expect(await redis.lrange(names.paperOrderLog(), 0, -1)).toEqual([req.clientOrderId]);
    expect((await ex.fetchPositions())[0].qty).toBe(0.002);
  });
});

describe('paper exchange fills like Binance USD-M', () => {
  it('fills at the mark moved by the slippage against the taker, charges the taker fee, realises PnL on reduce', async () => {
    const ex = paper({ slippageBps: 10 });
    await ex.setLeverage('BTCUSDT', 10);
    await setMark('BTCUSDT', 50000);
    const buy = await ex.submitMarketOrder(order({ qty: 0.01 }));
    expect(buy.avgPrice).toBe(50050);
    expect(buy.fee).toBeCloseTo(0.01 * 50050 * 0.0004, 10);
    expect(buy.realizedPnl).toBe(0);
    await setMark('BTCUSDT', 51000);
    const sell = await ex.submitMarketOrder(order({ side: 'SELL', qty: 0.01, reduceOnly: true }));
    expect(sell.avgPrice).toBe(50949);
    expect(sell.realizedPnl).toBeCloseTo((50949 - 50050) * 0.01, 8);
    const bal = await ex.fetchBalance();
    expect(bal.wallet).toBeCloseTo(10000 + 8.99 - buy.fee - sell.fee, 8);
    expect(bal.available).toBeCloseTo(bal.wallet, 8);
    expect(await ex.fetchPositions()).toEqual([]);
    expect(await redis.exists(names.paperPosition('BTCUSDT'))).toBe(0);
  });

  it('a reduce-only close below min notional executes (reduce-only is exempt)', async () => {
    const ex = paper();
    await setMark('BTCUSDT', 60000);
    await ex.submitMarketOrder(order({ qty: 0.002 }));
    await setMark('BTCUSDT', 40000);
    const ack = await ex.submitMarketOrder(order({ side: 'SELL', qty: 0.002, reduceOnly: true }));
    expect(ack.filledQty * 40000).toBeLessThan(100);
    expect(ack.realizedPnl).toBeCloseTo(-40, 8);
    expect(await ex.fetchPositions()).toEqual([]);
  });

  it('a reduce-only order larger than the position fills only the position quantity', async () => {
    const ex = paper();
    await setMark('BTCUSDT', 60000);
    await ex.submitMarketOrder(order({ qty: 0.003 }));
    const ack = await ex.submitMarketOrder(order({ side: 'SELL', qty: 0.01, reduceOnly: true }));
    expect(ack.filledQty).toBe(0.003);
    expect(await ex.fetchPositions()).toEqual([]);
  });

  it('one-way mode: an opposite order larger than the position flips it; adds average the entry', async () => {
    const ex = paper();
    await setMark('BTCUSDT', 60000);
    await ex.submitMarketOrder(order({ qty: 0.002 }));
    await setMark('BTCUSDT', 63000);
    await ex.submitMarketOrder(order({ qty: 0.002 }));
    let [p] = await ex.fetchPositions();
    expect(p).toMatchObject({ side: 'LONG', qty: 0.004, entryPrice: 61500 });
    expect(p.unrealizedPnl).toBeCloseTo(6, 8);
    await ex.submitMarketOrder(order({ side: 'SELL', qty: 0.006 }));
    [p] = await ex.fetchPositions();
    expect(p).toMatchObject({ side: 'SHORT', qty: 0.002, entryPrice: 63000 });
  });

  it('state survives a restart: a new instance on the same prefix sees the position and keeps the balance', async () => {
    await setMark('BTCUSDT', 60000);
    const first = paper();
    await first.start();
    const ack = await first.submitMarketOrder(order({ qty: 0.002 }));
    const before = await first.fetchBalance();
    const second = paper({ balance: 999999 });
    await second.start();
    expect(await second.fetchPositions()).toEqual([expect.objectContaining({ symbol: 'BTCUSDT', side: 'LONG', qty: 0.002 })]);
    expect(await second.fetchBalance()).toEqual(before);
    expect(await second.fetchOrderByClientId('BTCUSDT', ack.clientOrderId)).toEqual(ack);
  });

  it('concurrent orders from two instances are each applied exactly once', async () => {
    await setMark('ETHUSDT', 4000);
    const a = paper();
    const b = paper();
    const acks = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).submitMarketOrder(order({ symbol: 'ETHUSDT', qty: 0.01 }))));
    expect(new Set(acks.map((x) => x.orderId)).size).toBe(30);
    const [p] = await a.fetchPositions();
    expect(p.qty).toBeCloseTo(0.3, 9);
    expect(await redis.llen(names.paperOrderLog())).toBe(30);
    const bal = await a.fetchBalance();
    expect(bal.wallet).toBeCloseTo(10000 - 30 * 0.01 * 4000 * 0.0004, 6);
    expect(bal.available).toBeCloseTo(bal.wallet - (0.3 * 4000) / 10, 6);
  });
});

describe('paper exchange batches', () => {
  it('a batch over three symbols after their prices moved fills at the new marks', async () => {
    const ex = paper({ balance: 100000 });
    const marks: Record<string, number> = { BTCUSDT: 50000, ETHUSDT: 4000, SOLUSDT: 150 };
    for (const [s, m] of Object.entries(marks)) await setMark(s, m);
    const qty: Record<string, number> = { BTCUSDT: 0.01, ETHUSDT: 0.1, SOLUSDT: 4 };
    const batch = () => Object.keys(marks).map((symbol) => order({ symbol, qty: qty[symbol] }));
    const first = await ex.submitMarketOrders!(batch());
    expect(first.map((a) => (a as { avgPrice: number }).avgPrice)).toEqual([50000, 4000, 150]);
    // The marks move behind the cache: the next batch is refused (RETRY) once, reads the
    // three symbols again (one round trip) and fills at the new marks.
    for (const s of Object.keys(marks)) marks[s] *= 1.01;
    for (const [s, m] of Object.entries(marks)) await setMark(s, m);
    const second = await ex.submitMarketOrders!(batch());
    expect(second.map((a) => (a as { avgPrice: number }).avgPrice)).toEqual([50500, 4040, 151.5]);
    const [btc] = (await ex.fetchPositions()).filter((p) => p.symbol === 'BTCUSDT');
    expect(btc.qty).toBeCloseTo(0.02, 9);
  });
});

describe('paper exchange fault injection', () => {
  it('timeout_after performs the order then reports an unknown outcome; the order is found by client id', async () => {
    await setMark('BTCUSDT', 60000);
    const ex = paper();
    ex.failNext('timeout_after');
    const req = order();
    const e = await refusal(ex.submitMarketOrder(req));
    expect(e.unknownOutcome).toBe(true);
    expect(e.retryable).toBe(true);
    const found = await ex.fetchOrderByClientId('BTCUSDT', req.clientOrderId);
    expect(found).toMatchObject({ clientOrderId: req.clientOrderId, status: 'FILLED', filledQty: 0.002 });
  });

  it('rate limit and server errors are retryable and place no order', async () => {
    await setMark('BTCUSDT', 60000);
    const ex = paper();
    ex.failNext('rate_limit');
    ex.failNext('server_error');
    const r1 = await refusal(ex.submitMarketOrder(order()));
    expect([r1.code, r1.reason, r1.retryable]).toEqual([-1003, 'rate_limited', true]);
    const r2 = await refusal(ex.submitMarketOrder(order()));
    expect([r2.reason, r2.retryable, r2.unknownOutcome]).toEqual(['exchange_unavailable', true, false]);
    expect(await redis.llen(names.paperOrderLog())).toBe(0);
  });

  it('a random fault rate fails about that share of calls', async () => {
    let x = 0;
    const random = () => ((x = (x * 9301 + 49297) % 233280) / 233280);
    const ex = paper({ faults: { rate: 0.5, kinds: ['server_error'], random } });
    let failed = 0;
    for (let i = 0; i < 40; i++) await ex.fetchBalance().catch(() => failed++);
    expect(failed).toBeGreaterThan(8);
    expect(failed).toBeLessThan(32);
    expect(ex.injectedFaults.server_error).toBe(failed);
  });
});

describe('issue 17: every Binance rule, decided on current state', () => {
  it('quantity 0 is -4003, too many decimals -1111, off the step within precision -4023 (decimal arithmetic)', async () => {
    await setMark('BTCUSDT', 100000);
    const zero = await refusal(paper().submitMarketOrder(order({ qty: 0 })));
    expect([zero.code, zero.reason]).toEqual([-4003, 'invalid_quantity']);
    // Float noise is what Binance sees as too many decimals (Binance_Futures_python#135).
    const noise = await refusal(paper().submitMarketOrder(order({ qty: 0.1 + 0.2 })));
    expect([noise.code, noise.reason]).toEqual([-1111, 'precision_invalid']);
    // A market whose step is coarser than its precision: 0.003 has 3 decimals but is off a 0.002 step.
    const markets = new Map(loadMarkets());
    markets.set('BTCUSDT', { ...markets.get('BTCUSDT')!, marketStepSize: 0.002, marketMinQty: 0.002 });
    const off = await refusal(paper({ markets }).submitMarketOrder(order({ qty: 0.003 })));
    expect([off.code, off.reason]).toEqual([-4023, 'precision_invalid']);
    expect((await paper({ markets }).submitMarketOrder(order({ qty: 0.004 }))).filledQty).toBe(0.004);
  });

  it('PERCENT_PRICE: a MARKET BUY filling above mark × multiplierUp (or a SELL below × multiplierDown) is -4131 price_band', async () => {
    await setMark('BTCUSDT', 100000);
    // QT_PAPER_SLIPPAGE_BPS=600: BUY would fill at 106,000 > 105,000 (BTCUSDT multiplierUp 1.05).
    const buy = await refusal(paper({ slippageBps: 600 }).submitMarketOrder(order({ qty: 0.002 })));
    expect([buy.code, buy.reason]).toEqual([-4131, 'price_band']);
    expect(buy.message).toContain('BUY at 106000 > mark 100000 × 1.05');
    const sell = await refusal(paper({ slippageBps: 600 }).submitMarketOrder(order({ side: 'SELL', qty: 0.002 })));
    expect([sell.code, sell.reason]).toEqual([-4131, 'price_band']);
    expect(await redis.llen(names.paperOrderLog())).toBe(0);
    // Inside the band (400 bps) it fills.
    expect((await paper({ slippageBps: 400 }).submitMarketOrder(order({ qty: 0.002 }))).avgPrice).toBe(104000);
  });

  it('leverage brackets: above bracket 1 is -4028; position notional past the cap at the leverage is -2027', async () => {
    await setMark('BTCUSDT', 100000);
    const ex = paper({ balance: 20_000_000 });
    expect((await refusal(ex.setLeverage('BTCUSDT', 126))).code).toBe(-4028);
    await ex.setLeverage('BTCUSDT', 125);
    // The issue's case: 10 BTC at 125x is 1,000,000 notional, over bracket 1's 50,000 cap.
    const big = await refusal(ex.submitMarketOrder(order({ qty: 10, leverage: 125 })));
    expect([big.code, big.reason]).toEqual([-2027, 'leverage_bracket']);
    expect(big.message).toContain('position notional 1000000.00');
    expect(big.message).toContain('cap 50000.00 at 125x');
    // The position counts: 0.4 BTC fills (40,000), 0.2 more (60,000) is refused, 0.1 more (50,000) fills.
    await ex.submitMarketOrder(order({ qty: 0.4, leverage: 125 }));
    expect((await refusal(ex.submitMarketOrder(order({ qty: 0.2, leverage: 125 })))).code).toBe(-2027);
    await ex.submitMarketOrder(order({ qty: 0.1, leverage: 125 }));
    // Closing is never capped; at 20x the cap is 20,000,000.
    await ex.submitMarketOrder(order({ side: 'SELL', qty: 0.5, reduceOnly: true, leverage: 125 }));
    await ex.setLeverage('BTCUSDT', 20);
    expect((await ex.submitMarketOrder(order({ qty: 10, leverage: 20 }))).filledQty).toBe(10);
    expect((await ex.submitMarketOrder(order({ qty: 100, leverage: 20 }))).filledQty).toBe(100); // 11,000,000
    const over = await refusal(ex.submitMarketOrder(order({ qty: 100, leverage: 20 }))); // 21,000,000 > 20,000,000
    expect([over.code, over.reason]).toEqual([-2027, 'leverage_bracket']);
  });

  it('a refusal is decided on current Redis state: the same instance accepts once the mark moved (issue 17 reproduction 1)', async () => {
    await setMark('ETHUSDT', 3999.9);
    const ex = paper();
    await ex.setLeverage('ETHUSDT', 1);
    const first = await refusal(ex.submitMarketOrder(order({ symbol: 'ETHUSDT', qty: 0.005, leverage: 1 })));
    expect(first.code).toBe(-4164);
    await setMark('ETHUSDT', 4134.9); // 0.005 × 4134.9 = 20.67 ≥ 20
    const ack = await ex.submitMarketOrder(order({ symbol: 'ETHUSDT', qty: 0.005, leverage: 1 }));
    expect(ack).toMatchObject({ filledQty: 0.005, avgPrice: 4134.9 });
  });

  it('a reduce-only close is decided on current state: another instance opened the position (issue 17 reproduction 2)', async () => {
    await setMark('ETHUSDT', 4000);
    const a = paper();
    const b = paper();
    // a has cached ETHUSDT with no position (its own refused close).
    expect((await refusal(a.submitMarketOrder(order({ symbol: 'ETHUSDT', side: 'SELL', qty: 0.01, reduceOnly: true })))).code).toBe(-2022);
    await b.submitMarketOrder(order({ symbol: 'ETHUSDT', side: 'BUY', qty: 0.01 }));
    const close = await a.submitMarketOrder(order({ symbol: 'ETHUSDT', side: 'SELL', qty: 0.01, reduceOnly: true }));
    expect(close.filledQty).toBe(0.01);
    expect(await a.fetchPositions()).toEqual([]);
    // The batch path too: a's cache says flat, b opened again.
    await b.submitMarketOrder(order({ symbol: 'ETHUSDT', side: 'BUY', qty: 0.02 }));
    const res = await a.submitMarketOrders([
      order({ symbol: 'ETHUSDT', side: 'SELL', qty: 0.01, reduceOnly: true }),
      order({ symbol: 'ETHUSDT', side: 'SELL', qty: 0.01, reduceOnly: true }),
    ]);
    expect(res.map((r) => (r instanceof ExchangeError ? r.code : r.filledQty))).toEqual([0.01, 0.01]);
    expect(await b.fetchPositions()).toEqual([]);
  });
});
