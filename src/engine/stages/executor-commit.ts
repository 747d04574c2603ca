/**
 * The executor's effects, applied at most once per client order id. An entry can be
 * handled by two consumers at the same time (the runner reclaims an entry whose batch
 * is still in flight when a batch outlasts the reclaim idle time); both then reach the
 * same exchange order (found by client id, or refused as a duplicate and looked up).
 * So the final order state, the position, the ledger and the announcements are written
 * by one script, inside the runner's batch transaction, that does nothing when the order
 * key is already final. State is written before the announcements (STYLE: state first).
 */
import type { ChainableCommander } from 'ioredis';
import { encode, type ApplyResult, type ExecutionResult, type Fields } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import { APPLY_FILL_FN } from './executor-position.js';

const flat = (f: Fields | Record<string, string>): string[] => {
  const a: string[] = [];
  for (const k in f) a.push(k, f[k]);
  return a;
};

/** KEYS: order, position, ledger, apply.result stream, execution.result stream. ARGV[1]: JSON. */
const COMMIT_FILL_LUA =
  APPLY_FILL_FN +
  `
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'FILLED' or st == 'REJECTED' then return 0 end
local a = cjson.decode(ARGV[1])
apply_fill(KEYS[2], a.fill)
redis.call('HINCRBYFLOAT', KEYS[3], 'realized_pnl', a.pnl)
redis.call('HINCRBYFLOAT', KEYS[3], 'fees', a.fee)
redis.call('HINCRBY', KEYS[3], 'trades', 1)
redis.call('HSET', KEYS[3], 'last_plan_id', a.plan_id, 'updated_at', a.now)
redis.call('HSET', KEYS[1], unpack(a.order))
redis.call('XADD', KEYS[4], 'MAXLEN', '~', a.maxlen, '*', unpack(a.result))
redis.call('XADD', KEYS[5], 'MAXLEN', '~', a.maxlen, '*', unpack(a.exec))
return 1
`;

/** KEYS: order, apply.result stream. ARGV[1]: JSON. */
const COMMIT_REFUSAL_LUA = `
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'FILLED' or st == 'REJECTED' then return 0 end
local a = cjson.decode(ARGV[1])
redis.call('HSET', KEYS[1], unpack(a.order))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', a.maxlen, '*', unpack(a.result))
return 1
`;

export interface FillCommit {
  names: Names;
  cid: string;
  symbol: string;
  planId: string;
  now: number;
  /** applyFillArgs(...) */
  fillArgs: string[];
  pnl: number;
  fee: number;
  order: Record<string, string>;
  result: ApplyResult;
  execution: ExecutionResult;
  maxLen: number;
}

export function commitFill(c: FillCommit): (tx: ChainableCommander) => void {
  const n = c.names;
  const keys = [n.order(c.cid), n.position(c.symbol), n.ledger(c.symbol), n.stream('apply.result'), n.stream('execution.result')];
  const arg = JSON.stringify({
    fill: c.fillArgs,
    pnl: String(c.pnl),
    fee: String(c.fee),
    plan_id: c.planId,
    now: String(c.now),
    order: flat(c.order),
    result: flat(encode('apply.result', c.result)),
    exec: flat(encode('execution.result', c.execution)),
    maxlen: String(c.maxLen),
  });
  return (tx) => void tx.eval(COMMIT_FILL_LUA, keys.length, ...keys, arg);
}

export function commitRefusal(names: Names, cid: string, order: Record<string, string>, result: ApplyResult, maxLen: number): (tx: ChainableCommander) => void {
  const keys = [names.order(cid), names.stream('apply.result')];
  const arg = JSON.stringify({ order: flat(order), result: flat(encode('apply.result', result)), maxlen: String(maxLen) });
  return (tx) => void tx.eval(COMMIT_REFUSAL_LUA, keys.length, ...keys, arg);
}
