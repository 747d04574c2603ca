/**
 * intent_bridge's decision, as a pure function: a trade intent plus the loaded state
 * (policy, market rules, price, open position) → an `apply.plan`, or a rejection whose
 * detail names its numbers.
 *
 * Sizing (CONTRACT.md §1): by margin, `qty = position_usd × leverage ÷ price` (the
 * seeds divided by leverage and made every order five times too small: Bug #12), or
 * by quantity (legacy `qty`). Quantities are rounded DOWN to the market's
 * MARKET_LOT_SIZE step; entries under min notional (at the mark, as Binance checks it) are
 * upsized, with one step to spare, when the policy allows it and the margin stays within
 * `max_position_usd`. An entry that would take the position past its leverage bracket's
 * notional cap is refused `leverage_bracket` naming the cap.
 */
import type { ReasonCode } from '../../contract/codes.js';
import type { ApplyPlan, TradeIntent } from '../../contract/messages.js';
import type { Policy, PositionState, PriceState } from '../../contract/state.js';
import { notionalCapAt } from '../exchange/leverage-brackets.js';
import { resultingPositionQty } from '../exchange/order-rules.js';
import { ceilToStep, decimalsOf, floorToStep, roundToTick } from '../exchange/precision.js';
import type { MarketRules } from '../exchange/types.js';
import { normaliseAction, reducingSide, type EntryAction } from './actions.js';
import { entryExpiry, originOf, staleExitCheck } from './age-gate.js';

export interface BridgeInput {
  intent: TradeIntent;
  policy: Policy;
  rules: MarketRules | undefined;
  /** From the `price` key. */
  price: PriceState | undefined;
  /** The symbol's open position (exits; entries: the leverage-bracket cap). */
  position: PositionState | undefined;
  now: number;
  planId: string;
}

export type BridgeDecision =
  | { ok: true; plan: ApplyPlan; upsized?: string }
  | { ok: false; reason: ReasonCode; detail: string };

const usd = (n: number) => n.toFixed(2);
const fail = (reason: ReasonCode, detail: string): BridgeDecision => ({ ok: false, reason, detail });

/** Market-order step and min qty (MARKET_LOT_SIZE, falling back to LOT_SIZE). */
export function lot(rules: MarketRules): { step: number; minQty: number; maxQty: number } {
  return {
    step: rules.marketStepSize > 0 ? rules.marketStepSize : rules.stepSize,
    minQty: rules.marketMinQty > 0 ? rules.marketMinQty : rules.minQty,
    maxQty: rules.marketMaxQty > 0 ? rules.marketMaxQty : rules.maxQty,
  };
}

const fmtQty = (q: number, step: number) => q.toFixed(Math.min(Math.max(decimalsOf(step), 0), 12));

export function decideBridge(x: BridgeInput): BridgeDecision {
  const { intent } = x;
  const act = normaliseAction(intent.action);
  if (!act.ok) return fail(act.reason, act.detail);
  const isExit = act.kind === 'exit' || intent.reduceOnly === true;
  const aged = isExit ? null : entryExpiry(`entry intent ${intent.intent_id}`, originOf(intent), x.now, x.policy.entry_max_age_ms);
  if (aged) return fail(aged.reason, aged.detail);
  if (!x.rules) return fail('symbol_not_allowed', `${intent.symbol} is not traded on the exchange (no market rules)`);
  return isExit ? decideExit(x, x.rules, act.kind === 'exit' ? act.fraction : 1, act.kind === 'entry' ? act.action : undefined)
    : decideEntry(x, x.rules, act.action as EntryAction);
}

