/**
 * Binance USD-M conditional orders (the Algo Order API) for the Binance adapter: the
 * request it sends and the answers it reads. Pure, apart from `algoApiOf`.
 *
 * Since 2025-12-09 Binance takes STOP_MARKET / TAKE_PROFIT_MARKET only on
 * `/fapi/v1/algoOrder` (`algoType=CONDITIONAL`, ids `algoId` / `clientAlgoId`); the old
 * `POST /fapi/v1/order` answers -4120 (derivatives change log 2025-11-06;
 * BINANCE-USDM-RULES.md "Conditional orders"). The adapter calls ccxt's implicit methods for
 * these endpoints (`fapiPrivatePostAlgoOrder`, `fapiPrivateGetAlgoOrder`,
 * `fapiPrivateDeleteAlgoOrder`, `fapiPrivateGetOpenAlgoOrders`; present in ccxt ≥ 4.5.2x,
 * installed 4.5.84), so the wire parameters are exactly Binance's (docs/binance.md,
 * "Protective stops on the exchange": why not ccxt's unified createOrder).
 */
import { checkQuantity } from '../order-rules.js';
import { roundToTick, formatToStep } from '../precision.js';
import { ExchangeError, type AlgoStatus, type ConditionalOrder, type ConditionalOrderRequest, type ConditionalType, type MarketRules } from '../types.js';

/** The four implicit ccxt methods of Binance's Algo Order endpoints the adapter uses (params: Binance's names). */
export interface AlgoApi {
  fapiPrivatePostAlgoOrder(params: Record<string, string>): Promise<unknown>;
  fapiPrivateGetAlgoOrder(params: Record<string, string>): Promise<unknown>;
  fapiPrivateDeleteAlgoOrder(params: Record<string, string>): Promise<unknown>;
  fapiPrivateGetOpenAlgoOrders(params: Record<string, string>): Promise<unknown>;
}

const ALGO_METHODS = ['fapiPrivatePostAlgoOrder', 'fapiPrivateGetAlgoOrder', 'fapiPrivateDeleteAlgoOrder', 'fapiPrivateGetOpenAlgoOrders'] as const;

/**
 * The ccxt client's Algo Order methods. Throws ExchangeError (`exchange_rejected`, code
 * `ccxt_without_algo_api`) when the installed ccxt predates them (they appear with Binance's
 * Algo Service support, ccxt PR #27331 of 2025-11-19; fetch/cancel routing fixed in 4.5.27).
 */
export function algoApiOf(client: unknown): AlgoApi {
  const c = client as Record<string, unknown>;
  const missing = ALGO_METHODS.filter((m) => typeof c[m] !== 'function');
  if (missing.length) {
    throw new ExchangeError(
      `binance: the installed ccxt has no Algo Order API methods (${missing.join(', ')}); conditional orders need ccxt ≥ 4.5.27`,
      'exchange_rejected', 'ccxt_without_algo_api', { retryable: false, fix: 'install the ccxt version package.json pins (npm ci)' },
    );
  }
  return client as AlgoApi;
}

/** Binance's clientAlgoId rule (New Algo Order: `^[\.A-Z\:/a-z0-9_-]{1,36}$`). */
export const CLIENT_ALGO_ID_RE = /^[.A-Z:/a-z0-9_-]{1,36}$/;

/**
 * The POST /fapi/v1/algoOrder parameters of a protective order: `closePosition=true`
 * (whole position, no `quantity`: -4137; no `reduceOnly`: closePosition already only
 * reduces) when `req.quantity` is absent; else `quantity` (on the MARKET_LOT_SIZE step,
 * checked as a market order's: -4003 / -1111 / -4023 / -1013 / -4005) with `reduceOnly=true`
 * and no closePosition (Binance "New Algo Order": quantity and reduceOnly are allowed for
 * CONDITIONAL orders without closePosition; not refused by -4130, which is about closePosition
 * orders), `workingType=MARK_PRICE` (Binance's default is CONTRACT_PRICE, the last price,
 * which a wick can trigger), `priceProtect` left at FALSE (TRUE lets a stop not fire when
 * mark and last diverge), the trigger rounded to the nearest tick (PRICE_FILTER; -4014
 * otherwise). Throws ExchangeError for a stop price ≤ 0 or a clientAlgoId Binance would refuse.
 */
