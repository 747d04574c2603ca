/**
 * ccxt's parsed structures (markets, orders, positions) → the Exchange interface's types.
 * Pure functions; raw Binance fields (`info`) are used where ccxt does not parse them.
 */
import { decimalsOf } from '../precision.js';
import { DEFAULT_MAX_LEVERAGE, MAX_LEVERAGE } from '../markets.js';
import type { ExchangeOrderStatus, ExchangePosition, MarketRules, OrderAck, Side } from '../types.js';

type MinMax = { min?: number; max?: number };

export interface CcxtMarket {
  id: string;
  symbol: string;
  swap?: boolean;
  linear?: boolean;
  settle?: string;
  active?: boolean;
  precision: { amount?: number; price?: number };
  limits: { amount?: MinMax; price?: MinMax; cost?: MinMax; market?: MinMax; leverage?: MinMax };
  info: { filters?: Record<string, unknown>[]; pricePrecision?: number | string; quantityPrecision?: number | string };
}

export interface CcxtOrder {
  id?: string;
  clientOrderId?: string;
  timestamp?: number;
  lastUpdateTimestamp?: number;
  side?: string;
  status?: string;
  filled?: number;
  average?: number;
  price?: number;
  reduceOnly?: boolean;
  info?: Record<string, unknown>;
}

const num = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
};

/** MarketRules from ccxt's parsed market plus the raw MARKET_LOT_SIZE, MIN_NOTIONAL and PERCENT_PRICE filters. */
export function marketRules(m: CcxtMarket, maxLeverage?: number): MarketRules | undefined {
  const filter = (t: string) => m.info?.filters?.find((f) => f?.filterType === t);
  const mlot = filter('MARKET_LOT_SIZE');
  const minN = filter('MIN_NOTIONAL');
  const pp = filter('PERCENT_PRICE');
  const up = num(pp?.multiplierUp);
  const down = num(pp?.multiplierDown);
  const stepSize = num(m.precision?.amount);
  const tickSize = num(m.precision?.price);
  if (!stepSize || !tickSize) return undefined;
  return {
    symbol: m.id,
    tickSize,
    minPrice: num(m.limits?.price?.min) ?? 0,
    maxPrice: num(m.limits?.price?.max) ?? Number.MAX_SAFE_INTEGER,
    stepSize,
    minQty: num(m.limits?.amount?.min) ?? stepSize,
    maxQty: num(m.limits?.amount?.max) ?? Number.MAX_SAFE_INTEGER,
    marketStepSize: num(mlot?.stepSize) ?? stepSize,
    marketMinQty: num(mlot?.minQty) ?? num(m.limits?.market?.min) ?? stepSize,
    marketMaxQty: num(mlot?.maxQty) ?? num(m.limits?.market?.max) ?? Number.MAX_SAFE_INTEGER,
    minNotional: num(minN?.notional) ?? num(m.limits?.cost?.min) ?? 0,
    maxLeverage: maxLeverage ?? num(m.limits?.leverage?.max) ?? MAX_LEVERAGE[m.id] ?? DEFAULT_MAX_LEVERAGE,
    pricePrecision: num(m.info?.pricePrecision) ?? decimalsOf(tickSize),
    quantityPrecision: num(m.info?.quantityPrecision) ?? decimalsOf(stepSize),
    ...(up !== undefined && down !== undefined ? { percentPrice: { multiplierUp: up, multiplierDown: down } } : {}),
  };
}

const STATUSES: ExchangeOrderStatus[] = ['NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'EXPIRED', 'EXPIRED_IN_MATCH'];

/** Binance's own order status (info.status), or ccxt's unified one translated. */
export function orderStatus(o: CcxtOrder): ExchangeOrderStatus {
  const raw = String(o.info?.status ?? '').toUpperCase();
  if ((STATUSES as string[]).includes(raw)) return raw as ExchangeOrderStatus;
  switch (o.status) {
    case 'closed':
      return 'FILLED';
    case 'canceled':
      return 'CANCELED';
    case 'rejected':
      return 'REJECTED';
    case 'expired':
      return 'EXPIRED';
    default:
      return (o.filled ?? 0) > 0 ? 'PARTIALLY_FILLED' : 'NEW';
  }
}

/** An order ack without fees (fees and realised PnL come from the order's trades). */
export function orderAck(symbol: string, o: CcxtOrder): OrderAck {
  const info = o.info ?? {};
  const side = String(info.side ?? o.side ?? '').toUpperCase() as Side;
  const reduceOnly = info.reduceOnly !== undefined ? info.reduceOnly === true || info.reduceOnly === 'true' : !!o.reduceOnly;
  return {
    orderId: String(o.id ?? info.orderId ?? ''),
    clientOrderId: String(o.clientOrderId ?? info.clientOrderId ?? ''),
    symbol,
    side: side === 'SELL' ? 'SELL' : 'BUY',
    status: orderStatus(o),
    filledQty: num(o.filled) ?? num(info.executedQty) ?? 0,
    avgPrice: num(o.average) ?? num(info.avgPrice) ?? 0,
    fee: 0,
    realizedPnl: 0,
    reduceOnly,
    ts: num(o.lastUpdateTimestamp) ?? num(info.updateTime) ?? num(o.timestamp) ?? Date.now(),
  };
}

/** A ccxt position (positionRisk v2) → ExchangePosition; null when flat. */
export function positionFrom(p: unknown): ExchangePosition | null {
  const pos = p as { info?: Record<string, unknown>; side?: string; contracts?: number; entryPrice?: number; markPrice?: number; unrealizedPnl?: number; leverage?: number };
  const info = pos.info ?? {};
  const amt = num(info.positionAmt) ?? (pos.side === 'short' ? -(pos.contracts ?? 0) : (pos.contracts ?? 0));
  if (!amt) return null;
  const symbol = String(info.symbol ?? '');
  if (!symbol) return null;
  const positionSide = String(info.positionSide ?? 'BOTH');
  const side = positionSide === 'LONG' || positionSide === 'SHORT' ? positionSide : amt > 0 ? 'LONG' : 'SHORT';
  return {
    symbol,
    side,
    qty: Math.abs(amt),
    entryPrice: num(info.entryPrice) ?? num(pos.entryPrice) ?? 0,
    markPrice: num(info.markPrice) ?? num(pos.markPrice) ?? 0,
    unrealizedPnl: num(info.unRealizedProfit) ?? num(pos.unrealizedPnl) ?? 0,
    leverage: num(info.leverage) ?? num(pos.leverage) ?? 0,
  };
}
