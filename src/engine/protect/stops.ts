/**
 * Protective stops resting on the exchange (issue 18, docs/exits-and-risk.md "Stops on the
 * exchange"): every open engine position with a stop price keeps exactly one STOP_MARKET
 * `closePosition=true` order (mark price) on the exchange, so that it is closed even while the
 * engine, its host or Redis is down ("stoploss on exchange", freqtrade).
 *
 * The engine's record of it is `{prefix}:protect:{SYMBOL}` (Names.protect; docs/contract.md):
 * written BEFORE each exchange call that changes it, so a crash at any point is resumed from the
 * record on the next pass (the executor right after a fill, harvest_brain every second):
 *
 *   (none) ─PLACING(cid₁)─▶ ACTIVE(cid₁) ─REPLACING(cid₁→cid₂)─▶ ACTIVE(cid₂) …
 *
 * Client ids are derived from the position (`qtp-{hash(symbol|opened_at|side)}-{seq}`; not the prefix, so a replay of the same data makes the same ids on any prefix), so a
 * placement repeated after a crash or by two processes at once carries the same id and the
 * exchange refuses the second (duplicate → looked up): one stop per position.
 *
 * A move (harvest_brain tightening the stop) is gapless: the new stop is placed first and the old
 * one cancelled after, so the position always has one resting, and two rest only between the two
 * calls (both reduce the position only: they cannot close more than it). Binance refuses a second
 * closePosition stop of the same side while one rests (-4130, "An open stop or take profit order
 * with GTE and closePosition in the direction is existing"; the paper exchange models it), but not
 * a reduce-only STOP_MARKET with a `quantity` (Binance "New Algo Order": quantity + reduceOnly are
 * allowed without closePosition). So moves alternate the two forms: a closePosition stop is
 * replaced by a quantity stop (quantity = the position's, on the MARKET_LOT_SIZE step), which the
 * next move replaces by a closePosition one (no closePosition rests then), and so on. A quantity
 * stop whose quantity no longer equals the position's (a partial close, an add) is replaced the same
 * way, by a closePosition stop at the same price. Only when a quantity stop cannot be placed (the
 * position's quantity is off MARKET_LOT_SIZE's bounds) or -4130 comes anyway (a closePosition stop
 * not ours) does a move cancel first and place after: a gap of one exchange round trip, recorded
 * as `gap_ms`. A crash inside a move leaves REPLACING (its next id and form written before any
 * exchange call), and the next pass (≤ 1 s) completes it.
 *
 * Triggered stops are not booked here: a record whose order fired is marked TRIGGERED and the
 * reconciler (learnTriggered) books the fill on the engine's position.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Names } from '../../contract/names.js';
import type { PositionState } from '../../contract/state.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { ExchangeError, type ConditionalOrder, type Exchange, type MarketRules } from '../exchange/types.js';

/** What a protective stop needs of the exchange: the four Algo Order members (optional in `Exchange`). */
export type StopExchange = Pick<Exchange, 'name' | 'rules'> & Required<Pick<Exchange, 'placeConditionalOrder' | 'cancelConditionalOrder' | 'fetchConditionalOrder' | 'fetchOpenConditionalOrders'>>;

/** Whether this exchange can rest stops (has the four Algo Order members). */
export function canRestStops(x: unknown): x is StopExchange {
  const e = x as Partial<StopExchange> | undefined;
  return !!e && typeof e.placeConditionalOrder === 'function' && typeof e.cancelConditionalOrder === 'function'
    && typeof e.fetchConditionalOrder === 'function' && typeof e.fetchOpenConditionalOrders === 'function';
}

export type ProtectStatus = 'PLACING' | 'ACTIVE' | 'REPLACING' | 'LOST' | 'TRIGGERED' | 'FAILED';

