/**
 * The reconciler's half of protective stops (issue 18): a stop that fired on the exchange while
 * the engine was down (or between two passes) is learnt from the exchange, never guessed: each
 * `{prefix}:protect:{SYMBOL}` record's order is looked up by its client algo id, and a fired one
 * (TRIGGERED / FINISHED) is booked on the engine's position and ledger once (one guarded script:
 * the record is deleted in the same step, and the ledger's `last_stop_booked` names the stop, so a
 * record of the same stop written again later is dropped, never booked twice). A stop the exchange no longer holds (cancelled, expired,
 * unknown) while the record says ACTIVE becomes LOST, which harvest_brain re-places.
 *
 * The fill: the paper exchange's trigger order is found by its client id (`qtpx-{algoId}`,
 * paper-algo.ts) and was announced on `execution.result` by the paper exchange itself; on another
 * exchange the engine announces it here, with the order found through `fetchOrderByClientId`
 * when the exchange can, else closed at the stop price with the exchange's position as the
 * quantity (a Binance trigger creates a new order whose client id we do not choose).
 */
import { encode, type ExecutionResult, type Fields } from '../../contract/messages.js';
import { readPosition } from '../../contract/state.js';
import { triggerClientOrderId } from '../exchange/paper-algo.js';
import type { ExchangePosition, OrderAck } from '../exchange/types.js';
import { APPLY_FILL_FN, applyFillArgs } from '../stages/executor-position.js';
import { positionRefOf, protectedSymbols, readProtect, type StopDeps } from './stops.js';

/**
 * KEYS: protect, position, ledger, execution.result. ARGV: client_algo_id, position ref, fill args
 * JSON ('' = leave the position), pnl, fee, now, maxlen, then the execution.result fields (none: not announced).
 */
const BOOK_LUA = APPLY_FILL_FN + `
local st = redis.call('HMGET', KEYS[1], 'client_algo_id', 'position_ref', 'status')
if st[2] ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[3], 'last_stop_booked') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 0
end
if ARGV[3] ~= '' then
  local cur = redis.call('HMGET', KEYS[2], 'opened_at', 'side')
  if (cur[1] or '') .. '|' .. (cur[2] or '') == ARGV[2] then apply_fill(KEYS[2], cjson.decode(ARGV[3])) end
end
redis.call('HINCRBYFLOAT', KEYS[3], 'realized_pnl', ARGV[4])
redis.call('HINCRBYFLOAT', KEYS[3], 'fees', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'trades', 1)
redis.call('HSET', KEYS[3], 'last_plan_id', ARGV[1], 'last_stop_booked', ARGV[1], 'updated_at', ARGV[6])
if #ARGV > 7 then redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', unpack(ARGV, 8)) end
redis.call('DEL', KEYS[1])
return 1
`;

const LOST_LUA = `
if redis.call('HGET', KEYS[1], 'status') == 'ACTIVE' and redis.call('HGET', KEYS[1], 'client_algo_id') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'status', 'LOST', 'error', ARGV[2], 'updated_at', ARGV[3])
  return 1
end
return 0
`;

export interface LearnResult {
  /** Symbols whose fired stop was booked now. */
  booked: { symbol: string; qty: number; price: number; realizedPnl: number; clientAlgoId: string }[];
  /** Symbols whose stop the exchange no longer holds. */
  lost: string[];
}

/**
 * One pass over every protect record (the reconciler calls it each poll, and so at start). Exchange
 * errors are thrown (the reconciler backs off); `positions` is the exchange's, from the same poll.
 */
