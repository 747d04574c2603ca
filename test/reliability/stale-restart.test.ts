/**
 * Issue 14 §1 and §2 with real engine processes (`qt up --stages …` of the built CLI) on
 * the test Redis:
 * - the reproduction: the stages ran once, went down (SIGKILL), and an entry intent an
 *   hour old and one three days old were written meanwhile; after the restart both end as
 *   counted `intent_expired` rejections, `qt trace` shows the expiry, and
 *   `qt diagnose pipeline` reports how many entries expired and since when;
 * - one process per stage, the producer first (systemd): five intents written before
 *   any stage ever ran, and the producer's own intents written before its consumer's first
 *   start, all reach the bridge and end planned or rejected; none vanish.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { encode, fieldsFromArray } from '../../src/contract/messages.js';
import { Names } from '../../src/contract/names.js';
import { closeAll, metricSums, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';
import { Procs, SYMBOLS, accountIntents, addIntents, entries, permissivePolicy, writePrices } from './harness.js';

let procs: Procs | undefined;
afterAll(async () => {
  await procs?.killAll();
  await closeAll();
});

/** The built CLI, without the caller's QT_* variables; resolves with its exit code and output. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('QT_') || k === 'REDIS_URL') delete env[k];
    const p = spawn(process.execPath, ['dist/cli.js', ...args], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const HOUR = 3_600_000;

describe.runIf(existsSync('dist/cli.js'))('stale entries and first starts, with engine processes', () => {
  it('after an outage, an hour-old and a three-day-old entry intent become counted intent_expired rejections; trace and diagnose show it', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('stale');
    const names = new Names({ prefix });
    await permissivePolicy(r, names);
    await writePrices(r, names);
    procs = new Procs({ redisUrl: testRedisUrl(), prefix });
    const stages = 'intent_bridge,apply_layer,intent_executor';
    const up = async (): Promise<ChildProcess> => {
      const p = procs!.stage(stages);
      for (const s of stages.split(',')) await waitFor(async () => (await r.hget(names.service(s), 'pid')) === String(p.pid), 60000, `${s} up`);
      return p;
    };

    // The stages ran once: a fresh entry is executed.
    let engine = await up();
    await addIntents(r, names, 0, 1, 'fresh');
    await waitFor(async () => (await entries(r, names.stream('apply.result'))).some((x) => x.intent_id === 'fresh-0' && x.executed === 'true'), 60000, 'the fresh entry executed');

    // Outage: the engine is killed; entries written meanwhile are old when it comes back.
    await procs.kill(engine, 'SIGKILL');
    const now = Date.now();
    const raw = (id: string, ts: number) => ['ts', String(ts), 'intent_type', 'AUTONOMOUS_ENTRY', 'source', 't', 'intent_id', id, 'symbol', 'BTCUSDT', 'action', 'BUY', 'position_usd', '300', 'leverage', '2'];
    await r.xadd(names.stream('trade.intent'), '*', ...raw('old-1', now - HOUR));
    await r.xadd(names.stream('trade.intent'), '*', ...raw('old-3d', now - 3 * 24 * HOUR));
    await writePrices(r, names); // the price is fresh: only the intents' age refuses them
    engine = await up();

    const expired = await waitFor(async () => {
      const rej = (await entries(r, names.stream('stage.rejected'))).filter((x) => x.reason === 'intent_expired');
      return rej.length >= 2 ? rej : null;
    }, 60000, 'two intent_expired rejections');
    expect(expired.map((x) => [x.stage, x.ref_id]).sort()).toEqual([['intent_bridge', 'old-1'], ['intent_bridge', 'old-3d']]);
    for (const x of expired) {
      const m = /age (\d+) ms > limit (\d+) ms/.exec(x.detail)!;
      expect(Number(m[1])).toBeGreaterThanOrEqual(x.ref_id === 'old-1' ? HOUR : 3 * 24 * HOUR);
      expect(Number(m[2])).toBe(60000);
    }
    expect((await metricSums(r, names, 'intent_bridge'))['rej:intent_expired']).toBe(2);
    const results = await entries(r, names.stream('apply.result'));
    expect(results.filter((x) => x.intent_id.startsWith('old-'))).toEqual([]);
    expect(await r.llen(names.paperOrderLog())).toBe(1);

    const tr = await cli(['trace', 'old-1', '--json', '--prefix', prefix, '--redis-url', testRedisUrl()]);
    expect(tr.code, tr.stderr).toBe(0);
    const t = JSON.parse(tr.stdout) as { outcome: string; stopped_at: { stage: string; reason: string; detail: string } };
    expect(t.outcome).toBe('rejected');
    expect(t.stopped_at).toMatchObject({ stage: 'intent_bridge', reason: 'intent_expired' });
    expect(t.stopped_at.detail).toMatch(/age \d+ ms > limit 60000 ms/);

    const dg = await cli(['diagnose', 'pipeline', '--json', '--prefix', prefix, '--redis-url', testRedisUrl()]);
    const report = JSON.parse(dg.stdout) as { findings: { code: string; subject: string; evidence: Record<string, unknown> }[]; stages: { stage: string; expired?: { count: number } }[] };
    const f = report.findings.find((x) => x.code === 'ENTRIES_EXPIRED');
    expect(f, dg.stdout.slice(0, 2000)).toMatchObject({ subject: 'intent_bridge', evidence: { count: 2, limit_ms: 60000 } });
    expect(Number(f!.evidence.first_at)).toBeLessThanOrEqual(Date.now());
    expect(Number(f!.evidence.oldest_age_ms)).toBeGreaterThanOrEqual(3 * 24 * HOUR);
    expect(report.stages.find((s) => s.stage === 'intent_bridge')?.expired?.count).toBe(2);
    await procs.kill(engine, 'SIGTERM');
  });

  it('one process per stage, the producer first: intents written before any consumer ever started are all planned or rejected', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('first');
    const names = new Names({ prefix });
    await permissivePolicy(r, names);
    await writePrices(r, names);
    procs = new Procs({ redisUrl: testRedisUrl(), prefix });

    // Five intents before any stage ever ran: no group exists yet.
    await addIntents(r, names, 0, 5, 'pre');
    expect(await r.xinfo('GROUPS', names.stream('trade.intent'))).toEqual([]);

    // The producer starts first (systemd order is not guaranteed): it creates its consumer's group.
    const trader = procs.stage('autonomous_trader');
    await waitFor(async () => (await r.hget(names.service('autonomous_trader'), 'pid')) === String(trader.pid), 60000, 'autonomous_trader up');
    // (it beats first, then creates the groups: wait for the group, not for a moment)
    await waitFor(async () => ((await r.xinfo('GROUPS', names.stream('trade.intent'))) as unknown[]).length > 0, 60000, 'the intent_bridge group');
    const groups = ((await r.xinfo('GROUPS', names.stream('trade.intent'))) as unknown[][]).map((g) => fieldsFromArray(g.map(String)));
    expect(groups).toMatchObject([{ name: 'intent_bridge', 'last-delivered-id': '0-0', lag: '5' }]);

    // It writes intents of its own before the bridge ever ran.
    for (const [i, symbol] of SYMBOLS.entries()) {
      await r.xadd(names.stream('ai.signal_generated'), '*', ...Object.entries(encode('ai.signal_generated', {
        signal_id: `sig-${i}`, ts: Date.now(), symbol, side: 'BUY', confidence: 0.9, price: 100, models: JSON.stringify({ vol_1m_pct: 0.5 }), model_version: 't',
      })).flat());
    }
    await waitFor(async () => (await r.xlen(names.stream('trade.intent'))) >= 5 + SYMBOLS.length, 60000, 'the trader\'s intents');

    // Then the consumers, one process each, downstream first.
    for (const s of ['intent_executor', 'apply_layer', 'intent_bridge']) {
      const p = procs.stage(s);
      await waitFor(async () => (await r.hget(names.service(s), 'pid')) === String(p.pid), 60000, `${s} up`);
    }
    const acc = await waitFor(async () => {
      const a = await accountIntents(r, names);
      return a.problems.length === 0 ? a : null;
    }, 90000, 'every intent answered exactly once');
    expect(acc.intents).toBe(5 + SYMBOLS.length);
    expect(acc.executed + acc.notExecuted + acc.rejectedBeforeExecutor + acc.dead).toBe(5 + SYMBOLS.length);
    expect(acc.executed).toBeGreaterThanOrEqual(5);
    await procs.killAll('SIGTERM');
  });
});