/** `{prefix}:protect:{SYMBOL}` as read. Prices USD, times epoch ms. */
export interface ProtectRecord {
  symbol: string;
  /** `opened_at|side` of the position it protects (ladder.ts positionRef). */
  position_ref: string;
  /** The position's side (LONG: a SELL stop). */
  side: 'LONG' | 'SHORT';
  status: ProtectStatus;
  client_algo_id: string;
  algo_id: string;
  stop_price: number;
  seq: number;
  /** When the position opened (its fill), and when its first stop was resting. */
  opened_at: number;
  placed_at: number;
  /** fill → first stop resting, ms. */
  rest_ms: number;
  /** The resting stop's reduce-only quantity (base asset); 0: closePosition. */
  quantity: number;
  /** Mid-move: the stop being placed. */
  next_client_algo_id: string;
  next_stop_price: number;
  /** Mid-move: the quantity of the stop being placed (base asset); 0: closePosition. */
  next_quantity: number;
  /** Longest time without a resting stop during a move (only the cancel-first fallback has one), ms. */
  gap_ms: number;
  error: string;
  updated_at: number;
}

const num = (v: string | undefined, d = 0) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : d);

export function readProtect(symbol: string, h: Record<string, string> | null | undefined): ProtectRecord | null {
  if (!h || !h.status) return null;
  return {
    symbol,
    position_ref: h.position_ref ?? '',
    side: h.side === 'SHORT' ? 'SHORT' : 'LONG',
    status: h.status as ProtectStatus,
    client_algo_id: h.client_algo_id ?? '',
    algo_id: h.algo_id ?? '',
    stop_price: num(h.stop_price),
    seq: num(h.seq, 1),
    opened_at: num(h.opened_at),
    placed_at: num(h.placed_at),
    rest_ms: num(h.rest_ms, -1),
    quantity: num(h.quantity),
    next_client_algo_id: h.next_client_algo_id ?? '',
    next_stop_price: num(h.next_stop_price),
    next_quantity: num(h.next_quantity),
    gap_ms: num(h.gap_ms),
    error: h.error ?? '',
    updated_at: num(h.updated_at),
  };
}

export function positionRefOf(p: Pick<PositionState, 'opened_at' | 'side'>): string {
  return `${p.opened_at}|${p.side}`;
}

/**
 * `qtp-{24 hex}-{seq}`: ≤ 36 characters (Binance's clientAlgoId limit), the same for the same
 * position (symbol, `opened_at|side`) and step. The prefix is not hashed: one Binance account
 * holds one position per symbol (one-way mode), so symbol and opening time already tell two
 * positions apart, and a replay gives the same ids on a fresh prefix (docs/replay.md).
 */
export function stopClientAlgoId(symbol: string, positionRef: string, seq: number): string {
  return `qtp-${createHash('sha256').update(`${symbol}|${positionRef}`).digest('hex').slice(0, 24)}-${seq}`;
}

/** The stop price on the exchange's tick, rounded toward the mark (never looser than asked). */
export function stopOnTick(side: 'LONG' | 'SHORT', price: number, rules: MarketRules | undefined): number {
  const tick = rules?.tickSize ?? 0;
  if (!(tick > 0)) return price;
  const t = price / tick;
  const k = side === 'LONG' ? Math.ceil(t - 1e-9) : Math.floor(t + 1e-9);
  const d = Math.max(0, Math.min(12, Math.ceil(-Math.log10(tick) - 1e-9)));
  return Number((k * tick).toFixed(d));
}

/**
 * The position's quantity (base asset) as a reduce-only stop's `quantity`: on the MARKET_LOT_SIZE
 * step (nearest, removing float noise: the engine's position is the exchange's, so it is on the
 * step); 0 when no such order can be placed (under marketMinQty, over marketMaxQty, no rules).
 */
