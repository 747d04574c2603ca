/**
 * The paper exchange's state in Redis (`paper:*` keys from Names): the scripts that apply
 * accepted orders atomically (optimistic concurrency on the account's sequence number and the
 * prices the order was decided on; unseen client ids only), and the readers of its hashes.
 */
import type { PaperPosition } from './paper-fill.js';
import type { OrderAck } from './types.js';

/** Applies one accepted order atomically; refuses when the account changed meanwhile or the id is known. */
export const APPLY_ORDER = `
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
if seq ~= ARGV[1] then return {'RETRY', ''} end
local px = redis.call('HMGET', KEYS[5], 'mark', 'price')
if (px[1] or '') ~= ARGV[4] or (px[2] or '') ~= ARGV[5] then return {'RETRY', ''} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'DUP', ''} end
local p = cjson.decode(ARGV[3])
local oid = redis.call('HINCRBY', KEYS[1], 'order_seq', 1) + 1000000000
redis.call('HINCRBY', KEYS[1], 'seq', 1)
if #p.a > 0 then redis.call('HSET', KEYS[1], unpack(p.a)) end
redis.call('DEL', KEYS[2])
if #p.p > 0 then redis.call('HSET', KEYS[2], unpack(p.p)) end
redis.call('HSET', KEYS[3], 'order_id', tostring(oid), unpack(p.o))
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('RPUSH', KEYS[4], ARGV[2])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[7]), -1)
return {'OK', tostring(oid)}
`;

/**
 * Applies a batch of accepted orders atomically, in order: the same guards as APPLY_ORDER
 * (sequence number, prices, unseen client ids), one round trip for the whole batch.
 * KEYS: account, order log, then per order its position and order keys, then the price keys.
 * ARGV: seq, JSON { n, orders: [{cid, p, o}], a, prices: [[mark, price]...] }.
 */
export const APPLY_BATCH = `
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
if seq ~= ARGV[1] then return {'RETRY'} end
local b = cjson.decode(ARGV[2])
local n = b.n
for i, px in ipairs(b.prices) do
  local cur = redis.call('HMGET', KEYS[2 + 2 * n + i], 'mark', 'price')
  if (cur[1] or '') ~= px[1] or (cur[2] or '') ~= px[2] then return {'RETRY'} end
end
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 + 2 * i]) == 1 then return {'DUP', tostring(i)} end
end
local out = {'OK'}
for i, o in ipairs(b.orders) do
  local oid = redis.call('HINCRBY', KEYS[1], 'order_seq', 1) + 1000000000
  local pk = KEYS[1 + 2 * i]
  redis.call('DEL', pk)
  if #o.p > 0 then redis.call('HSET', pk, unpack(o.p)) end
  redis.call('HSET', KEYS[2 + 2 * i], 'order_id', tostring(oid), unpack(o.o))
  redis.call('EXPIRE', KEYS[2 + 2 * i], b.ttl)
  redis.call('RPUSH', KEYS[2], o.cid)
  out[#out + 1] = tostring(oid)
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
if #b.a > 0 then redis.call('HSET', KEYS[1], unpack(b.a)) end
redis.call('LTRIM', KEYS[2], -b.logmax, -1)
return out
`;

/** A hash field as a number (`d` when missing or not a number). */
export const n = (v: string | undefined, d = 0) => {
  const x = Number(v);
  return v !== undefined && v !== '' && Number.isFinite(x) ? x : d;
};

/** An object as HSET's flat [field, value, …] list. */
export function flat(o: Record<string, string | number | boolean>): string[] {
  const a: string[] = [];
  for (const [k, v] of Object.entries(o)) a.push(k, String(v));
  return a;
}

/** A `paper:position:{SYMBOL}` hash as a position, or null when flat. */
export function readPaperPosition(h: Record<string, string>): PaperPosition | null {
  const qty = n(h.qty);
  if (!(qty > 0)) return null;
  return {
    side: h.side === 'SHORT' ? 'SHORT' : 'LONG',
    qty,
    entryPrice: n(h.entry_price),
    leverage: n(h.leverage, 1),
    margin: n(h.margin),
  };
}

/** A `paper:order:{cid}` hash as the order's acknowledgement, or null when unknown. */
export function ackFromHash(h: Record<string, string>): OrderAck | null {
  if (!h || !h.order_id) return null;
  return {
    orderId: h.order_id,
    clientOrderId: h.client_order_id,
    symbol: h.symbol,
    side: h.side === 'SELL' ? 'SELL' : 'BUY',
    status: (h.status as OrderAck['status']) || 'FILLED',
    filledQty: n(h.filled_qty),
    avgPrice: n(h.avg_price),
    fee: n(h.fee),
    realizedPnl: n(h.realized_pnl),
    reduceOnly: h.reduce_only === 'true',
    ts: n(h.ts),
  };
}

