import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ExchangeError, type Exchange } from '../../src/engine/exchange/types.js';
import { instrumentExchange, instrumentStage } from '../../src/engine/metrics-instruments.js';
import { startMetricsServer, type MetricsServer } from '../../src/engine/metrics-server.js';
import { StageRunner } from '../../src/engine/runtime/stage-runner.js';
import { addSignals, relayStage, runnerDeps } from '../runtime/fixtures.js';
import { closeAll, testNames, testRedis, waitFor } from '../helpers/redis.js';

/** The value of one sample in Prometheus text format, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) got[k] = v;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

const scrape = async (url: string) => {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return res.text();
};

const servers: MetricsServer[] = [];
const runners: StageRunner[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(runners.splice(0).map((r) => r.stop()));
});
afterAll(closeAll);

describe('metrics server (real runners, real Redis, scraped over HTTP)', () => {
  it('serves per-stage counts, rejections by reason, group lag/pending, services and positions', async () => {
    const names = testNames();
    const writer = testRedis();
    await waitFor(() => writer.status === 'ready', 5000, 'redis ready');
    const rejectIds = new Set(['sig-1', 'sig-4', 'sig-7']);
    const stage = relayStage({ rejectIds });
    const runner = new StageRunner(instrumentStage(stage), runnerDeps(names, writer));
    runners.push(runner);
    await runner.start();
    const srv = await startMetricsServer({ port: 0, runners: [runner], redis: writer, names, mode: 'PAPER' });
    servers.push(srv);
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    await addSignals(writer, names, 12);
    // A second group that has read 5 entries and acknowledged none: pending 5, lag 7.
    const sig = names.stream('ai.signal_generated');
    await writer.xgroup('CREATE', sig, 'audit', '0');
    await writer.xreadgroup('GROUP', 'audit', 'c1', 'COUNT', 5, 'STREAMS', sig, '>');
    // Positions: one open, one ghost, a ledger, and a snapshot that disagrees (drift).
    await writer.hset(names.position('BTCUSDT'), { symbol: 'BTCUSDT', side: 'LONG', qty: '0.5' });
    await writer.hset(names.position('ETHUSDT'), { symbol: 'ETHUSDT', side: 'LONG', qty: '0' });
    await writer.hset(names.ledger('BTCUSDT'), { realized_pnl: '1', trades: '2' });
    await writer.hset(names.snapshot('BTCUSDT'), { side: 'LONG', qty: '0.4' });
    await writer.hset(names.policy(), { max_open_positions: '10' });

    await waitFor(() => runner.totals.in === 12, 10000, 'all 12 signals handled');
    const text = await waitFor(async () => {
      const t = await scrape(srv.url);
      return sample(t, 'qt_group_pending', { group: 'relay' }) === 0 ? t : undefined;
    }, 10000, 'relay group acknowledged everything');

    const st = { stage: 'relay' };
    expect(sample(text, 'qt_stage_messages_total', { ...st, outcome: 'in' })).toBe(12);
    expect(sample(text, 'qt_stage_messages_total', { ...st, outcome: 'out' })).toBe(9);
    expect(sample(text, 'qt_stage_messages_total', { ...st, outcome: 'rejected' })).toBe(3);
    expect(sample(text, 'qt_stage_messages_total', { ...st, outcome: 'dead' })).toBe(0);
    expect(sample(text, 'qt_stage_messages_total', { ...st, outcome: 'error' })).toBe(0);
    expect(sample(text, 'qt_stage_rejections_total', { ...st, reason: 'confidence_below_min' })).toBe(3);
    expect(sample(text, 'qt_stage_status', { ...st, status: 'running' })).toBe(1);
    expect(stage.handled).toHaveLength(12); // the instrumented stage is the same stage
    expect(sample(text, 'qt_stage_handle_seconds_count', st)).toBe(12);
    expect(sample(text, 'qt_stage_handle_seconds_bucket', { ...st, le: '+Inf' })).toBe(12);
    expect(sample(text, 'qt_stage_handle_seconds_sum', st)).toBeGreaterThan(0);

    expect(sample(text, 'qt_stream_length', { stream: 'ai.signal_generated' })).toBe(12);
    expect(sample(text, 'qt_stream_length', { stream: 'trade.intent' })).toBe(9);
    expect(sample(text, 'qt_stream_length', { stream: 'stage.rejected' })).toBe(3);
    const lastTs = sample(text, 'qt_stream_last_entry_timestamp_seconds', { stream: 'ai.signal_generated' })!;
    expect(Math.abs(Date.now() / 1000 - lastTs)).toBeLessThan(60);
    const g = { stream: 'ai.signal_generated', group: 'audit' };
    expect(sample(text, 'qt_group_pending', g)).toBe(5);
    expect(sample(text, 'qt_group_consumers', g)).toBe(1);
    const info = (await writer.info('server')).match(/redis_version:(\d+)/)?.[1];
    if (Number(info) >= 7) {
      expect(sample(text, 'qt_group_lag', g)).toBe(7);
      expect(sample(text, 'qt_group_lag', { stream: 'ai.signal_generated', group: 'relay' })).toBe(0);
      expect(sample(text, 'qt_stream_entries_added_total', { stream: 'ai.signal_generated' })).toBe(12);
    }

    expect(sample(text, 'qt_service_up', { service: 'relay' })).toBe(1);
    expect(sample(text, 'qt_service_heartbeat_age_seconds', { service: 'relay' })).toBeLessThan(5);
    expect(sample(text, 'qt_positions_open')).toBe(1);
    expect(sample(text, 'qt_positions_limit')).toBe(10);
    expect(sample(text, 'qt_position_keys', { kind: 'ledger' })).toBe(1);
    expect(sample(text, 'qt_position_keys', { kind: 'position' })).toBe(2);
    expect(sample(text, 'qt_position_ghost_keys')).toBe(1);
    expect(sample(text, 'qt_position_drift_symbols')).toBe(1);
    expect(sample(text, 'qt_kill_switch')).toBe(0);
    expect(sample(text, 'qt_position_scan_complete')).toBe(1);
    expect(text).toMatch(/^qt_engine_info\{mode="PAPER",version="[^"]+"\} 1$/m);
    expect(sample(text, 'qt_redis_up')).toBe(1);

    // Counters only grow: more traffic shows up on the next scrape.
    await addSignals(writer, names, 3, 100);
    await waitFor(() => runner.totals.in === 15, 10000, '3 more handled');
    const again = await scrape(srv.url);
    expect(sample(again, 'qt_stage_messages_total', { ...st, outcome: 'in' })).toBe(15);
    expect(sample(again, 'qt_stage_messages_total', { ...st, outcome: 'out' })).toBe(12);

    // A registered service whose heartbeat expired is down.
    await writer.sadd(names.registry(), 'intent_executor');
    expect(sample(await scrape(srv.url), 'qt_service_up', { service: 'intent_executor' })).toBe(0);
  });

  it('still serves the stage series when Redis cannot be read, with qt_redis_up 0', async () => {
    const names = testNames();
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0 });
    dead.on('error', () => undefined);
    const writer = testRedis();
    const runner = new StageRunner(relayStage(), runnerDeps(names, writer)); // never started: totals 0
    const srv = await startMetricsServer({ port: 0, runners: [runner], redis: dead, names, mode: 'DEMO' });
    servers.push(srv);
    const text = await scrape(srv.url);
    expect(sample(text, 'qt_redis_up')).toBe(0);
    expect(sample(text, 'qt_stage_messages_total', { stage: 'relay', outcome: 'in' })).toBe(0);
    expect(sample(text, 'qt_stream_length', { stream: 'ai.signal_generated' })).toBeUndefined();
    expect((await fetch(srv.url.replace('/metrics', '/nope'))).status).toBe(404);
    dead.disconnect();
  });
});

describe('exchange instrumentation', () => {
  it('times exchange calls, counts failures by code and reason, and changes no result', async () => {
    const refusal = new ExchangeError('notional 70.61 < 100', 'below_min_notional', -4164);
    const raw = {
      name: 'paper',
      mode: 'PAPER',
      rules: () => undefined,
      fetchBalance: async () => ({ asset: 'USDT', wallet: 10, available: 7 }),
      submitMarketOrder: async () => {
        throw refusal;
      },
    } as unknown as Exchange;
    const ex = instrumentExchange(raw);
    expect(await ex.fetchBalance()).toEqual({ asset: 'USDT', wallet: 10, available: 7 });
    await expect(ex.submitMarketOrder({} as never)).rejects.toBe(refusal);
    await expect(ex.submitMarketOrder({} as never)).rejects.toBe(refusal);
    expect(ex.rules('BTCUSDT')).toBeUndefined();
    const srv = await startMetricsServer({ port: 0, runners: [], redis: testRedis(), names: testNames(), mode: 'PAPER' });
    servers.push(srv);
    const text = await scrape(srv.url);
    const l = { exchange: 'paper', method: 'submitMarketOrder' };
    expect(sample(text, 'qt_exchange_errors_total', { ...l, code: '-4164', reason: 'below_min_notional' })).toBe(2);
    expect(sample(text, 'qt_exchange_call_seconds_count', l)).toBe(2);
    expect(sample(text, 'qt_exchange_call_seconds_count', { exchange: 'paper', method: 'fetchBalance' })).toBe(1);
    expect(sample(text, 'qt_exchange_errors_total', { exchange: 'paper', method: 'fetchBalance' })).toBeUndefined();
  });
});

describe('metrics server: group lag checked, not copied (issue 15)', () => {
  it('exports no qt_group_lag -99 for ENTRIESREAD nonsense and no sample for a null lag; 0 for a caught-up group Redis miscounts', async () => {
    const names = testNames();
    const w = testRedis();
    await waitFor(() => w.status === 'ready', 5000, 'redis ready');
    const approved = names.stream('apply.approved');
    await w.xadd(approved, '*', 'plan_id', 'p1');
    await w.call('XGROUP', 'CREATE', approved, 'intent_executor', '$', 'ENTRIESREAD', '100'); // lag -99 (redis#14257)
    const plan = names.stream('apply.plan');
    for (let i = 1; i <= 600; i++) await w.xadd(plan, `0-${i}`, 'n', String(i));
    await w.xgroup('CREATE', plan, 'apply_layer', '0');
    await w.xreadgroup('GROUP', 'apply_layer', 'c1', 'COUNT', 1, 'STREAMS', plan, '>');
    await w.xdel(plan, '0-2'); // tombstone after the group's position: lag null by design
    const srv = await startMetricsServer({ port: 0, runners: [], redis: w, names, mode: 'PAPER' });
    servers.push(srv);
    const text = await scrape(srv.url);
    expect(text).not.toMatch(/^qt_group_lag\{[^}]*\} -/m);
    expect(sample(text, 'qt_group_lag', { stream: 'apply.approved', group: 'intent_executor' })).toBe(0);
    expect(sample(text, 'qt_group_entries_read', { stream: 'apply.approved', group: 'intent_executor' })).toBeUndefined();
    expect(sample(text, 'qt_group_lag', { stream: 'apply.plan', group: 'apply_layer' })).toBeUndefined();
    expect(sample(text, 'qt_group_pending', { stream: 'apply.plan', group: 'apply_layer' })).toBe(1);
  });
});