export function stopQuantity(qty: number, rules: MarketRules | undefined): number {
  const step = rules?.marketStepSize ?? 0;
  if (!rules || !(step > 0) || !(qty > 0)) return 0;
  const d = Math.max(0, Math.min(12, Math.ceil(-Math.log10(step) - 1e-9)));
  const q = Number((Math.round(qty / step + 1e-9) * step).toFixed(d));
  if (!(q > 0) || q < rules.marketMinQty - 1e-12 || q > rules.marketMaxQty + 1e-12) return 0;
  return q;
}

const FIRED = new Set(['TRIGGERING', 'TRIGGERED', 'FINISHED']);
const fired = (o: ConditionalOrder | null) => !!o && FIRED.has(o.status);
const resting = (o: ConditionalOrder | null) => !!o && o.status === 'NEW';
const isCode = (e: unknown, code: number) => e instanceof ExchangeError && Number(e.code) === code;
/** Binance -4130 (module comment). */
export const CLOSE_POSITION_EXISTS = -4130;
/** Binance -2021 "Order would immediately trigger." */
export const IMMEDIATE_TRIGGER = -2021;

/** Writes the record only while it still belongs to `ref` (or is absent when `ref` is ''). KEYS[1]; ARGV: ref, then field/value pairs. */
const GUARDED_HSET = `
local cur = redis.call('HGET', KEYS[1], 'position_ref') or ''
if cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
`;
/**
 * Starts a record for a new position unless one for it exists; returns the record. Nothing (-1) when
 * the engine's position is no longer the one read (closed or replaced meanwhile: a stale read must not
 * start a record, whose first client id may be a stop already booked). KEYS: protect, position; ARGV: ref, pairs.
 */
const START_LUA = `
local cur = redis.call('HGET', KEYS[1], 'position_ref')
local created = 0
local pos = redis.call('HMGET', KEYS[2], 'opened_at', 'side', 'qty')
if (pos[1] or '') .. '|' .. (pos[2] or '') ~= ARGV[1] or not tonumber(pos[3] or '') or tonumber(pos[3]) <= 0 then
  return {-1, {}}
end
if cur ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
  created = 1
end
return {created, redis.call('HGETALL', KEYS[1])}
`;

export interface StopDeps {
  redis: Redis;
  names: Names;
  exchange: StopExchange;
  now(): number;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
}

export interface EnsureOptions {
  /** 'initial': only place a missing first stop (the executor after a fill); 'all': also move, re-place, clean up (harvest_brain). */
  mode: 'initial' | 'all';
  /** A move smaller than this (USD) is not worth a cancel/replace (default: one tick). */
  minMove?: number;
}

/** What one pass did to a symbol (for logs and tests). */
export type EnsureResult = 'none' | 'placed' | 'active' | 'moved' | 'canceled' | 'triggered' | 'pending' | 'failed';

function pairs(o: Record<string, string | number>): string[] {
  const a: string[] = [];
  for (const [k, v] of Object.entries(o)) a.push(k, String(v));
  return a;
}

/**
 * Brings one symbol's protective stop in line with its engine position: places the first stop
 * (after a fill), resumes a placement or move a crash interrupted, moves it to `desiredStop` (USD)
 * when that differs by at least `minMove`, re-places a stop the exchange lost, and cancels the stop
 * of a position that closed (or flipped). Never throws for exchange errors: they are recorded in
 * the record's `error` and retried on the next pass; Redis errors are thrown.
 */
