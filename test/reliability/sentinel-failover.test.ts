/**
 * Redis Sentinel failover under load (issue 19): a real primary, replica and three
 * sentinels (test/helpers/redis-sentinel.ts); `qt up` (intent_bridge, apply_layer,
 * intent_executor) reaches the primary through the sentinels (QT_REDIS_SENTINELS) while
 * intents flow; the primary is SIGKILLed mid-run, the sentinels promote the replica, the
 * engine follows. At the end: every intent the producer had confirmed on a replica is
 * there and has exactly one outcome, the exchange saw no client order id (one per plan)
 * twice, every exchange order is booked, and engine position = exchange position.
 *
 * The exchange is the fake Binance server (test/helpers/fake-binance.ts), not the paper
 * exchange: the paper exchange keeps its state in the same Redis, so a failover rolls its
 * orders back together with the engine's records and it could never witness an order sent
 * twice. The fake keeps its orders in this process, as Binance keeps them outside our Redis.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { failUnfulfilledOnReconnect, newRedis, redisOptions } from '../../src/redis/connect.js';
import { EngineProc } from '../helpers/engine-proc.js';
import { startFakeBinance, type FakeBinance } from '../helpers/fake-binance.js';
import { SentinelDeployment } from '../helpers/redis-sentinel.js';
import { waitFor } from '../helpers/redis.js';
import { PRICES, SYMBOLS, accountIntents, addIntents, entries, pending, permissivePolicy, writePrices } from './harness.js';

let d: SentinelDeployment | undefined;
let fake: FakeBinance | undefined;
let engine: EngineProc | undefined;
const conns: Redis[] = [];
afterAll(async () => {
  if (process.env.QT_SENTINEL_TEST_LOG && engine) writeFileSync(process.env.QT_SENTINEL_TEST_LOG, engine.lines.map((l) => JSON.stringify(l)).join('\n') + '\n' + engine.raw);
  await engine?.kill();
  for (const c of conns) c.disconnect();
  await fake?.close();
  await d?.stop();
});

const TOTAL = 240;
const KILL_AT = 80;

/** `qt` with the sentinel environment; resolves with its exit code and output. */
function qt(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('QT_') || k === 'REDIS_URL') delete base[k];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['dist/cli.js', ...args], { env: { ...base, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    p.once('exit', (code) => resolve({ code, out }));
  });
}

