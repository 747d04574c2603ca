/**
 * intent_bridge: reads `trade.intent`, writes `apply.plan` (CONTRACT.md §1). The
 * decision is `decideBridge` (pure); this file only loads what a batch needs — the
 * policy, the batch's prices and, for exits, positions — in one pipelined round trip.
 */
import { createHash } from 'node:crypto';
import type { Policy, PositionState, PriceState } from '../../contract/state.js';
import type { Names } from '../../contract/names.js';
import type { MarketRules } from '../exchange/types.js';
import type { PolicyCache } from '../state/policy.js';
import { positionsFrom } from '../state/positions.js';
import { loadHashes, readPrice } from '../state/prices.js';
import { out, ok, reject, type ConsumerStage, type Delivery, type StageContext } from '../runtime/types.js';
import type { TradeIntent } from '../../contract/messages.js';
import { normaliseAction } from './actions.js';
import { decideBridge } from './bridge-decide.js';

export interface IntentBridgeOptions {
  names: Names;
  rules: (symbol: string) => MarketRules | undefined;
  policy: PolicyCache;
  /** The plan id of an intent (default: planIdFor, derived from the intent id). */
  newPlanId?: (intentId: string) => string;
}

/**
 * The plan id of an intent: `pl-` + the first 24 hex digits of SHA-256(intent_id).
 * Deterministic, so an intent that reaches the bridge twice (a producer that writes it
 * again after a lost XADD reply, a replayed stream) becomes the same plan: the apply
 * layer's permit and the executor's order key (`{prefix}:order:{client_order_id}`, the
 * client order id being derived from the plan id) then refuse the second as `duplicate`
 * and no second order is sent. A random id per handling would trade twice.
 * Shape: `pl-` + 24 lowercase hex (27 chars; `qt-` + it fits Binance's 36-char client id).
 */
export function planIdFor(intentId: string): string {
  return `pl-${createHash('sha256').update(intentId).digest('hex').slice(0, 24)}`;
}

export interface BridgePrepared {
  policy: Policy;
  prices: Map<string, PriceState>;
  positions: Map<string, PositionState>;
}

export function isExitIntent(i: TradeIntent): boolean {
  if (i.reduceOnly === true) return true;
  const a = normaliseAction(i.action);
  return a.ok && a.kind === 'exit';
}

export function createIntentBridge(o: IntentBridgeOptions): ConsumerStage<'trade.intent', BridgePrepared> {
  const newPlanId = o.newPlanId ?? planIdFor;
  return {
    name: 'intent_bridge',
    input: 'trade.intent',

    async prepare(batch: Delivery<TradeIntent>[], ctx: StageContext): Promise<BridgePrepared> {
      const now = ctx.now();
      const symbols = [...new Set(batch.map((d) => d.message.symbol))];
      // Positions of every symbol: exits size on them, entries check the leverage bracket's cap.
      const exitSymbols = symbols;
      const readPolicy = !o.policy.fresh(now);
      const keys = [
        ...(readPolicy ? [o.names.policy()] : []),
        ...symbols.map((s) => o.names.price(s)),
        ...exitSymbols.map((s) => o.names.position(s)),
      ];
      const hashes = await loadHashes(ctx.redis, keys);
      let i = 0;
      const policy = readPolicy ? o.policy.accept(hashes[i++], now) : await o.policy.get(ctx.redis, now);
      const prices = new Map<string, PriceState>();
      for (const s of symbols) {
        const p = readPrice(hashes[i++]);
        if (p) prices.set(s, p);
      }
      const positions = positionsFrom(exitSymbols, hashes.slice(i));
      return { policy, prices, positions };
    },

    handle(d, prep, ctx) {
      const intent = d.message;
      const decision = decideBridge({
        intent,
        policy: prep.policy,
        rules: safeRules(o.rules, intent.symbol),
        price: prep.prices.get(intent.symbol),
        position: prep.positions.get(intent.symbol),
        now: ctx.now(),
        planId: newPlanId(intent.intent_id),
      });
      if (!decision.ok) return reject(decision.reason, decision.detail, { symbol: intent.symbol, refId: intent.intent_id });
      if (decision.upsized) ctx.log.debug('upsized to the smallest valid quantity', { symbol: intent.symbol, detail: decision.upsized });
      return ok([out('apply.plan', decision.plan)]);
    },
  };
}

/** Market rules, or undefined when the exchange does not know the symbol (never throws). */
function safeRules(rules: (s: string) => MarketRules | undefined, symbol: string): MarketRules | undefined {
  try {
    return rules(symbol);
  } catch {
    return undefined;
  }
}