export async function ensureStop(d: StopDeps, symbol: string, pos: PositionState | null, desiredStop: number, o: EnsureOptions): Promise<EnsureResult> {
  const key = d.names.protect(symbol);
  let rec = readProtect(symbol, await d.redis.hgetall(key));
  const ref = pos ? positionRefOf(pos) : '';
  const rules = d.exchange.rules(symbol);
  try {
    // A record of another (closed or flipped) position: its orders go.
    if (rec && rec.position_ref !== ref) {
      if (rec.status === 'TRIGGERED') return 'triggered'; // the reconciler books it first
      const r = await retire(d, rec);
      if (r === 'triggered') return 'triggered';
      rec = null;
      if (!pos) return 'canceled';
    }
    if (!pos || !(desiredStop > 0)) return 'none';
    const stop = stopOnTick(pos.side, desiredStop, rules);
    const side = pos.side === 'LONG' ? 'SELL' : 'BUY';
    let created = false;
    if (!rec) {
      const cid = stopClientAlgoId(symbol, ref, 1);
      const now = d.now();
      const [c, flat] = (await d.redis.eval(START_LUA, 2, key, d.names.position(symbol), ref, ...pairs({
        position_ref: ref, side: pos.side, status: 'PLACING', client_algo_id: cid, stop_price: stop, seq: 1, opened_at: pos.opened_at, updated_at: now,
      }))) as [number, string[]];
      if (c === -1) return 'none'; // the position changed since it was read: the next pass sees it as it is
      created = c === 1;
      const h: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]] = flat[i + 1];
      rec = readProtect(symbol, h)!;
    }
    switch (rec.status) {
      case 'TRIGGERED':
        return 'triggered';
      case 'PLACING':
        return await place(d, rec, side, rec.client_algo_id, rec.stop_price, !created);
      case 'REPLACING':
        if (o.mode === 'initial') return 'pending';
        return await advance(d, rec, side, false);
      case 'LOST':
      case 'FAILED': {
        if (o.mode === 'initial') return 'pending';
        if (rec.status === 'FAILED' && d.now() - rec.updated_at < 5000) return 'failed';
        const seq = rec.seq + 1;
        const cid = stopClientAlgoId(symbol, ref, seq);
        await guarded(d, rec, { status: 'PLACING', client_algo_id: cid, seq, stop_price: stop, algo_id: '', updated_at: d.now() });
        return await place(d, { ...rec, status: 'PLACING', client_algo_id: cid, seq, stop_price: stop }, side, cid, stop, false);
      }
      case 'ACTIVE': {
        if (o.mode === 'initial') return 'active';
        const minMove = Math.max(o.minMove ?? 0, rules?.tickSize ?? 0) - 1e-12;
        const posQty = stopQuantity(pos.qty, rules);
        // A quantity stop must cover the position exactly: after a partial close or an add it is replaced.
        const qtyOff = rec.quantity > 0 && Math.abs(rec.quantity - (posQty || pos.qty)) > 1e-12;
        if (!qtyOff && (Math.abs(stop - rec.stop_price) < minMove || stop === rec.stop_price)) return 'active';
        const seq = rec.seq + 1;
        const next = stopClientAlgoId(symbol, ref, seq);
        // The form alternates (module comment): closePosition → quantity → closePosition …
        const nextQty = rec.quantity > 0 ? 0 : posQty;
        const moveTo = qtyOff && Math.abs(stop - rec.stop_price) < minMove ? rec.stop_price : stop;
        await guarded(d, rec, { status: 'REPLACING', next_client_algo_id: next, next_stop_price: moveTo, next_quantity: nextQty, updated_at: d.now() });
        return await advance(d, { ...rec, status: 'REPLACING', next_client_algo_id: next, next_stop_price: moveTo, next_quantity: nextQty }, side, true);
      }
    }
    return 'none';
  } catch (e) {
    if (!(e instanceof ExchangeError)) throw e;
    d.log.warn('protective stop: exchange call failed; tried again on the next pass', { symbol, code: e.code, error: e.message.slice(0, 200) });
    await d.redis.hset(key, 'error', `${e.code}: ${e.message}`.slice(0, 300), 'error_at', String(d.now())).catch(() => undefined);
    return 'pending';
  }
}

async function guarded(d: StopDeps, rec: ProtectRecord, fields: Record<string, string | number>): Promise<boolean> {
  return ((await d.redis.eval(GUARDED_HSET, 1, d.names.protect(rec.symbol), rec.position_ref, ...pairs(fields))) as number) === 1;
}