describe.runIf(existsSync('dist/cli.js'))('Redis Sentinel: the primary SIGKILLed under load', () => {
  it('loses no confirmed intent, sends no order twice, and keeps engine position = exchange position', async () => {
    d = await SentinelDeployment.start();
    fake = await startFakeBinance({ balance: 1e9 });
    for (const s of SYMBOLS) fake.setPrice(s, PRICES[s]!);
    const prefix = `qt-test-sentinel-${process.pid}`;
    const names = new Names({ prefix });
    // The test's own connection also goes through the sentinels, and follows the failover.
    const r = failUnfulfilledOnReconnect(newRedis(d.url(), { ...redisOptions({ url: d.url(), role: 'worker', name: 'test' }), lazyConnect: false, autoResendUnfulfilledCommands: false }));
    r.on('error', () => undefined);
    conns.push(r);
    await permissivePolicy(r, names);
    // Approvals wait behind the one-at-a-time executor: none should expire in this test.
    await r.hset(names.policy(), 'entry_max_age_ms', '3600000');
    await writePrices(r, names);

    const env = {
      QT_REDIS_SENTINELS: d.sentinelList(),
      QT_REDIS_MASTER_NAME: d.masterName,
      QT_PREFIX: prefix,
      QT_EXCHANGE: 'binance',
      QT_BINANCE_MODE: 'demo',
      QT_BINANCE_BASE_URL: fake.url,
      BINANCE_API_KEY: fake.apiKey,
      BINANCE_API_SECRET: fake.secret,
      QT_SYMBOLS: SYMBOLS.join(','),
      // Small batches: the executor writes its PENDING records batch by batch, so some are written after the cut below.
      QT_BATCH_SIZE: '2',
      QT_BLOCK_MS: '200',
      QT_RECLAIM_IDLE_MS: '1000',
      QT_RECLAIM_EVERY_MS: '500',
      QT_HEARTBEAT_MS: '500',
      QT_MAX_DELIVERIES: '100',
      QT_ORDER_LOOKUP_MS: '300',
      QT_REDIS_WAIT_MS: '300',
      QT_ENTRY_MAX_AGE_MS: '600000',
      // Only to show that this test fails without the WAIT (QT_SENTINEL_TEST_WAIT_REPLICAS=0).
      ...(process.env.QT_SENTINEL_TEST_WAIT_REPLICAS ? { QT_REDIS_WAIT_REPLICAS: process.env.QT_SENTINEL_TEST_WAIT_REPLICAS } : {}),
    };
    engine = new EngineProc(['--stages', 'intent_bridge,apply_layer,intent_executor'], env);
    await waitFor(async () => (await r.hget(names.service('intent_executor'), 'status')) === 'running', 120_000, `the executor running\n${engine.tail()}`);

    // Producer: two intents every 40 ms; a batch counts as confirmed once WAIT says a replica has it.
    const confirmed = new Set<string>();
    let sent = 0;
    let stop = false;
    const producer = (async () => {
      while (!stop && sent < TOTAL) {
        const from = sent;
        sent += 2;
        try {
          await addIntents(r, names, from, 2, 'sf');
          if (Number(await r.call('WAIT', 1, 300)) >= 1) for (let i = from; i < from + 2; i++) confirmed.add(`sf-${i}`);
        } catch {
          /* cut off by the failover: not confirmed */
        }
        await new Promise((res) => setTimeout(res, 40));
      }
    })();

    // Mid-run: orders are flowing when the primary dies, and its replica has been cut off
    // from it (the worst case of asynchronous replication: the primary has acknowledged
    // writes the replica never got). The replica stays cut off until four orders went out
    // after the cut (more than the batch in hand, whose records were written before it), or
    // 4 s passed (with WAIT no new order can go out meanwhile: the bound is then reached).
    // The primary dies first, then the replica resumes: what it missed is gone.
    await waitFor(() => sent >= KILL_AT && fake!.orders.length > 10, 120_000, 'orders flowing before the kill');
    const primary = await d.masterPort();
    const replica = d.nodes.find((n) => n.port !== primary)!.port;
    await d.cutReplica(replica, primary);
    const heldAt = Date.now();
    const ordersBefore = fake.orders.length;
    const intentsBefore = sent;
    await waitFor(() => (fake!.orders.length >= ordersBefore + 4 && sent >= intentsBefore + 4) || Date.now() - heldAt > 4000, 60_000, 'orders or 4 s with the replica cut off');
    const sentWhileHeld = fake.orders.length - ordersBefore;
    const killedAt = Date.now();
    await d.kill(primary);
    d.resume(replica);
    const promoted = await d.awaitFailoverFrom(primary);
    const promotedAfterMs = Date.now() - killedAt;
    // An operator brings the lost node back as a replica of the new primary (empty: no persistence).
    await d.restart(primary, promoted);
    const replicaBackAfterMs = Date.now() - killedAt;
    await producer;
    stop = true;

    const deadline = 240_000;
    await waitFor(async () => (await accountIntents(r, names)).problems.length === 0, deadline, `every intent answered once\n${engine.tail()}`);
    await waitFor(async () => (await pending(r, names.stream('apply.approved'), 'intent_executor')) === 0, deadline, 'nothing pending at the executor');

    // The engine saw the failover as a lost connection and came back on the new primary.
    const lost = engine.find('lost the Redis connection; reconnecting');
    const back = await engine.waitLine('Redis connection back');
    const engineFailoverMs = back.time - killedAt;

    const acc = await accountIntents(r, names);
    const present = new Set((await entries(r, names.stream('trade.intent'))).map((e) => e.intent_id));
    const lostIntents = [...confirmed].filter((i) => !present.has(i));
    const orders = fake.orders.filter((o) => String(o.clientOrderId).startsWith('qt-'));
    const perCid = new Map<string, number>();
    for (const o of orders) perCid.set(String(o.clientOrderId), (perCid.get(String(o.clientOrderId)) ?? 0) + 1);
    const duplicates = [...perCid].filter(([, n]) => n > 1);
    const results = await entries(r, names.stream('apply.result'));
    const booked = new Set(results.filter((x) => x.executed === 'true').map((x) => x.client_order_id));
    const unbooked = [...perCid.keys()].filter((c) => !booked.has(c));
    const positions = [];
    for (const s of SYMBOLS) {
      const h = await r.hgetall(names.position(s));
      const eng = Number(h.qty ?? 0) * (h.side === 'SHORT' ? -1 : 1);
      const p = fake.positions.get(s);
      const ex = p ? p.qty * (p.side === 'SHORT' ? -1 : 1) : 0;
      positions.push({ symbol: s, engine: Math.round(eng * 1e8) / 1e8, exchange: Math.round(ex * 1e8) / 1e8 });
    }
    const firstOrderAfter = fake.calls.find((c) => c.method === 'POST' && c.path === '/fapi/v1/order' && c.status === 200 && c.at > killedAt);
    const waitRefusals = engine.lines.filter((l) => /replica/.test(String(l.error ?? ''))).length;
    console.log(JSON.stringify({
      intents_sent: sent, intents_confirmed: confirmed.size, intents_in_stream: present.size, intents_lost: lostIntents.length,
      outcomes: { executed: acc.executed, not_executed: acc.notExecuted, rejected_before_executor: acc.rejectedBeforeExecutor, dead: acc.dead },
      exchange_orders: orders.length, duplicates: duplicates.length, unbooked: unbooked.length,
      sentinel_promoted_after_ms: promotedAfterMs, engine_reconnected_after_ms: engineFailoverMs, engine_saw_loss: !!lost,
      replica_back_after_ms: replicaBackAfterMs, orders_resumed_after_ms: firstOrderAfter ? firstOrderAfter.at - killedAt : null,
      wait_refusals_logged: waitRefusals, orders_sent_while_replica_held: sentWhileHeld, positions,
      reasons: results.filter((x) => x.executed !== 'true').reduce<Record<string, number>>((m, x) => ((m[x.reason ?? '?'] = (m[x.reason ?? '?'] ?? 0) + 1), m), {}),
    }));

    expect(lostIntents).toEqual([]);
    expect(acc.problems).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(unbooked).toEqual([]);
    expect(booked.size).toBe(perCid.size);
    for (const p of positions) expect(p.engine, p.symbol).toBe(p.exchange);
    expect(acc.executed).toBeGreaterThan(0);

    // Diagnostics through the sentinels, on the new primary.
    const h = await qt(['health', '--format', 'json'], { QT_REDIS_SENTINELS: d.sentinelList(), QT_PREFIX: prefix });
    console.log(h.out.slice(0, 1500));
    expect(h.out).not.toMatch(/cannot reach/);
    const report = JSON.parse(h.out) as Record<string, unknown>;
    expect(JSON.stringify(report)).toMatch(/sentinel/);
  });
});