function decideEntry(x: BridgeInput, rules: MarketRules, side: EntryAction): BridgeDecision {
  const { intent, policy } = x;
  if (policy.allowlist.length === 0) return fail('symbol_not_allowed', `${intent.symbol} not allowed: the policy allowlist is empty`);
  if (!policy.allowlist.includes(intent.symbol)) {
    return fail('symbol_not_allowed', `${intent.symbol} not in allowlist (${policy.allowlist.join(',')})`);
  }
  const px = x.price;
  if (!px) return fail('price_unavailable', `no price for ${intent.symbol}`);
  const age = x.now - px.ts;
  if (age > policy.price_max_age_ms) {
    return fail('price_stale', `price ${px.price} is ${age} ms old > max ${policy.price_max_age_ms} ms`);
  }
  const price = px.price;

  // Sizing: margin form first (the contract's), then legacy qty.
  let leverage: number;
  let rawQty: number;
  if (intent.position_usd !== undefined) {
    if (intent.leverage === undefined) {
      return fail('invalid_quantity', `position_usd ${intent.position_usd} without leverage: expected position_usd+leverage or qty`);
    }
    leverage = intent.leverage;
    rawQty = (intent.position_usd * leverage) / price;
  } else if (intent.qty !== undefined) {
    leverage = intent.leverage ?? 1;
    rawQty = intent.qty;
  } else {
    return fail('invalid_quantity', 'no sizing: expected position_usd+leverage or qty');
  }
  if (!(rawQty > 0) || !Number.isFinite(rawQty)) return fail('invalid_quantity', `quantity ${rawQty} is not positive`);

  const maxLev = Math.min(policy.max_leverage, rules.maxLeverage > 0 ? rules.maxLeverage : Infinity);
  if (leverage > maxLev) {
    const which = policy.max_leverage <= maxLev ? 'policy' : 'market';
    return fail('leverage_exceeds_max', `leverage ${leverage} > max ${maxLev} (${which})`);
  }
  const margin = (rawQty * price) / leverage;
  if (margin > policy.max_position_usd + 1e-9) {
    return fail('exposure_limit', `margin ${usd(margin)} > max_position_usd ${usd(policy.max_position_usd)}`);
  }

  const { step, minQty, maxQty } = lot(rules);
  let qty = floorToStep(rawQty, step);
  let upsized: string | undefined;
  // MIN_NOTIONAL is checked by Binance at the MARK price for market orders (BINANCE-USDM-RULES.md).
  const mark = px.mark > 0 ? px.mark : price;
  const at = mark !== price ? ` at mark ${mark}` : '';
  const short = qty < minQty || qty * mark < rules.minNotional;
  if (short) {
    const why = qty < minQty
      ? `qty ${fmtQty(qty, step)} < min ${fmtQty(minQty, step)}`
      : `notional ${usd(qty * mark)}${at} < min ${usd(rules.minNotional)}`;
    const code: ReasonCode = qty < minQty ? 'below_min_qty' : 'below_min_notional';
    if (!policy.allow_upsize) return fail(code, why);
    // The smallest quantity whose notional at the mark meets the minimum with one step to spare
    // ((qty − step) × mark ≥ min notional), so a mark that moves before the order is checked
    // does not push it back under the minimum (issue 17: 0.005 ETH at 4000.01 was 19.9995 at mark 3999.9).
    let up = Math.max(ceilToStep(rules.minNotional / mark + step, step), ceilToStep(minQty, step));
    if ((up - step) * mark < rules.minNotional) up = Number((up + step).toFixed(decimalsOf(step)));
    const upMargin = (up * price) / leverage;
    if (upMargin > policy.max_position_usd + 1e-9) {
      return fail(code, `${why}; upsizing to ${fmtQty(up, step)} needs margin ${usd(upMargin)} > max_position_usd ${usd(policy.max_position_usd)}`);
    }
    upsized = `${why}: upsized ${fmtQty(qty, step)} → ${fmtQty(up, step)}`;
    qty = up;
  }
  if (maxQty > 0 && qty > maxQty) return fail('invalid_quantity', `qty ${fmtQty(qty, step)} > max ${fmtQty(maxQty, step)}`);

  // Leverage bracket: the position after this order, at the mark, within the cap for this
  // leverage (Binance -2027; BINANCE-USDM-RULES.md, freqtrade#11650).
  const pos = x.position && x.position.qty > 0 ? { side: x.position.side, qty: x.position.qty } : null;
  const after = resultingPositionQty(pos, side === 'BUY' ? 'LONG' : 'SHORT', qty);
  const cap = notionalCapAt(rules.brackets, leverage);
  if (after * mark > cap) {
    const held = pos && pos.side === (side === 'BUY' ? 'LONG' : 'SHORT') ? `position ${usd(pos.qty * mark)} + order ${usd(qty * mark)} = ` : '';
    return fail('leverage_bracket', `position notional ${held}${usd(after * mark)} at mark ${mark} > cap ${usd(cap)} of the leverage bracket for ${leverage}x on ${intent.symbol}`);
  }

  const notional = qty * price;
  const long = side === 'BUY';
  const level = (pct: number | undefined, sign: 1 | -1) =>
    pct && pct > 0 ? Math.max(0, roundToTick(price * (1 + (sign * pct) / 100), rules.tickSize)) : 0;
  const plan: ApplyPlan = {
    ...common(x, price),
    action: 'OPEN',
    side,
    qty,
    notional: round2(notional),
    leverage,
    sl_price: level(intent.sl_pct, long ? -1 : 1),
    tp_price: level(intent.tp_pct, long ? 1 : -1),
    reduceOnly: false,
    margin_usd: round2(notional / leverage),
  };
  return { ok: true, plan, upsized };
}