/** Resting now: the record becomes ACTIVE on it (with fill → resting time for the first stop). */
async function activate(d: StopDeps, rec: ProtectRecord, o: ConditionalOrder, seq: number, extra: Record<string, string | number> = {}): Promise<void> {
  const now = d.now();
  const first = !(rec.placed_at > 0);
  await guarded(d, rec, {
    status: 'ACTIVE', client_algo_id: o.clientAlgoId, algo_id: o.algoId, stop_price: o.stopPrice, seq, next_client_algo_id: '', next_stop_price: 0, next_quantity: 0,
    quantity: o.closePosition ? 0 : (o.quantity ?? 0),
    error: '', updated_at: now,
    ...(first ? { placed_at: now, rest_ms: rec.opened_at > 0 ? Math.max(0, now - rec.opened_at) : -1 } : {}),
    ...extra,
  });
  if (first) d.log.info('protective stop resting', { symbol: rec.symbol, stop: o.stopPrice, client_algo_id: o.clientAlgoId, rest_ms: rec.opened_at > 0 ? now - rec.opened_at : undefined });
}

async function triggered(d: StopDeps, rec: ProtectRecord, o: ConditionalOrder): Promise<'triggered'> {
  await guarded(d, rec, { status: 'TRIGGERED', client_algo_id: o.clientAlgoId, algo_id: o.algoId, stop_price: o.stopPrice, triggered_order_id: o.triggeredOrderId ?? '', updated_at: d.now() });
  d.log.warn('protective stop triggered on the exchange', { symbol: rec.symbol, stop: o.stopPrice, client_algo_id: o.clientAlgoId });
  return 'triggered';
}

/**
 * Places (or finds) the stop `cid`. A duplicate / unknown outcome is looked up by client id;
 * -2021 (already crossed) marks the record FAILED (harvest_brain's own exits close it); -4130 (a
 * closePosition stop of this side rests already) cancels our own strays for the symbol.
 */
async function place(d: StopDeps, rec: ProtectRecord, side: 'BUY' | 'SELL', cid: string, stop: number, lookFirst: boolean): Promise<EnsureResult> {
  const x = d.exchange;
  if (lookFirst) {
    // PLACING seen again (a crash, or another process placing it right now): the exchange may have it.
    const found = await x.fetchConditionalOrder(rec.symbol, cid);
    if (resting(found)) return void (await activate(d, rec, found!, rec.seq)), 'active';
    if (fired(found)) return triggered(d, rec, found!);
  }
  try {
    const o = await x.placeConditionalOrder({ symbol: rec.symbol, side, type: 'STOP_MARKET', stopPrice: stop, clientAlgoId: cid });
    await activate(d, rec, o, rec.seq);
    return 'placed';
  } catch (e) {
    if (!(e instanceof ExchangeError)) throw e;
    if (e.reason === 'duplicate' || e.unknownOutcome) {
      const found = await x.fetchConditionalOrder(rec.symbol, cid);
      if (resting(found)) return void (await activate(d, rec, found!, rec.seq)), 'active';
      if (fired(found)) return triggered(d, rec, found!);
      if (found) {
        // Our id, but cancelled or expired: the next step takes a new id.
        await guarded(d, rec, { status: 'LOST', error: `stop ${cid} is ${found.status}`, updated_at: d.now() });
        return 'pending';
      }
      throw e;
    }
    if (isCode(e, IMMEDIATE_TRIGGER)) {
      await guarded(d, rec, { status: 'FAILED', error: `${e.code}: ${e.message}`.slice(0, 300), updated_at: d.now() });
      d.log.warn('protective stop refused: the mark is already past it; harvest_brain closes the position', { symbol: rec.symbol, stop });
      return 'failed';
    }
    if (isCode(e, CLOSE_POSITION_EXISTS)) {
      const strays = (await x.fetchOpenConditionalOrders(rec.symbol)).filter((s) => s.side === side && s.clientAlgoId.startsWith('qtp-') && s.clientAlgoId !== cid);
      for (const s of strays) await x.cancelConditionalOrder(rec.symbol, s.clientAlgoId);
      d.log.warn('protective stop: another closePosition stop rests on this side (-4130); ours cancelled, placing again next pass', { symbol: rec.symbol, strays: strays.map((s) => s.clientAlgoId) });
    }
    throw e;
  }
}