export async function learnTriggered(d: StopDeps & { streamMaxLen: number; fetchOrder?: (symbol: string, cid: string) => Promise<OrderAck | null> }, positions: ExchangePosition[]): Promise<LearnResult> {
  const out: LearnResult = { booked: [], lost: [] };
  const x = d.exchange;
  const names = d.names;
  for (const sym of await protectedSymbols(d.redis, names)) {
    const rec = readProtect(sym, await d.redis.hgetall(names.protect(sym)));
    if (!rec || !rec.client_algo_id) continue;
    let o = await x.fetchConditionalOrder(sym, rec.client_algo_id);
    if (rec.status === 'REPLACING' && rec.next_client_algo_id && !(o && ['TRIGGERING', 'TRIGGERED', 'FINISHED'].includes(o.status))) {
      const n = await x.fetchConditionalOrder(sym, rec.next_client_algo_id);
      if (n && ['TRIGGERED', 'FINISHED'].includes(n.status)) o = n;
      else continue; // a move in progress: harvest_brain completes it
    }
    if (o && o.status === 'TRIGGERING') continue;
    if (o && (o.status === 'TRIGGERED' || o.status === 'FINISHED' || rec.status === 'TRIGGERED')) {
      if (o.status === 'TRIGGERED' && x.name === 'paper') continue; // its fill is being booked by the paper exchange
      const engineRaw = await d.redis.hgetall(names.position(sym));
      const pos = readPosition(sym, engineRaw);
      const mine = pos && positionRefOf(pos) === rec.position_ref ? pos : null;
      let ack: OrderAck | null = null;
      // The trigger's order: on paper its client id is known; elsewhere the exchange chose it: its fill
      // price is the algo order's `actualPrice` (Query Algo Order) when Binance gives one, else the stop price.
      if (d.fetchOrder && x.name === 'paper') ack = await d.fetchOrder(sym, triggerClientOrderId(o.algoId)).catch(() => null);
      const exPos = positions.find((p) => p.symbol === sym && p.side === rec.side);
      const qty = ack ? ack.filledQty : mine ? Math.max(0, mine.qty - (exPos ? Math.abs(exPos.qty) : 0)) : 0;
      const price = ack ? ack.avgPrice : o.triggeredPrice && o.triggeredPrice > 0 ? o.triggeredPrice : o.stopPrice;
      const sideDir = rec.side === 'LONG' ? 1 : -1;
      const pnl = ack ? ack.realizedPnl : mine ? (price - mine.entry_price) * qty * sideDir : 0;
      const fee = ack ? ack.fee : 0;
      const now = d.now();
      const step = x.rules(sym)?.marketStepSize ?? 0;
      const fill = mine && qty > 0
        ? JSON.stringify(applyFillArgs({ side: o.side, qty, price, ts: ack?.ts || now }, { symbol: sym, leverage: mine.leverage, sl_price: 0, tp_price: 0, plan_id: o.clientAlgoId, reduceOnly: true }, step))
        : '';
      const args: string[] = [rec.client_algo_id, rec.position_ref, fill, String(pnl), String(fee), String(now), String(d.streamMaxLen)];
      if (x.name !== 'paper' && qty > 0) {
        const exec: ExecutionResult = {
          order_id: ack?.orderId ?? o.triggeredOrderId ?? o.algoId, client_order_id: ack?.clientOrderId || o.clientAlgoId, plan_id: o.clientAlgoId, symbol: sym,
          side: o.side, qty, price, fee, status: 'FILLED', reduceOnly: true, realized_pnl: pnl, ts: ack?.ts || now,
        };
        const f: Fields = encode('execution.result', exec);
        for (const [k, v] of Object.entries(f)) args.push(k, v);
      }
      const done = (await d.redis.eval(BOOK_LUA, 4, names.protect(sym), names.position(sym), names.ledger(sym), names.stream('execution.result'), ...args)) as number;
      if (done) {
        out.booked.push({ symbol: sym, qty, price, realizedPnl: pnl, clientAlgoId: o.clientAlgoId });
        d.log.warn('protective stop fired on the exchange: booked on the engine position', { symbol: sym, qty, price, realized_pnl: +pnl.toFixed(8), client_algo_id: o.clientAlgoId, price_from: ack ? 'fill' : 'stop price' });
      }
      continue;
    }
    if (rec.status === 'ACTIVE' && (!o || o.status !== 'NEW')) {
      const why = o ? `stop ${rec.client_algo_id} is ${o.status} on the exchange` : `the exchange does not know stop ${rec.client_algo_id}`;
      if ((await d.redis.eval(LOST_LUA, 1, names.protect(sym), rec.client_algo_id, why, String(d.now()))) === 1) {
        out.lost.push(sym);
        d.log.warn('protective stop lost on the exchange: harvest_brain places a new one', { symbol: sym, detail: why });
      }
    }
  }
  return out;
}