export function algoOrderParams(req: ConditionalOrderRequest, rules: MarketRules): Record<string, string> {
  if (!Number.isFinite(req.stopPrice) || req.stopPrice <= 0) {
    throw new ExchangeError(`binance algoOrder ${req.symbol}: stopPrice ${req.stopPrice} is not a price`, 'exchange_rejected', -1102);
  }
  if (!CLIENT_ALGO_ID_RE.test(req.clientAlgoId)) {
    throw new ExchangeError(`binance algoOrder ${req.symbol}: clientAlgoId '${req.clientAlgoId}' does not match ^[.A-Z:/a-z0-9_-]{1,36}$`, 'exchange_rejected', -4015);
  }
  const trigger = roundToTick(req.stopPrice, rules.tickSize);
  if (req.quantity !== undefined) checkQuantity(rules, req.quantity);
  return {
    algoType: 'CONDITIONAL',
    symbol: req.symbol,
    side: req.side,
    type: req.type,
    triggerPrice: formatToStep(trigger, rules.tickSize),
    ...(req.quantity !== undefined ? { quantity: formatToStep(req.quantity, rules.marketStepSize), reduceOnly: 'true' } : { closePosition: 'true' }),
    workingType: 'MARK_PRICE',
    clientAlgoId: req.clientAlgoId,
    newOrderRespType: 'RESULT',
  };
}

const TYPES: ReadonlySet<string> = new Set<ConditionalType>(['STOP_MARKET', 'TAKE_PROFIT_MARKET']);
const STATUSES: ReadonlySet<string> = new Set<AlgoStatus>(['NEW', 'TRIGGERING', 'TRIGGERED', 'FINISHED', 'CANCELED', 'REJECTED', 'EXPIRED']);

const num = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
};

/** Whether a row says true (Binance sends booleans; strings accepted). */
const isTrue = (v: unknown) => v === true || v === 'true';

/**
 * Why an algo order row is not one of ours, or undefined when it is: `qt` places and reads
 * STOP_MARKET / TAKE_PROFIT_MARKET on the mark price, either closePosition or reduce-only
 * with a quantity; the latter only under its own client ids (`qtp-`), so a reduce-only
 * stop placed by hand is still left out.
 */
export function foreignReason(raw: Record<string, unknown>): string | undefined {
  if (!TYPES.has(String(raw.orderType ?? raw.type))) return `orderType ${String(raw.orderType ?? raw.type)}`;
  if (!isTrue(raw.closePosition)) {
    if (!isTrue(raw.reduceOnly)) return 'closePosition false';
    if (typeof raw.clientAlgoId !== 'string' || !raw.clientAlgoId.startsWith('qtp-')) return 'reduce-only, not placed by qt';
  }
  if (raw.workingType !== 'MARK_PRICE') return `workingType ${String(raw.workingType)}`;
  return undefined;
}

/**
 * A Query Algo Order / New Algo Order / open-orders row → ConditionalOrder. Returns
 * undefined for a row that is not a protective order of ours (foreignReason) or lacks its
 * ids. Throws ExchangeError for an `algoStatus` Binance does not document (unknown is never OK).
 */
export function conditionalOrderFrom(raw: unknown): ConditionalOrder | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  if (r.algoId === undefined || r.algoId === null || typeof r.clientAlgoId !== 'string' || typeof r.symbol !== 'string') return undefined;
  if (foreignReason(r)) return undefined;
  const status = String(r.algoStatus ?? '');
  if (!STATUSES.has(status)) {
    throw new ExchangeError(`binance algoOrder ${r.symbol}: algoStatus '${status}' is not one Binance documents`, 'exchange_rejected', 'unknown_algo_status');
  }
  const side = r.side === 'BUY' ? 'BUY' : 'SELL';
  const created = num(r.createTime) ?? 0;
  const o: ConditionalOrder = {
    algoId: String(r.algoId),
    clientAlgoId: r.clientAlgoId,
    symbol: r.symbol,
    side,
    type: String(r.orderType ?? r.type) as ConditionalType,
    stopPrice: num(r.triggerPrice) ?? 0,
    closePosition: isTrue(r.closePosition),
    ...(isTrue(r.closePosition) ? {} : { quantity: num(r.quantity) ?? 0 }),
    workingType: 'MARK_PRICE',
    status: status as AlgoStatus,
    createdAt: created,
    updatedAt: num(r.updateTime) ?? created,
  };
  const actual = r.actualOrderId === undefined || r.actualOrderId === null ? '' : String(r.actualOrderId);
  if (actual !== '' && actual !== '0') o.triggeredOrderId = actual;
  const price = num(r.actualPrice);
  if (price !== undefined && price > 0) o.triggeredPrice = price;
  return o;
}
