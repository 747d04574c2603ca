import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { decode, encode, fieldsFromArray, type ApplyApproved, type ApplyResult, type ExecutionResult } from '../src/contract/messages.js';
import { ORDER_TTL_S, type Names } from '../src/contract/names.js';
import { PaperExchange } from '../src/engine/exchange/paper.js';
import { ExchangeError, type Exchange } from '../src/engine/exchange/types.js';
import { StageRunner } from '../src/engine/runtime/stage-runner.js';
import { addState, flushBatched } from '../src/engine/runtime/commit.js';
import type { StageContext } from '../src/engine/runtime/types.js';
import { APPLY_FILL_LUA, applyFillArgs, clientOrderIdFor, CLIENT_ID_RE, type FillFacts, type FillPlan } from '../src/engine/stages/executor-position.js';
import { createIntentExecutor, intentExecutorFromDeps } from '../src/engine/stages/intent-executor.js';
import { STAGE_FACTORIES } from '../src/engine/stages/index.js';
import { loadConfig } from '../src/config/config.js';
import { silentLogger } from '../src/log.js';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';

const redis = testRedis();
const runners: StageRunner[] = [];

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});
afterAll(closeAll);

interface Setup {
  names: Names;
  paper: PaperExchange;
  runner: StageRunner;
}

function makePaper(names: Names): PaperExchange {
  return new PaperExchange({ redis, names, balance: 10000, slippageBps: 0, takerFee: 0.0004 });
}

async function startExecutor(names: Names, exchange: Exchange, opts: { createGroup?: boolean; consumer?: string; batchSize?: number } = {}): Promise<StageRunner> {
  const stage = createIntentExecutor({ exchange, names, mode: 'PAPER', settlePollMs: 10, maxDeliveries: 5 });
  const runner = new StageRunner(stage, {
    redisUrl: testRedisUrl(),
    names,
    writer: redis,
    caps: { streamMaxLen: 10000, toolStreamMaxLen: 10000 },
    batchSize: opts.batchSize ?? 20,
    blockMs: 100,
    reclaimIdleMs: 150,
    reclaimEveryMs: 150,
    maxDeliveries: 5,
    heartbeatMs: 1000,
    mode: 'PAPER',
    log: silentLogger,
    consumerName: opts.consumer ?? 'test:1',
  });
  if (opts.createGroup) await redis.xgroup('CREATE', names.stream('apply.approved'), 'intent_executor', '$', 'MKSTREAM');
  runners.push(runner);
  await runner.start();
  return runner;
}

async function setup(): Promise<Setup> {
  const names = testNames(uniquePrefix('exec'));
  const paper = makePaper(names);
  const runner = await startExecutor(names, paper);
  return { names, paper, runner };
}

async function setMark(names: Names, symbol: string, mark: number): Promise<void> {
  await redis.hset(names.price(symbol), { price: String(mark), mark: String(mark), ts: String(Date.now()), source: 'test' });
}

let n = 0;
function plan(o: Partial<ApplyApproved> = {}): ApplyApproved {
  n++;
  return {
    plan_id: `plan-${n}-${Date.now()}`,
    intent_id: `intent-${n}`,
    ts: Date.now(),
    intent_ts: Date.now() - 50,
    symbol: 'BTCUSDT',
    action: 'OPEN',
    side: 'BUY',
    qty: 0.002,
    price: 60000,
    notional: 120,
    leverage: 10,
    sl_price: 59000,
    tp_price: 62000,
    reduceOnly: false,
    source: 'test',
    permit_id: `permit-${n}`,
    ...o,
  };
}

async function approve(names: Names, p: ApplyApproved): Promise<void> {
  const f = encode('apply.approved', p);
  await redis.xadd(names.stream('apply.approved'), '*', ...Object.entries(f).flat());
}

async function read<T>(names: Names, stream: 'apply.result' | 'execution.result' | 'stage.rejected'): Promise<T[]> {
  const entries = await redis.xrange(names.stream(stream), '-', '+');
  return entries.map(([, arr]) => {
    const d = decode(stream, fieldsFromArray(arr));
    if (!d.ok) throw new Error(d.error);
    return d.value as T;
  });
}

const results = (names: Names) => read<ApplyResult>(names, 'apply.result');