function decideExit(x: BridgeInput, rules: MarketRules, fraction: number, declaredSide: EntryAction | undefined): BridgeDecision {
  const { intent } = x;
  const pos = x.position;
  if (!pos) return fail('no_position', `no open position for ${intent.symbol}`);
  const side = reducingSide(pos.side);
  // An exit never expires; an old one is re-checked against the position as it is now.
  const stale = staleExitCheck(`exit intent ${intent.intent_id}`, intent.symbol, side, originOf(intent), x.now, x.policy.entry_max_age_ms, pos);
  if (stale) return fail(stale.reason, stale.detail);
  if (declaredSide && declaredSide !== side) {
    return fail('no_position', `reduce-only ${declaredSide} cannot reduce the open ${pos.side} ${intent.symbol} position (needs ${side})`);
  }
  // Exits are not blocked by a stale or missing feed: closing risk must stay possible.
  const price = x.price?.price ?? intent.price ?? (pos.entry_price > 0 ? pos.entry_price : undefined);
  if (!price) return fail('price_unavailable', `no price for ${intent.symbol} (no price key, no intent price, no entry price)`);

  const { step, minQty } = lot(rules);
  if (intent.qty !== undefined && !(intent.qty > 0)) return fail('invalid_quantity', `exit qty ${intent.qty} is not positive`);
  const wanted = Math.min(intent.qty ?? pos.qty * fraction, pos.qty);
  let qty = floorToStep(wanted, step);
  const remainder = pos.qty - qty;
  if (remainder > 0 && remainder < minQty) qty = pos.qty; // a remainder nobody could close: close whole
  if (qty < minQty) {
    return fail('below_min_qty', `exit qty ${fmtQty(qty, step)} (${intent.action} of ${pos.qty}) < min ${fmtQty(minQty, step)}`);
  }
  const whole = qty >= pos.qty;
  const notional = qty * price;
  const plan: ApplyPlan = {
    ...common(x, price),
    action: whole ? 'CLOSE' : 'PARTIAL',
    side,
    qty,
    notional: round2(notional),
    leverage: pos.leverage > 0 ? pos.leverage : 1,
    sl_price: 0,
    tp_price: 0,
    reduceOnly: true,
    margin_usd: round2(notional / (pos.leverage > 0 ? pos.leverage : 1)),
  };
  return { ok: true, plan };
}

function common(x: BridgeInput, price: number) {
  return {
    plan_id: x.planId,
    intent_id: x.intent.intent_id,
    ts: x.now,
    symbol: x.intent.symbol,
    price,
    source: x.intent.source,
    intent_ts: x.intent.ts,
    intent_type: x.intent.intent_type,
    origin_ts: originOf(x.intent),
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;
