/**
 * Protective stops with real processes and SIGKILL (issue 18), on the paper exchange:
 * - the executor killed while it fills entries (between a fill and its stop placement for some of
 *   them): after a restart with harvest_brain, every open position has exactly one resting stop at
 *   its sl price, and no stop rests without a position;
 * - the trading stages killed, then the price crosses the stop with `qt up --stages market` alone:
 *   the paper exchange closes the position and announces the fill on execution.result; the engine
 *   (reconciler) books it when it comes back.
 * The measured figures (fill → stop resting, crossing → fill) are printed for the report.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encode } from '../../src/contract/messages.js';
import { Names } from '../../src/contract/names.js';
import { DEFAULT_POLICY, policyToHash, readPosition } from '../../src/contract/state.js';
import { readProtect } from '../../src/engine/protect/stops.js';
import { Procs, entries } from '../reliability/harness.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

afterAll(closeAll);
const all: Procs[] = [];
afterAll(async () => {
  for (const p of all) await p.killAll();
});

const SYMS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'BNBUSDT', 'XRPUSDT', 'ADAUSDT', 'LINKUSDT', 'AVAXUSDT', 'LTCUSDT'];
const PX: Record<string, number> = { BTCUSDT: 50000, ETHUSDT: 3000, SOLUSDT: 150, BNBUSDT: 600, XRPUSDT: 0.6, ADAUSDT: 0.5, LINKUSDT: 15, AVAXUSDT: 30, LTCUSDT: 80 };

async function setup(r: ReturnType<typeof testRedis>, names: Names, syms: string[]) {
  await r.hset(names.policy(), policyToHash({
    ...DEFAULT_POLICY, version: '9', allowlist: syms, max_open_positions: 1000, max_position_usd: 1e6, max_leverage: 20, min_confidence: 0,
    max_symbol_exposure_usd: 1e12, max_total_exposure_usd: 1e12, daily_loss_limit_usd: 1e12, price_max_age_ms: 600000,
  }));
  const p = r.pipeline();
  for (const s of syms) p.hset(names.price(s), { price: String(PX[s]), mark: String(PX[s]), ts: String(Date.now()), source: 'test' });
  await p.exec();
}

function entry(names: Names, sym: string, i: number): string[] {
  return Object.entries(encode('trade.intent', {
    intent_id: `pc-${sym}-${i}-${Date.now()}`, ts: Date.now(), intent_type: 'MANUAL', symbol: sym, source: 'test', action: 'BUY', position_usd: 100, leverage: 5, sl_pct: 1,
  })).flat();
}

async function openStops(r: ReturnType<typeof testRedis>, names: Names): Promise<Record<string, string>[]> {
  const cids = await r.smembers(names.paperAlgoOpen());
  const out: Record<string, string>[] = [];
  for (const c of cids) {
    const h = await r.hgetall(names.paperAlgo(c));
    if (h.status === 'NEW') out.push(h);
  }
  return out;
}

describe.runIf(existsSync('dist/cli.js'))('protective stops across SIGKILL (real processes)', () => {
  it('an executor killed between fills and stop placements still ends with exactly one resting stop per open position', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('pcrash');
    const names = new Names({ prefix });
    await setup(r, names, SYMS);
    const procs = new Procs({ redisUrl: testRedisUrl(), prefix, capture: true, env: { QT_SYMBOLS: SYMS.join(','), QT_BATCH_SIZE: '1' } });
    all.push(procs);
    await r.xgroup('CREATE', names.stream('trade.intent'), 'intent_bridge', '0', 'MKSTREAM');
    await r.xgroup('CREATE', names.stream('apply.approved'), 'intent_executor', '0', 'MKSTREAM');
    procs.stage('intent_bridge,apply_layer');
    const p = r.pipeline();
    SYMS.forEach((s, i) => p.xadd(names.stream('trade.intent'), '*', ...entry(names, s, i)));
    await p.exec();
    await waitFor(async () => (await r.xlen(names.stream('apply.approved'))) >= SYMS.length, 30000, 'entries approved').catch((e) => {
      throw new Error(`${(e as Error).message}: ${procs.output.join('').slice(-2000)}`);
    });
    const exec1 = procs.stage('intent_executor');
    // Killed as soon as the first fills are committed: placements of those are in flight or not started.
    await waitFor(async () => (await r.xlen(names.stream('apply.result'))) >= 3, 30000, 'first fills');
    await procs.kill(exec1);
    const filledAtKill = await r.xlen(names.stream('apply.result'));
    const stopsAtKill = (await openStops(r, names)).length;
    console.log(`[protect-crash] at SIGKILL: ${filledAtKill} fills committed, ${stopsAtKill} stops resting`);

    procs.stage('intent_executor,harvest_brain');
    await waitFor(async () => (await r.xlen(names.stream('apply.result'))) >= SYMS.length, 30000, 'every entry filled');
    const check = async () => {
      const stops = await openStops(r, names);
      const bySym = new Map<string, number>();
      for (const s of stops) bySym.set(s.symbol, (bySym.get(s.symbol) ?? 0) + 1);
      for (const s of SYMS) {
        const pos = readPosition(s, await r.hgetall(names.position(s)));
        if (!pos) return false;
        const rec = readProtect(s, await r.hgetall(names.protect(s)));
        if (bySym.get(s) !== 1 || rec?.status !== 'ACTIVE') return false;
      }
      return stops.length === SYMS.length;
    };
    await waitFor(check, 30000, 'one resting stop per position');
    for (const s of SYMS) {
      const pos = readPosition(s, await r.hgetall(names.position(s)))!;
      const [stop] = (await openStops(r, names)).filter((x) => x.symbol === s);
      expect(stop.side).toBe('SELL');
      expect(Number(stop.stop_price)).toBeGreaterThanOrEqual(pos.sl_price);
      expect(Number(stop.stop_price)).toBeLessThan(pos.entry_price);
    }
    const rest = await Promise.all(SYMS.map(async (s) => Number(await r.hget(names.protect(s), 'rest_ms'))));
    console.log(`[protect-crash] fill → stop resting ms per position: ${rest.join(', ')}`);
    // `qt orders` lists them, each with the position it protects.
    const cli = (...a: string[]) => execFileSync(process.execPath, ['dist/cli.js', 'orders', '--prefix', prefix, '--redis-url', testRedisUrl(), ...a], { encoding: 'utf8', env: { ...process.env, QT_SYMBOLS: SYMS.join(',') } });
    const listed = JSON.parse(cli('--json')) as { exchange: string; orders: { symbol: string; type: string; side: string; close_position: boolean; protects: string }[] };
    expect(listed.exchange).toBe('paper');
    expect(listed.orders.map((o) => o.symbol).sort()).toEqual([...SYMS].sort());
    for (const o of listed.orders) expect(o).toMatchObject({ type: 'STOP_MARKET', side: 'SELL', close_position: true, protects: expect.stringMatching(/^LONG /) });
    const text = cli('--symbol', 'BTCUSDT');
    expect(text).toMatch(/^SYMBOL\s+TYPE\s+SIDE\s+STOP\s+CLOSE_POS\s+AGE/);
    expect(text.trim().split('\n')).toHaveLength(2);
    await procs.killAll('SIGTERM');
  });

  it('trading stages killed, price crosses the stop: `qt up --stages market` alone closes the position; the reconciler books it on restart', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('pmkt');
    const names = new Names({ prefix });
    await setup(r, names, ['BTCUSDT']);
    const procs = new Procs({ redisUrl: testRedisUrl(), prefix, capture: true, env: { QT_SYMBOLS: 'BTCUSDT', QT_SL_PCT: '1', QT_LOG_LEVEL: 'info' } });
    all.push(procs);
    const engine = procs.stage('intent_bridge,apply_layer,intent_executor');
    await r.xadd(names.stream('trade.intent'), '*', ...entry(names, 'BTCUSDT', 0));
    const rec = await waitFor(async () => {
      const x = readProtect('BTCUSDT', await r.hgetall(names.protect('BTCUSDT')));
      return x?.status === 'ACTIVE' ? x : null;
    }, 30000, 'stop resting');
    const pos = readPosition('BTCUSDT', await r.hgetall(names.position('BTCUSDT')))!;
    console.log(`[protect-market] fill → stop resting: ${rec.rest_ms} ms (stop ${rec.stop_price}, entry ${pos.entry_price})`);
    await procs.kill(engine); // SIGKILL: nothing of the engine runs any more

    // A recorded fall through the stop: 1-minute candles from 50000 down to 48500.
    const dir = mkdtempSync(join(tmpdir(), 'qt-protect-'));
    const file = join(dir, 'BTCUSDT-fall.ohlcv.json');
    const t0 = Date.UTC(2024, 0, 1);
    const closes = [50000, 49900, 49800, 49700, 49600, 49400, 49200, 49000, 48800, 48500];
    writeFileSync(file, JSON.stringify(closes.map((c, i) => [t0 + i * 60000, i ? closes[i - 1] : c, Math.max(c, i ? closes[i - 1] : c), Math.min(c, i ? closes[i - 1] : c), c, 1])));
    const market = procs.stage('market', { QT_MARKET: 'replay', QT_REPLAY_FILE: file, QT_REPLAY_SPEED: '600', QT_MARKET_TICK_MS: '100' });
    let crossedAt = 0;
    const fill = await waitFor(async () => {
      const m = await r.hmget(names.price('BTCUSDT'), 'mark', 'ts');
      if (!crossedAt && Number(m[0]) > 0 && Number(m[0]) <= rec.stop_price) crossedAt = Number(m[1]);
      return (await entries(r, names.stream('execution.result'))).find((e) => e.plan_id === rec.client_algo_id);
    }, 60000, 'the stop filled with only the market stage running');
    const algo = await r.hgetall(names.paperAlgo(rec.client_algo_id));
    expect(algo.status).toBe('FINISHED');
    expect(Number(fill.qty)).toBe(pos.qty);
    expect(await r.exists(names.paperPosition('BTCUSDT'))).toBe(0);
    const crossToFill = Number(fill.ts) - (crossedAt || Number(algo.triggered_at));
    console.log(`[protect-market] mark crossed the stop → fill: ${crossToFill} ms (trigger mark ${algo.trigger_mark}, fill price ${fill.price}, realized ${fill.realized_pnl} USDT)`);
    expect(Number(fill.price)).toBeLessThan(rec.stop_price + 1);
    // The engine's record is stale until it comes back.
    expect(Number(await r.hget(names.position('BTCUSDT'), 'qty'))).toBe(pos.qty);
    await procs.kill(market, 'SIGTERM');

    const back = Date.now();
    procs.stage('reconciler,harvest_brain', { QT_RECONCILE_MS: '500' });
    await waitFor(async () => (await r.exists(names.position('BTCUSDT'))) === 0 && (await r.exists(names.protect('BTCUSDT'))) === 0, 30000, 'engine books the fired stop');
    console.log(`[protect-market] engine back → position booked closed: ${Date.now() - back} ms`);
    const ledger = await r.hgetall(names.ledger('BTCUSDT'));
    expect(Number(ledger.realized_pnl), `booked once (ledger ${JSON.stringify(ledger)}; logs: ${procs.output.join('').slice(-3000)})`).toBeCloseTo(Number(fill.realized_pnl), 6);
    expect((await entries(r, names.stream('execution.result'))).filter((e) => e.plan_id === rec.client_algo_id)).toHaveLength(1);
    expect(await openStops(r, names)).toHaveLength(0);
    await procs.killAll('SIGTERM');
  });

  it('harvest_brain SIGKILLed in the middle of a cancel/replace: the next harvest_brain ends with exactly one stop per position', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('pmove');
    const names = new Names({ prefix });
    const syms = SYMS.slice(0, 6);
    await setup(r, names, syms);
    const procs = new Procs({ redisUrl: testRedisUrl(), prefix, env: { QT_SYMBOLS: syms.join(','), QT_LEASE_TTL_MS: '1000' } });
    all.push(procs);
    await r.xgroup('CREATE', names.stream('trade.intent'), 'intent_bridge', '0', 'MKSTREAM');
    procs.stage('intent_bridge,apply_layer,intent_executor');
    const p = r.pipeline();
    syms.forEach((s, i) => p.xadd(names.stream('trade.intent'), '*', ...entry(names, s, i)));
    await p.exec();
    await waitFor(async () => (await openStops(r, names)).length === syms.length, 30000, 'every entry protected');
    // The stop level alternates by 0.2 R on every position (as a changed sl does), so every harvest pass moves all stops.
    const base = new Map<string, { sl: number; entry: number }>();
    for (const s of syms) {
      const pos = readPosition(s, await r.hgetall(names.position(s)))!;
      base.set(s, { sl: pos.sl_price, entry: pos.entry_price });
    }
    let flip = false;
    let toggling = true;
    const toggler = (async () => {
      while (toggling) {
        flip = !flip;
        const tx = r.pipeline();
        for (const [s, b] of base) tx.hset(names.position(s), 'sl_price', String(flip ? b.sl + 0.2 * (b.entry - b.sl) : b.sl));
        await tx.exec();
        await new Promise((res) => setTimeout(res, 40));
      }
    })();
    // Freeze harvest_brain at random moments until it is caught mid-move (a REPLACING record), then SIGKILL it there.
    let caught: { symbol: string; prev: string; next: string; prevStatus: string; nextStatus: string } | null = null;
    let hb = procs.stage('harvest_brain');
    const deadline = Date.now() + 60_000;
    while (!caught && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 1 + Math.random() * 4));
      hb.kill('SIGSTOP');
      for (const s of syms) {
        const rec = readProtect(s, await r.hgetall(names.protect(s)));
        if (rec?.status === 'REPLACING') {
          const [a, b] = await Promise.all([r.hget(names.paperAlgo(rec.client_algo_id), 'status'), r.hget(names.paperAlgo(rec.next_client_algo_id), 'status')]);
          caught = { symbol: s, prev: rec.client_algo_id, next: rec.next_client_algo_id, prevStatus: a ?? 'none', nextStatus: b ?? 'none' };
          break;
        }
      }
      if (caught) await procs.kill(hb, 'SIGKILL');
      else hb.kill('SIGCONT');
    }
    toggling = false;
    await toggler;
    expect(caught, 'harvest_brain caught in the middle of a move').not.toBeNull();
    console.log(`[protect-move] SIGKILL mid-move on ${caught!.symbol}: old stop ${caught!.prevStatus}, new stop ${caught!.nextStatus}`);
    const killedAt = Date.now();
    hb = procs.stage('harvest_brain');
    const check = async () => {
      const stops = await openStops(r, names);
      for (const s of syms) {
        const mine = stops.filter((x) => x.symbol === s);
        const rec = readProtect(s, await r.hgetall(names.protect(s)));
        const sl = Number(await r.hget(names.position(s), 'sl_price'));
        if (mine.length !== 1 || rec?.status !== 'ACTIVE' || rec.client_algo_id !== mine[0].client_algo_id || Math.abs(Number(mine[0].stop_price) - sl) > sl * 1e-3) return false;
      }
      return stops.length === syms.length;
    };
    await waitFor(check, 30000, 'exactly one stop per position at its level after the restart');
    console.log(`[protect-move] restart → every position with exactly one stop: ${Date.now() - killedAt} ms`);
    const gaps = await Promise.all(syms.map(async (s) => Number(await r.hget(names.protect(s), 'gap_ms'))));
    console.log(`[protect-move] longest cancel→place gap per position (ms): ${gaps.join(', ')}`);
    await procs.killAll('SIGTERM');
  });
});