describe('executor position arithmetic (the fill script)', () => {
  const base: FillPlan = { symbol: 'BTCUSDT', leverage: 10, sl_price: 59000, tp_price: 62000, plan_id: 'p1', reduceOnly: false };
  const key = () => testNames(uniquePrefix('pos')).position('BTCUSDT');
  const apply = async (k: string, f: FillFacts, p: FillPlan = base) => {
    await redis.eval(APPLY_FILL_LUA, 1, k, ...applyFillArgs(f, p, 0.001));
    return redis.hgetall(k);
  };

  it('adds average the entry price and take the new stop for the risk', async () => {
    const k = key();
    await apply(k, { side: 'BUY', qty: 0.002, price: 60000, ts: 1 });
    const h = await apply(k, { side: 'BUY', qty: 0.002, price: 63000, ts: 2 }, { ...base, sl_price: 60000, plan_id: 'p2' });
    expect(h).toMatchObject({ side: 'LONG', qty: '0.004', entry_price: '61500', sl_price: '60000', tp_price: '62000', opened_at: '1', updated_at: '2', plan_id: 'p2' });
    expect(Number(h.initial_risk_usd)).toBeCloseTo(0.004 * 1500, 10);
  });

  it('a reduction keeps the entry price and recomputes the risk on the rest', async () => {
    const k = key();
    await apply(k, { side: 'BUY', qty: 0.002, price: 60000, ts: 1 });
    const h = await apply(k, { side: 'SELL', qty: 0.001, price: 61000, ts: 2 }, { ...base, reduceOnly: true, sl_price: 0, tp_price: 0 });
    expect(h).toMatchObject({ side: 'LONG', qty: '0.001', entry_price: '60000', sl_price: '59000', opened_at: '1', updated_at: '2' });
    expect(Number(h.initial_risk_usd)).toBeCloseTo(1, 10);
  });

  it('a full close deletes the key, and an opposite non-reduce-only order larger than the position flips it', async () => {
    const k = key();
    await apply(k, { side: 'BUY', qty: 0.002, price: 60000, ts: 1 });
    expect(await apply(k, { side: 'SELL', qty: 0.002, price: 61000, ts: 2 }, { ...base, reduceOnly: true })).toEqual({});
    await apply(k, { side: 'BUY', qty: 0.002, price: 60000, ts: 3 });
    const h = await apply(k, { side: 'SELL', qty: 0.005, price: 61000, ts: 4 }, { ...base, sl_price: 62000, tp_price: 58000 });
    expect(h).toMatchObject({ side: 'SHORT', qty: '0.003', entry_price: '61000', sl_price: '62000', opened_at: '4' });
  });

  it('a ghost hash (qty 0) is replaced by the new position, and a reduce-only fill on it leaves no key', async () => {
    const k = key();
    await redis.hset(k, { qty: '0', side: 'LONG' });
    expect(await apply(k, { side: 'SELL', qty: 0.001, price: 60000, ts: 1 }, { ...base, reduceOnly: true })).toEqual({});
    await redis.hset(k, { qty: '0', junk: 'x' });
    const h = await apply(k, { side: 'BUY', qty: 0.001, price: 60000, ts: 2 });
    expect(h.junk).toBeUndefined();
    expect(h).toMatchObject({ qty: '0.001', side: 'LONG' });
  });
});

