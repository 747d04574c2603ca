import { afterAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/contract/messages.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { closeAll, testNames, testRedis } from '../helpers/redis.js';

afterAll(closeAll);

describe('the read model of a position', () => {
  it('carries the position\'s latest fills, newest first, from execution.result', async () => {
    const r = testRedis();
    const names = testNames();
    const now = Date.now();
    await r.hset(names.position('BTCUSDT'), { symbol: 'BTCUSDT', side: 'LONG', qty: '0.01', entry_price: '60000', leverage: '5', initial_risk_usd: '6' });
    const fill = (i: number, symbol: string, side: 'BUY' | 'SELL', qty: number) =>
      encode('execution.result', {
        order_id: `o${i}`, client_order_id: `qt-${i}`, plan_id: `p${i}`, symbol, side, qty, price: 60000 + i, fee: 0.1,
        status: 'FILLED', reduceOnly: side === 'SELL', realized_pnl: side === 'SELL' ? 1.5 : 0, ts: now - 1000 * (10 - i),
      });
    for (const [i, sym, side, q] of [[1, 'BTCUSDT', 'BUY', 0.013], [2, 'ETHUSDT', 'BUY', 1], [3, 'BTCUSDT', 'SELL', 0.003]] as const) {
      await r.xadd(names.stream('execution.result'), '*', ...Object.entries(fill(i, sym, side, q)).flat());
    }
    const snap = await collectSnapshot(r, names, { windowMs: 3600_000 });
    const row = snap.positions.rows.find((x) => x.symbol === 'BTCUSDT')!;
    expect(row.history?.map((h) => [h.side, h.qty, h.reduce_only])).toEqual([
      ['SELL', 0.003, true],
      ['BUY', 0.013, false],
    ]);
    expect(row.history?.[0].realized_pnl).toBe(1.5);
  });
});

describe('drift against a snapshot older than the engine', () => {
  it('does not report a position the engine closed after the snapshot was taken, and reports one it never had', async () => {
    const r = testRedis();
    const names = testNames();
    const now = Date.now();
    const snap = { qty: '126', side: 'SHORT', entry_price: '1.5', mark_price: '1.5', unrealized_pnl: '0', ts: String(now - 20_000) };
    await r.hset(names.snapshot('SUIUSDT'), snap);
    await r.hset(names.ledger('SUIUSDT'), { realized_pnl: '1', updated_at: String(now - 5_000) }); // closed after the snapshot
    await r.hset(names.snapshot('DOTUSDT'), snap);
    await r.hset(names.ledger('DOTUSDT'), { realized_pnl: '0', updated_at: String(now - 60_000) }); // nothing since
    const s = await collectSnapshot(r, names, { windowMs: 3600_000 });
    expect(s.positions.exchange_only.map((x) => x.symbol)).toEqual(['DOTUSDT']);
  });
});