/**
 * Completes a move REPLACING(old → next): place next (a quantity stop when the old one is
 * closePosition, `next_quantity`), then cancel old; only on -4130 (module comment) cancel old
 * first and place next at once (the gap is recorded). Resumable from any point (`fresh`: nothing was
 * sent for this move yet, no look-ups needed).
 */
async function advance(d: StopDeps, rec: ProtectRecord, side: 'BUY' | 'SELL', fresh: boolean): Promise<EnsureResult> {
  const x = d.exchange;
  const sym = rec.symbol;
  const oldCid = rec.client_algo_id;
  const nextCid = rec.next_client_algo_id;
  const stop = rec.next_stop_price;
  const seq = rec.seq + 1;
  // The replacement's form, fixed in the record before any call (quantity 0: closePosition).
  const req = { symbol: sym, side, type: 'STOP_MARKET' as const, stopPrice: stop, clientAlgoId: nextCid, ...(rec.next_quantity > 0 ? { quantity: rec.next_quantity } : {}) };
  let oldO: ConditionalOrder | null = null;
  if (!fresh) {
    const [n, o] = await Promise.all([x.fetchConditionalOrder(sym, nextCid), x.fetchConditionalOrder(sym, oldCid)]);
    oldO = o;
    if (fired(o)) {
      if (resting(n)) await x.cancelConditionalOrder(sym, nextCid);
      return triggered(d, rec, o!);
    }
    if (fired(n)) {
      if (resting(o)) await x.cancelConditionalOrder(sym, oldCid);
      return triggered(d, rec, n!);
    }
    if (resting(n)) {
      await activate(d, rec, n!, seq);
      return resting(o) ? cancelOld(d, rec, oldCid, nextCid) : 'moved';
    }
  }
  const oldResting = fresh || resting(oldO);
  if (oldResting) {
    try {
      // Place first, cancel after: the old one rests until the new one does (no gap).
      const n = await x.placeConditionalOrder(req);
      await activate(d, rec, n, seq);
      return cancelOld(d, rec, oldCid, nextCid);
    } catch (e) {
      if (isCode(e, IMMEDIATE_TRIGGER)) {
        // The new level is already crossed; the old stop still rests: the move is dropped (harvest_brain's own exits close the position).
        await guarded(d, rec, { status: 'ACTIVE', next_client_algo_id: '', next_stop_price: 0, next_quantity: 0, error: `${(e as ExchangeError).code}: ${(e as ExchangeError).message}`.slice(0, 300), updated_at: d.now() });
        d.log.warn('protective stop move refused: the mark is already past the new level; the old stop stays', { symbol: sym, stop, old_stop: rec.stop_price });
        return 'failed';
      }
      if (!isCode(e, CLOSE_POSITION_EXISTS)) throw e;
    }
    // -4130 although the old one is a quantity stop or the new one could not be one (module comment):
    // one closePosition stop per side. Cancel the old one, then place the new one at once (a gap).
    const t0 = d.now();
    const c = await x.cancelConditionalOrder(sym, oldCid);
    if (fired(c)) return triggered(d, rec, c!);
    try {
      const n = await x.placeConditionalOrder(req);
      const gap = d.now() - t0;
      await activate(d, rec, n, seq, { gap_ms: Math.max(gap, rec.gap_ms) });
      d.log.debug('protective stop moved by cancel-then-place (-4130)', { symbol: sym, stop, gap_ms: gap });
      return 'moved';
    } catch (e) {
      if (e instanceof ExchangeError && isCode(e, IMMEDIATE_TRIGGER)) {
        // The new level is already crossed: put the old one back so the position is not left bare.
        const seqBack = seq + 1;
        const back = stopClientAlgoId(sym, rec.position_ref, seqBack);
        const o = await x.placeConditionalOrder({ symbol: sym, side, type: 'STOP_MARKET', stopPrice: rec.stop_price, clientAlgoId: back }).catch(() => null);
        if (o) {
          await activate(d, rec, o, seqBack);
          return 'active';
        }
        await guarded(d, rec, { status: 'LOST', error: `${e.code}: ${e.message}`.slice(0, 300), seq: seqBack, updated_at: d.now() });
        return 'failed';
      }
      throw e; // stays REPLACING: the next pass finds old cancelled, next absent, and places next
    }
  }
  // Old already gone (cancelled by a pass a crash interrupted): place next.
  const n = await x.placeConditionalOrder(req).catch(async (e) => {
    if (e instanceof ExchangeError && (e.reason === 'duplicate' || e.unknownOutcome)) {
      const f = await x.fetchConditionalOrder(sym, nextCid);
      if (f) return f;
    }
    throw e;
  });
  if (fired(n)) return triggered(d, rec, n);
  if (!resting(n)) {
    await guarded(d, rec, { status: 'LOST', seq, error: `stop ${nextCid} is ${n.status}`, updated_at: d.now() });
    return 'pending';
  }
  await activate(d, rec, n, seq);
  return 'moved';
}