describe('intent_executor', () => {
  it('client order ids are deterministic, qt-prefixed and valid for Binance', () => {
    expect(clientOrderIdFor('abc-1')).toBe('qt-abc-1');
    const long = clientOrderIdFor('x'.repeat(80));
    expect(long).toMatch(CLIENT_ID_RE);
    expect(long).toBe(clientOrderIdFor('x'.repeat(80)));
    expect(clientOrderIdFor('has space#')).toMatch(/^qt-[0-9a-f]{32}$/);
  });

  it('an approved plan becomes a fill, a position, a ledger entry, an apply.result and an execution.result', async () => {
    const { names } = await setup();
    await setMark(names, 'BTCUSDT', 60000);
    const p = plan();
    await approve(names, p);
    const [res] = await waitFor(async () => ((await results(names)).length ? results(names) : null), 5000, 'apply.result');
    const cid = `qt-${p.plan_id}`;
    expect(res).toMatchObject({ plan_id: p.plan_id, executed: true, client_order_id: cid, filled_qty: 0.002, avg_price: 60000, mode: 'PAPER' });
    expect(res.fee).toBeCloseTo(0.002 * 60000 * 0.0004, 10);
    expect(res.latency_ms).toBeGreaterThanOrEqual(50);
    const [ex] = await read<ExecutionResult>(names, 'execution.result');
    expect(ex).toMatchObject({ order_id: res.order_id, client_order_id: cid, status: 'FILLED', qty: 0.002, price: 60000, side: 'BUY' });
    const pos = await redis.hgetall(names.position('BTCUSDT'));
    expect(pos).toMatchObject({ symbol: 'BTCUSDT', side: 'LONG', qty: '0.002', entry_price: '60000', leverage: '10', sl_price: '59000', tp_price: '62000', plan_id: p.plan_id });
    expect(Number(pos.initial_risk_usd)).toBeCloseTo(0.002 * 1000, 10);
    const ledger = await redis.hgetall(names.ledger('BTCUSDT'));
    expect(ledger).toMatchObject({ trades: '1', last_plan_id: p.plan_id });
    expect(Number(ledger.fees)).toBeCloseTo(res.fee!, 10);
    expect(await redis.hget(names.order(cid), 'status')).toBe('FILLED');
    expect(await redis.hget(names.paperAccount(), 'lev:BTCUSDT')).toBe('10');
  });

  it('a plan delivered twice is sent once (same batch and a later batch)', async () => {
    const names = testNames(uniquePrefix('exec'));
    const paper = makePaper(names);
    await setMark(names, 'BTCUSDT', 60000);
    const p = plan();
    await redis.xgroup('CREATE', names.stream('apply.approved'), 'intent_executor', '$', 'MKSTREAM');
    await approve(names, p);
    await approve(names, p);
    await startExecutor(names, paper);
    await waitFor(async () => (await read(names, 'stage.rejected')).length === 1, 5000, 'the in-batch duplicate');
    await approve(names, p);
    const rej = await waitFor(async () => {
      const r = await read<{ reason: string; detail: string }>(names, 'stage.rejected');
      return r.length === 2 ? r : null;
    }, 5000, 'the later duplicate');
    expect(rej.map((r) => r.reason)).toEqual(['duplicate', 'duplicate']);
    expect(rej[1].detail).toMatch(/already handled.*FILLED/);
    expect(await redis.lrange(names.paperOrderLog(), 0, -1)).toEqual([`qt-${p.plan_id}`]);
    expect((await results(names)).filter((r) => r.executed)).toHaveLength(1);
    expect(await redis.hget(names.position('BTCUSDT'), 'qty')).toBe('0.002');
  });

  it('after a kill between the exchange fill and the commit, the order is found by client id and not resent', async () => {
    const names = testNames(uniquePrefix('exec'));
    const paper = makePaper(names);
    await setMark(names, 'BTCUSDT', 60000);
    const p = plan();
    const cid = clientOrderIdFor(p.plan_id);
    // What a killed executor leaves: PENDING persisted, the exchange filled, nothing committed.
    await redis.hset(names.order(cid), { status: 'PENDING', plan_id: p.plan_id, symbol: 'BTCUSDT', client_order_id: cid, ts: String(Date.now()) });
    const first = await paper.submitMarketOrder({ symbol: 'BTCUSDT', side: 'BUY', qty: 0.002, reduceOnly: false, clientOrderId: cid, leverage: 10 });
    const restarted = makePaper(names);
    let submits = 0;
    const counting: Exchange = Object.assign(Object.create(restarted) as PaperExchange, {
      submitMarketOrder: (req: Parameters<Exchange['submitMarketOrder']>[0]) => {
        submits++;
        return restarted.submitMarketOrder(req);
      },
    });
    await startExecutor(names, counting, { createGroup: true });
    await approve(names, p);
    const [res] = await waitFor(async () => ((await results(names)).length ? results(names) : null), 5000, 'apply.result');
    expect(submits).toBe(0);
    expect(res).toMatchObject({ executed: true, order_id: first.orderId, client_order_id: cid });
    expect(await redis.lrange(names.paperOrderLog(), 0, -1)).toEqual([cid]);
    expect(await redis.hget(names.position('BTCUSDT'), 'qty')).toBe('0.002');
    expect(await redis.hget(names.order(cid), 'status')).toBe('FILLED');
  });

  it('a timeout after the order was accepted is an unknown outcome, resolved by client id without resending', async () => {
    const { names, paper } = await setup();
    await setMark(names, 'BTCUSDT', 60000);
    paper.failNext('timeout_after');
    const p = plan();
    const cid = clientOrderIdFor(p.plan_id);
    await approve(names, p);
    const [res] = await waitFor(async () => ((await results(names)).length ? results(names) : null), 5000, 'apply.result after the lookup');
    // it went through UNKNOWN (recorded) and was sent once
    expect(await redis.hget(names.order(cid), 'unknown_at')).toBeTruthy();
    expect(await redis.hget(names.order(cid), 'sends')).toBe('1');
    expect(res).toMatchObject({ executed: true, client_order_id: cid });
    expect(await redis.lrange(names.paperOrderLog(), 0, -1)).toEqual([cid]);
    expect(await redis.hget(names.order(cid), 'status')).toBe('FILLED');
    // final order keys (ours and the paper exchange's) expire after ORDER_TTL_S; none before
    for (const k of [names.order(cid), names.paperOrder(cid)]) {
      const ttl = await redis.ttl(k);
      expect(ttl).toBeGreaterThan(ORDER_TTL_S - 60);
      expect(ttl).toBeLessThanOrEqual(ORDER_TTL_S);
    }
  });

  it('a rate-limited order stays pending and is sent again later, once', async () => {
    const { names, paper } = await setup();
    await setMark(names, 'BTCUSDT', 60000);
    paper.failNext('rate_limit');
    const p = plan();
    await approve(names, p);
    const [res] = await waitFor(async () => ((await results(names)).length ? results(names) : null), 5000, 'apply.result after retry');
    expect(res.executed).toBe(true);
    expect(await redis.llen(names.paperOrderLog())).toBe(1);
    expect(await read(names, 'stage.rejected')).toEqual([]);
  });

  it('a below-min-notional entry is rejected with the exchange code and the numbers', async () => {
    const { names } = await setup();
    await setMark(names, 'BTCUSDT', 70610);
    const p = plan({ qty: 0.001, price: 70610, notional: 70.61 });
    await approve(names, p);
    const [rej] = await waitFor(async () => {
      const r = await read<{ reason: string; detail: string; ref_id: string }>(names, 'stage.rejected');
      return r.length ? r : null;
    }, 5000, 'rejection');
    expect(rej).toMatchObject({ reason: 'below_min_notional', ref_id: p.plan_id });
    expect(rej.detail).toMatch(/^paper -4164: .*notional 70\.61 < min 100\.00/);
    const [res] = await results(names);
    expect(res).toMatchObject({ executed: false, reason: 'below_min_notional' });
    expect(await redis.hget(names.order(clientOrderIdFor(p.plan_id)), 'status')).toBe('REJECTED');
    expect(await redis.exists(names.position('BTCUSDT'))).toBe(0);
  });

  it('a reduce-only close below min notional executes and deletes the position key', async () => {
    const { names } = await setup();
    await setMark(names, 'BTCUSDT', 60000);
    await approve(names, plan());
    await waitFor(() => redis.exists(names.position('BTCUSDT')), 5000, 'position');
    await setMark(names, 'BTCUSDT', 40000);
    const close = plan({ action: 'CLOSE', side: 'SELL', qty: 0.002, price: 40000, notional: 80, reduceOnly: true, sl_price: 0, tp_price: 0 });
    await approve(names, close);
    await waitFor(async () => (await results(names)).length === 2, 5000, 'close result');
    const res = (await results(names))[1];
    expect(res).toMatchObject({ executed: true, filled_qty: 0.002, avg_price: 40000 });
    expect(res.realized_pnl).toBeCloseTo(-40, 8);
    expect(await redis.exists(names.position('BTCUSDT'))).toBe(0);
    const ledger = await redis.hgetall(names.ledger('BTCUSDT'));
    expect(Number(ledger.realized_pnl)).toBeCloseTo(-40, 8);
    expect(ledger.trades).toBe('2');
  });

  it('two plans on one symbol in one batch compound into one position with a weighted entry', async () => {
    const names = testNames(uniquePrefix('exec'));
    await setMark(names, 'ETHUSDT', 4000);
    await redis.xgroup('CREATE', names.stream('apply.approved'), 'intent_executor', '$', 'MKSTREAM');
    await approve(names, plan({ symbol: 'ETHUSDT', qty: 0.1, price: 4000, notional: 400, sl_price: 3900, tp_price: 4200 }));
    await approve(names, plan({ symbol: 'ETHUSDT', qty: 0.3, price: 4000, notional: 1200, sl_price: 3900, tp_price: 4200 }));
    const runner = await startExecutor(names, makePaper(names));
    await waitFor(async () => (await results(names)).length === 2, 5000, 'two results');
    await waitFor(() => runner.totals.out === 2, 5000, 'the runner counted its commit'); // counted once the reply is back
    const pos = await redis.hgetall(names.position('ETHUSDT'));
    expect(pos).toMatchObject({ qty: '0.4', side: 'LONG', entry_price: '4000' });
    expect(Number(pos.initial_risk_usd)).toBeCloseTo(40, 8);
  });

  it('an auth refusal is rejected as auth_failed and marks the service degraded', async () => {
    const names = testNames(uniquePrefix('exec'));
    const paper = makePaper(names);
    const refusing: Exchange = Object.assign(Object.create(paper) as PaperExchange, {
      submitMarketOrder: async () => {
        throw new ExchangeError('Invalid API-key, IP, or permissions for action', 'auth_failed', -2015, { httpStatus: 401 });
      },
    });
    await setMark(names, 'BTCUSDT', 60000);
    const runner = await startExecutor(names, refusing);
    await approve(names, plan());
    const [rej] = await waitFor(async () => {
      const r = await read<{ reason: string; detail: string }>(names, 'stage.rejected');
      return r.length ? r : null;
    }, 5000, 'auth rejection');
    expect(rej.reason).toBe('auth_failed');
    expect(rej.detail).toContain('-2015');
    expect(runner.hb.status).toBe('degraded');
  });

  it('the registry factory builds the executor on the configured paper exchange when the daemon gives none', async () => {
    const prefix = uniquePrefix('exec');
    const config = loadConfig({ env: { REDIS_URL: testRedisUrl(), QT_PREFIX: prefix, QT_PAPER_BALANCE: '5000', QT_PAPER_SLIPPAGE_BPS: '0' } });
    expect(STAGE_FACTORIES.intent_executor).toBe(intentExecutorFromDeps);
    const stage = await intentExecutorFromDeps({ config, writer: redis, log: silentLogger, mode: 'PAPER' });
    expect(stage.name).toBe('intent_executor');
    await stage.start?.({} as never);
    const names = config.names;
    expect(await redis.hget(names.paperAccount(), 'wallet')).toBe('5000');
  });

  it('two executors in one group on one symbol compound every fill into one position', async () => {
    const names = testNames(uniquePrefix('exec'));
    await setMark(names, 'ETHUSDT', 4000);
    await redis.xgroup('CREATE', names.stream('apply.approved'), 'intent_executor', '$', 'MKSTREAM');
    for (let i = 0; i < 40; i++) await approve(names, plan({ symbol: 'ETHUSDT', qty: 0.01, price: 4000, notional: 40 }));
    const a = await startExecutor(names, makePaper(names), { consumer: 'test:a', batchSize: 3 });
    const b = await startExecutor(names, makePaper(names), { consumer: 'test:b', batchSize: 3 });
    await waitFor(async () => (await results(names)).length === 40, 10000, '40 results');
    // A runner counts a batch once its commit's reply is back, which can be a moment after
    // the results are visible to another connection. With a 150 ms reclaim idle, one
    // consumer could take over entries the other is still handling (the lease makes that
    // rare): handled more than once is allowed, an effect more than once is not.
    await waitFor(() => a.totals.out + b.totals.out >= 40, 5000, 'both runners counted their commits');
    expect(await read(names, 'execution.result')).toHaveLength(40);
    expect(Number(await redis.hget(names.position('ETHUSDT'), 'qty'))).toBeCloseTo(0.4, 9);
    expect(await redis.hget(names.ledger('ETHUSDT'), 'trades')).toBe('40');
    expect(new Set(await redis.lrange(names.paperOrderLog(), 0, -1)).size).toBe(40);
  });

  it('an entry handled by two consumers at once (reclaimed mid-batch) is sent once and has one effect', async () => {
    const names = testNames(uniquePrefix('exec'));
    await setMark(names, 'BTCUSDT', 60000);
    const ctx: StageContext = { names, redis, log: silentLogger, now: Date.now, setStatus: () => undefined };
    const one = createIntentExecutor({ exchange: makePaper(names), names, mode: 'PAPER' });
    const two = createIntentExecutor({ exchange: makePaper(names), names, mode: 'PAPER' });
    const d = { entryId: '1-0', message: plan(), deliveries: 1 };
    const [b1, b2] = [await one.prepare!([d], ctx), await two.prepare!([d], ctx)];
    const outcomes = await Promise.all([one.handle(d, b1, ctx), two.handle(d, b2, ctx)]);
    for (const o of outcomes) {
      const tx = redis.multi();
      // as the runner commits a batch: batched writes first, then the plain ones
      flushBatched(tx, [o.kind === 'dead' ? [] : o.state]);
      addState(tx, o.kind === 'dead' ? [] : o.state);
      await tx.exec();
    }
    expect(await results(names)).toHaveLength(1);
    expect(await read(names, 'execution.result')).toHaveLength(1);
    expect(await redis.lrange(names.paperOrderLog(), 0, -1)).toEqual([clientOrderIdFor(d.message.plan_id)]);
    expect(await redis.hget(names.position('BTCUSDT'), 'qty')).toBe('0.002');
    expect(await redis.hget(names.ledger('BTCUSDT'), 'trades')).toBe('1');
  });
});

