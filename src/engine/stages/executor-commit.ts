/**
 * The executor's effects, applied at most once per client order id. An entry can still
 * be handled by two consumers at the same time (a batch renews its claim for at most ten
 * reclaim periods; a consumer cut off from Redis cannot renew it); both then reach the
 * same exchange order (found by client id, or refused as a duplicate and looked up).
 * So the final order state, the position, the ledger and the announcements are written
 * by one script, inside the runner's batch transaction, that does nothing for an order
 * whose key is already final. One call carries the whole batch's orders (a batched state
 * write): the script's body goes to Redis once per batch, not once per order. State is
 * written before the announcements (STYLE: state first).
 */
import { encode, type ApplyResult, type ExecutionResult, type Fields } from '../../contract/messages.js';
import { ORDER_TTL_S, type Names } from '../../contract/names.js';
import { APPLY_FILL_FN } from './executor-position.js';
import type { BatchedWrite, WriteBatcher } from '../runtime/types.js';

const flat = (f: Fields | Record<string, string>): string[] => {
  const a: string[] = [];
  for (const k in f) a.push(k, f[k]);
  return a;
};

/**
 * One call per batch: KEYS are the batch's keys (each once), ARGV[1] a JSON array of
 * orders in entry order, each naming its keys by index; ARGV[2] the order key's TTL once
 * final (ORDER_TTL_S). An order already final is skipped.
 * fill: k = [order, position, ledger, apply.result, execution.result];
 * refusal: k = [order, apply.result].
 */
const COMMIT_ORDERS_LUA =
  APPLY_FILL_FN +
  `
local done = 0
for _, a in ipairs(cjson.decode(ARGV[1])) do
  local K = function(i) return KEYS[a.k[i]] end
  local st = redis.call('HGET', K(1), 'status')
  if st ~= 'FILLED' and st ~= 'REJECTED' then
    if a.fill then
      apply_fill(K(2), a.fill)
      redis.call('HINCRBYFLOAT', K(3), 'realized_pnl', a.pnl)
      redis.call('HINCRBYFLOAT', K(3), 'fees', a.fee)
      redis.call('HINCRBY', K(3), 'trades', 1)
      redis.call('HSET', K(3), 'last_plan_id', a.plan_id, 'updated_at', a.now)
      redis.call('HSET', K(1), unpack(a.order))
      redis.call('EXPIRE', K(1), ARGV[2])
      redis.call('XADD', K(4), 'MAXLEN', '~', a.maxlen, '*', unpack(a.result))
      redis.call('XADD', K(5), 'MAXLEN', '~', a.maxlen, '*', unpack(a.exec))
    else
      redis.call('HSET', K(1), unpack(a.order))
      redis.call('EXPIRE', K(1), ARGV[2])
      redis.call('XADD', K(2), 'MAXLEN', '~', a.maxlen, '*', unpack(a.result))
    end
    done = done + 1
  end
end
return done
`;

interface OrderCommit {
  keys: string[];
  /** everything but `k` (the key indexes, set at flush) */
  body: Record<string, unknown>;
}

/** Every order effect of a batch in one script call (one body sent, one script run). */
const ORDER_COMMITS: WriteBatcher<OrderCommit> = {
  flush(tx, items) {
    const keys: string[] = [];
    const at = new Map<string, number>();
    const idx = (k: string) => {
      let i = at.get(k);
      if (i === undefined) {
        keys.push(k);
        i = keys.length;
        at.set(k, i);
      }
      return i;
    };
    const arg = JSON.stringify(items.map((it) => ({ ...it.body, k: it.keys.map(idx) })));
    tx.eval(COMMIT_ORDERS_LUA, keys.length, ...keys, arg, ORDER_TTL_S);
  },
};

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

export function commitFill(c: FillCommit): BatchedWrite<OrderCommit> {
  const n = c.names;
  return {
    batcher: ORDER_COMMITS,
    item: {
      keys: [n.order(c.cid), n.position(c.symbol), n.ledger(c.symbol), n.stream('apply.result'), n.stream('execution.result')],
      body: {
        fill: c.fillArgs,
        pnl: String(c.pnl),
        fee: String(c.fee),
        plan_id: c.planId,
        now: String(c.now),
        order: flat(c.order),
        result: flat(encode('apply.result', c.result)),
        exec: flat(encode('execution.result', c.execution)),
        maxlen: String(c.maxLen),
      },
    },
  };
}

export function commitRefusal(names: Names, cid: string, order: Record<string, string>, result: ApplyResult, maxLen: number): BatchedWrite<OrderCommit> {
  return {
    batcher: ORDER_COMMITS,
    item: {
      keys: [names.order(cid), names.stream('apply.result')],
      body: { order: flat(order), result: flat(encode('apply.result', result)), maxlen: String(maxLen) },
    },
  };
}
