/**
 * `qt close SYMBOL [--pct 25|50|75|100]`: a MANUAL exit intent on `trade.intent`, through
 * the same pipeline as every other exit (the bridge rounds the quantity to the step and
 * closes a remainder below the minimum whole; exits pass the kill switch).
 */
import type { Redis } from 'ioredis';
import { encode, type ExitIntent } from '../contract/messages.js';
import type { Names } from '../contract/names.js';
import { readPosition } from '../contract/state.js';
import { UsageError } from '../errors.js';

export const CLOSE_PCTS = [25, 50, 75, 100] as const;

export interface CloseResult {
  intent_id: string;
  symbol: string;
  action: string;
  position: { side: string; qty: number };
}

export async function sendClose(redis: Redis, names: Names, symbolIn: string, pct: number, reason?: string, now = Date.now()): Promise<CloseResult> {
  const symbol = symbolIn.trim().toUpperCase();
  if (!/^[A-Z0-9]{2,30}$/.test(symbol)) throw new UsageError(`SYMBOL: expected a symbol like BTCUSDT (got ${JSON.stringify(symbolIn)})`);
  if (!(CLOSE_PCTS as readonly number[]).includes(pct)) throw new UsageError(`--pct: expected one of ${CLOSE_PCTS.join(', ')} (got ${pct})`);
  const pos = readPosition(symbol, await redis.hgetall(names.position(symbol)));
  if (!pos) throw new UsageError(`SYMBOL: no open position on ${symbol}: nothing to close (an open position is a position hash with qty > 0)`);
  const action = pct === 100 ? 'CLOSE' : `PARTIAL_${pct}`;
  const intent: ExitIntent = {
    intent_id: `man-${symbol}-${now}-${Math.random().toString(36).slice(2, 8)}`, ts: now, intent_type: 'MANUAL', symbol, action,
    source: 'operator', reduceOnly: true, reason: reason ?? `qt close ${symbol} --pct ${pct}`,
  };
  await redis.xadd(names.stream('trade.intent'), 'MAXLEN', '~', '100000', '*', ...Object.entries(encode('trade.intent', intent)).flat());
  return { intent_id: intent.intent_id, symbol, action, position: { side: pos.side, qty: pos.qty } };
}