describe('executor entries delivered past QT_MAX_DELIVERIES (crashes mid-batch)', () => {
  /** Puts the approval in a dead consumer's pending list with `times` deliveries. */
  async function deliveredOften(names: Names, p: ApplyApproved, times: number): Promise<void> {
    const key = names.stream('apply.approved');
    await redis.xgroup('CREATE', key, 'intent_executor', '0', 'MKSTREAM');
    await approve(names, p);
    const r = (await redis.xreadgroup('GROUP', 'intent_executor', 'dead:1', 'COUNT', 1, 'STREAMS', key, '>')) as [string, [string, string[]][]][];
    const id = r[0]![1][0]![0];
    for (let i = 1; i < times; i++) await redis.xclaim(key, 'intent_executor', 'dead:1', 0, id);
  }

  it('books the fill of an order an earlier delivery sent, instead of dead-lettering the entry', async () => {
    const names = testNames(uniquePrefix('exec'));
    const paper = makePaper(names);
    await setMark(names, 'BTCUSDT', 60000);
    const p = plan();
    const cid = clientOrderIdFor(p.plan_id);
    await deliveredOften(names, p, 7);
    // an earlier incarnation marked the order and sent it, then died before committing
    await redis.hset(names.order(cid), { status: 'PENDING', plan_id: p.plan_id, symbol: 'BTCUSDT', client_order_id: cid });
    await paper.submitMarketOrder({ symbol: 'BTCUSDT', side: 'BUY', qty: 0.002, reduceOnly: false, clientOrderId: cid, leverage: 10 });
    await startExecutor(names, paper);
    const res = await waitFor(async () => (await results(names))[0], 20000, 'the result');
    expect(res).toMatchObject({ executed: true, client_order_id: cid });
    expect(await redis.xlen(names.stream('dead.letter'))).toBe(0);
    expect(await redis.llen(names.paperOrderLog())).toBe(1);
    expect(await redis.hget(names.position('BTCUSDT'), 'qty')).toBe('0.002');
  });

  it('refuses one whose order the exchange does not have, and sends nothing', async () => {
    const names = testNames(uniquePrefix('exec'));
    const paper = makePaper(names);
    await setMark(names, 'BTCUSDT', 60000);
    const p = plan();
    await deliveredOften(names, p, 7);
    await startExecutor(names, paper);
    const res = await waitFor(async () => (await results(names))[0], 20000, 'the result');
    expect(res).toMatchObject({ executed: false, reason: 'exchange_unavailable' });
    expect(res.detail).toMatch(/delivered 8 times without being settled \(max 5\)/); // 7 + the reclaim
    expect(await redis.xlen(names.stream('dead.letter'))).toBe(0);
    expect(await redis.llen(names.paperOrderLog())).toBe(0);
  });
});
