/**
 * Binance's order rules as pure decisions (src/engine/exchange/order-rules.ts) and the exact
 * decimal arithmetic they use (precision.ts).
 */
import { describe, expect, it } from 'vitest';
import { loadMarkets } from '../src/engine/exchange/markets.js';
import { checkMarketOrder, checkQuantity, type MarketOrderCheck } from '../src/engine/exchange/order-rules.js';
import { compareDecimal, decimalPlaces, floorToStepText, isExactMultiple, numberText, toDecimal } from '../src/engine/exchange/precision.js';
import { ExchangeError } from '../src/engine/exchange/types.js';

const BTC = loadMarkets().get('BTCUSDT')!;
const codeOf = (f: () => void): number | string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof ExchangeError) return e.code;
    throw e;
  }
};
const order = (o: Partial<MarketOrderCheck> = {}): MarketOrderCheck => ({ rules: BTC, side: 'BUY', qty: 0.002, reduceOnly: false, mark: 100000, fillPrice: 100000, position: null, leverage: 10, ...o });

describe('decimal arithmetic', () => {
  it('reads a number through its exact decimal text, exponents included', () => {
    expect(numberText(1e-7)).toBe('0.0000001');
    expect(numberText(1.5e21)).toBe('1500000000000000000000');
    expect(toDecimal('0.00100000')).toEqual({ units: 1n, scale: 3 });
    expect(decimalPlaces(0.1 + 0.2)).toBe(17);
    expect(compareDecimal(0.30000000000000004, '0.3')).toBe(1);
    expect(() => toDecimal('1e5x')).toThrow(TypeError);
  });

  it('multiples and floors are exact', () => {
    expect(isExactMultiple('0.003', '0.001')).toBe(true);
    expect(isExactMultiple(0.1 + 0.2, '0.1')).toBe(false);
    expect(isExactMultiple('0.005', '0.002', '0.001')).toBe(true);
    expect(floorToStepText('0.0129', '0.001')).toBe('0.012');
    expect(floorToStepText(0.30000000000000004, '0.1')).toBe('0.3');
  });
});

describe('order rules', () => {
  it('quantity codes: ≤ 0 -4003, too many decimals -1111, off the step -4023, under min -1013, over the market max -4005', () => {
    expect(codeOf(() => checkQuantity(BTC, 0))).toBe(-4003);
    expect(codeOf(() => checkQuantity(BTC, -1))).toBe(-4003);
    expect(codeOf(() => checkQuantity(BTC, 0.0015))).toBe(-1111);
    expect(codeOf(() => checkQuantity(BTC, '0.0020'))).toBe('ok'); // trailing zeros are not decimals
    const coarse = { ...BTC, marketStepSize: 0.002, marketMinQty: 0.002 };
    expect(codeOf(() => checkQuantity(coarse, 0.003))).toBe(-4023);
    expect(codeOf(() => checkQuantity({ ...BTC, marketMinQty: 0.005 }, 0.004))).toBe(-1013);
    expect(codeOf(() => checkQuantity(BTC, 120))).toBe('ok');
    expect(codeOf(() => checkQuantity(BTC, 120.001))).toBe(-4005);
  });

  it('PERCENT_PRICE: the band edge itself passes; one tick beyond is -4131; reduce-only orders are not exempt', () => {
    expect(codeOf(() => checkMarketOrder(order({ fillPrice: 105000 })))).toBe('ok');
    expect(codeOf(() => checkMarketOrder(order({ fillPrice: 105000.1 })))).toBe(-4131);
    expect(codeOf(() => checkMarketOrder(order({ side: 'SELL', fillPrice: 95000 })))).toBe('ok');
    expect(codeOf(() => checkMarketOrder(order({ side: 'SELL', fillPrice: 94999.9 })))).toBe(-4131);
    expect(codeOf(() => checkMarketOrder(order({ side: 'SELL', reduceOnly: true, position: { side: 'LONG', qty: 1 }, fillPrice: 90000 })))).toBe(-4131);
  });

  it('min notional at the mark, not for reduce-only; the bracket cap on the resulting position, not for reduce-only', () => {
    expect(codeOf(() => checkMarketOrder(order({ qty: 0.001, mark: 99999.9, fillPrice: 99999.9 })))).toBe(-4164);
    expect(codeOf(() => checkMarketOrder(order({ qty: 0.001 })))).toBe('ok'); // 100.00 = the minimum
    expect(codeOf(() => checkMarketOrder(order({ qty: 0.001, side: 'SELL', reduceOnly: true, position: { side: 'LONG', qty: 0.001 } })))).toBe('ok');
    expect(codeOf(() => checkMarketOrder(order({ qty: 0.5, leverage: 125 })))).toBe('ok'); // 50,000 = the cap
    expect(codeOf(() => checkMarketOrder(order({ qty: 0.501, leverage: 125 })))).toBe(-2027);
    // An opposite order only opens what exceeds the position.
    expect(codeOf(() => checkMarketOrder(order({ qty: 1, leverage: 125, side: 'SELL', position: { side: 'LONG', qty: 0.6 } })))).toBe('ok');
    expect(codeOf(() => checkMarketOrder(order({ qty: 1, leverage: 126 })))).toBe(-4028);
    expect(codeOf(() => checkMarketOrder(order({ qty: 5, leverage: 126, side: 'SELL', reduceOnly: true, position: { side: 'LONG', qty: 5 } })))).toBe('ok');
  });
});