/**
 * Cancels the replaced stop. If it fired meanwhile (the mark crossed it during the move), the new
 * one is cancelled too and the record names the fired one (TRIGGERED), so its fill is booked.
 */
async function cancelOld(d: StopDeps, rec: ProtectRecord, cid: string, newCid: string): Promise<EnsureResult> {
  const c = await d.exchange.cancelConditionalOrder(rec.symbol, cid);
  if (!fired(c)) return 'moved';
  d.log.warn('protective stop fired while being replaced; booked from the fired one', { symbol: rec.symbol, client_algo_id: cid });
  await d.exchange.cancelConditionalOrder(rec.symbol, newCid);
  return triggered(d, rec, c!);
}

/** Cancels every order of a record whose position is gone; 'triggered' when one had fired (record kept for the reconciler). */
async function retire(d: StopDeps, rec: ProtectRecord): Promise<'canceled' | 'triggered'> {
  const cids = [rec.client_algo_id, rec.next_client_algo_id].filter(Boolean);
  for (const cid of cids) {
    const c = await d.exchange.cancelConditionalOrder(rec.symbol, cid);
    if (fired(c)) {
      await guarded(d, rec, { status: 'TRIGGERED', client_algo_id: c!.clientAlgoId, algo_id: c!.algoId, triggered_order_id: c!.triggeredOrderId ?? '', updated_at: d.now() });
      return 'triggered';
    }
  }
  await d.redis.eval(`if (redis.call('HGET', KEYS[1], 'position_ref') or '') == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, d.names.protect(rec.symbol), rec.position_ref);
  return 'canceled';
}

/** Every symbol with a protect record. */
export async function protectedSymbols(redis: Redis, names: Names): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', names.protectPattern(), 'COUNT', 500);
    for (const k of keys) {
      const s = names.protectSymbolOf(k);
      if (s) out.push(s);
    }
    cursor = next;
  } while (cursor !== '0');
  return out;
}

/** Logs and swallows: a background placement (the executor's) must not break its caller. */
export function quietly(p: Promise<unknown>, log: Pick<Logger, 'warn'>, what: string): Promise<void> {
  return p.then(() => undefined, (e) => log.warn(`${what} failed; harvest_brain retries it`, { error: errorMessage(e) }));
}
