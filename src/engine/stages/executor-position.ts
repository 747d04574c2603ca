/**
 * The client order id of a plan, and what a fill does to the engine's position
 * (CONTRACT.md §2 fields), applied atomically in Redis by a script.
 */
import { createHash } from 'node:crypto';
import type { ApplyApproved } from '../../contract/messages.js';
import { decimalsOf } from '../exchange/precision.js';

/** Binance's client order id charset and length. */
export const CLIENT_ID_RE = /^[.A-Z:/a-z0-9_-]{1,36}$/;

/**
 * `qt-` + the plan id when that is a valid Binance client id; otherwise `qt-` + a hash of
 * the plan id. Deterministic: a resent plan carries the same id, so the exchange (and
 * our order key) can tell it was sent before.
 */
export function clientOrderIdFor(planId: string): string {
  const known = recentIds.get(planId);
  if (known !== undefined) return known;
  const plain = `qt-${planId}`;
  const id = CLIENT_ID_RE.test(plain) ? plain : `qt-${createHash('sha256').update(planId).digest('hex').slice(0, 32)}`;
  // A plan's id is asked for several times while its batch is handled: remember the last few thousand.
  if (recentIds.size >= 4096) recentIds.clear();
  recentIds.set(planId, id);
  return id;
}
const recentIds = new Map<string, string>();

export interface FillFacts {
  side: 'BUY' | 'SELL';
  qty: number;
  price: number;
  ts: number;
}

export type FillPlan = Pick<ApplyApproved, 'symbol' | 'leverage' | 'sl_price' | 'tp_price' | 'plan_id' | 'reduceOnly'>;

/**
 * Applies a fill to the engine's position hash (CONTRACT.md §2) inside Redis, on the
 * position as it is when the batch transaction runs, so that several executors (any
 * number of consumers in the group) and several plans in one batch compound correctly.
 * Rules: adds average the entry price (weighted) and take the plan's SL/TP; reductions
 * keep the entry; a full close deletes the key (a zero-qty hash would be a ghost); a
 * non-reduce-only order larger than the position flips it (one-way mode). A hash that
 * is not an open position (a ghost) is replaced.
 * apply_fill(KEY, A): KEY the position key; A: side, qty, price, ts, symbol, leverage, sl,
 * tp, plan_id, reduceOnly, quantity decimals (applyFillArgs).
 */
export const APPLY_FILL_FN = `
local function apply_fill(KEY, A)
  local h = redis.call('HGETALL', KEY)
  local p = {}
  for i = 1, #h, 2 do p[h[i]] = h[i + 1] end
  local dir = A[1] == 'BUY' and 'LONG' or 'SHORT'
  local fq, fp, ts = tonumber(A[2]), tonumber(A[3]), A[4]
  local lev, sl, tp = A[6], tonumber(A[7]), tonumber(A[8])
  local reduce = A[10] == 'true'
  local m = 10 ^ tonumber(A[11])
  local function q(x) return math.floor(x * m + 0.5) / m end
  local function risk(qty, entry, s) if s > 0 then return qty * math.abs(entry - s) else return 0 end end
  local function num(v) local x = tonumber(v or '') if x then return x else return 0 end end
  local function fresh(qty)
    redis.call('DEL', KEY)
    redis.call('HSET', KEY, 'symbol', A[5], 'side', dir, 'qty', tostring(qty), 'entry_price', tostring(fp),
      'leverage', lev, 'sl_price', tostring(sl), 'tp_price', tostring(tp), 'initial_risk_usd', tostring(risk(qty, fp, sl)),
      'opened_at', ts, 'updated_at', ts, 'plan_id', A[9])
    return 'opened'
  end
  local pq = tonumber(p.qty or '')
  if not pq or pq <= 0 then
    if reduce or fq <= 0 then redis.call('DEL', KEY) return 'none' end
    return fresh(q(fq))
  end
  local pside = (p.side == 'SHORT' or p.side == 'SELL') and 'SHORT' or 'LONG'
  local pe, psl = num(p.entry_price), num(p.sl_price)
  if pside == dir then
    local qty = q(pq + fq)
    local entry = (pq * pe + fq * fp) / qty
    local nsl = psl
    if sl > 0 then nsl = sl end
    local ntp = p.tp_price or '0'
    if tp > 0 then ntp = tostring(tp) end
    redis.call('HSET', KEY, 'symbol', A[5], 'side', dir, 'qty', tostring(qty), 'entry_price', tostring(entry),
      'leverage', lev, 'sl_price', tostring(nsl), 'tp_price', ntp, 'initial_risk_usd', tostring(risk(qty, entry, nsl)),
      'updated_at', ts, 'plan_id', A[9])
    return 'added'
  end
  local rem = q(pq - fq)
  if rem > 0 then
    redis.call('HSET', KEY, 'qty', tostring(rem), 'initial_risk_usd', tostring(risk(rem, pe, psl)), 'updated_at', ts, 'plan_id', A[9])
    return 'reduced'
  end
  if rem < 0 and not reduce then return fresh(q(-rem)) end
  redis.call('DEL', KEY)
  return 'closed'
end
`;

/** The script alone: KEYS[1] position key, ARGV as applyFillArgs. */
export const APPLY_FILL_LUA = APPLY_FILL_FN + 'return apply_fill(KEYS[1], ARGV)';

/** ARGV of APPLY_FILL_LUA. */
export function applyFillArgs(fill: FillFacts, plan: FillPlan, step: number): string[] {
  const d = step > 0 ? Math.min(decimalsOf(step), 12) : 12;
  return [
    fill.side,
    String(fill.qty),
    String(fill.price),
    String(fill.ts),
    plan.symbol,
    String(plan.leverage),
    String(plan.sl_price),
    String(plan.tp_price),
    plan.plan_id,
    plan.reduceOnly ? 'true' : 'false',
    String(d),
  ];
}
