/**
 * -2022 "ReduceOnly Order is rejected" on a reduce-only order is news about the
 * exchange's state, not a transient error (BINANCE-USDM-RULES.md; ccxt#9001; freqtrade#6739:
 * the local state was stale): the exchange has nothing to reduce on that side. The
 * executor re-reads the symbol's exchange position at once and this module builds the
 * writes that make the engine's position and snapshot say the same, plus a resync record
 * in `{prefix}:exchange:resync` (shown as POSITION_DRIFT `positions:resync` by `qt diagnose`
 * and the console). With the engine's record in line, no exit is sent for it again.
 */
import { formatNumber } from '../../contract/fields.js';
import type { ApplyApproved } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import type { ExchangePosition } from '../exchange/types.js';
import type { StateWrite } from '../runtime/types.js';

export interface Resync {
  /** Written in the plan's commit (position, snapshot, resync record). */
  write: StateWrite;
  /** Appended to the refusal's detail: `; resynced: engine had LONG 0.001, exchange holds flat`. */
  detail: string;
  record: { symbol: string; ts: number; code: number | string; plan_id: string; cause: string; engine: { side: string; qty: number } | null; exchange: { side: string; qty: number } | null; action: string };
}

/**
 * The resync of `plan.symbol` to the exchange's `positions` (all of them, as fetched),
 * given the engine's position hash `before` (empty when none). Pure.
 */
export function resyncTo(names: Names, plan: ApplyApproved, code: number | string, positions: ExchangePosition[], before: Record<string, string>, now: number): Resync {
  const x = positions.find((p) => p.symbol === plan.symbol && Math.abs(p.qty) > 0);
  const record: Resync['record'] = {
    symbol: plan.symbol, ts: now, code, plan_id: plan.plan_id, cause: `${code} on reduce-only ${plan.side} ${plan.qty}`,
    engine: before.qty ? { side: before.side ?? '', qty: Number(before.qty) } : null,
    exchange: x ? { side: x.side, qty: Math.abs(x.qty) } : null,
    action: x ? 'adopted the exchange position' : 'removed the engine position',
  };
  const write: StateWrite = (tx) => {
    if (x) {
      tx.hset(names.position(plan.symbol), {
        symbol: plan.symbol, side: x.side, qty: formatNumber(Math.abs(x.qty)), entry_price: formatNumber(x.entryPrice), updated_at: String(now),
        ...(before.side === x.side ? {} : { opened_at: String(now), plan_id: 'resync', sl_price: '0', tp_price: '0', initial_risk_usd: '0', leverage: formatNumber(x.leverage) }),
      });
      tx.hset(names.snapshot(plan.symbol), {
        qty: formatNumber(Math.abs(x.qty)), side: x.side, entry_price: formatNumber(x.entryPrice), mark_price: formatNumber(x.markPrice),
        unrealized_pnl: formatNumber(+x.unrealizedPnl.toFixed(8)), leverage: formatNumber(x.leverage), ts: String(now),
      });
    } else {
      tx.del(names.position(plan.symbol));
      tx.del(names.snapshot(plan.symbol));
    }
    tx.hset(names.exchangeResync(), plan.symbol, JSON.stringify(record));
  };
  const was = record.engine ? `${record.engine.side} ${record.engine.qty}` : 'none';
  const is = record.exchange ? `${record.exchange.side} ${record.exchange.qty}` : 'flat';
  return { write, record, detail: `; resynced: engine had ${was}, exchange holds ${is}` };
}
