/**
 * Protective stops on the paper exchange (issue 18), with the engine in its own processes:
 * - fill → stop resting: entries filled by `qt up --stages intent_bridge,apply_layer,intent_executor`,
 *   each position's `rest_ms` (from the exchange fill to its STOP_MARKET resting);
 * - crossing → fill: the trading stages SIGKILLed, `qt up --stages market` alone replays a fall through
 *   the stop; from the first price write at or below the stop to the stop's fill (epoch ms of both).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { encode } from '../contract/messages.js';
import { Names } from '../contract/names.js';
import { BENCH_SYMBOLS, seedState } from './pipeline.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function engine(url: string, prefix: string, stages: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['dist/cli.js', 'up', '--stages', stages, '--prefix', prefix, '--redis-url', url], {
    env: { ...process.env, QT_LOG_LEVEL: 'error', QT_BLOCK_MS: '100', QT_SYMBOLS: Object.keys(BENCH_SYMBOLS).join(','), ...env },
    stdio: 'ignore',
  });
}

async function until<T>(f: () => Promise<T | null | undefined | false>, ms: number, what: string, step = 5): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(step);
  }
}

/** Returns each position's fill → resting time (ms) and the crossing → fill time (ms) of one stop. */
export async function protectTimes(r: Redis, url: string, prefix: string): Promise<{ restMs: number[]; crossToFillMs: number; tickMs: number }> {
  const names = new Names({ prefix });
  await seedState(r, names);
  const syms = Object.keys(BENCH_SYMBOLS);
  await r.xgroup('CREATE', names.stream('trade.intent'), 'intent_bridge', '0', 'MKSTREAM');
  const e = engine(url, prefix, 'intent_bridge,apply_layer,intent_executor');
  const tickMs = 100;
  let m: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'qt-bench-protect-'));
  try {
    const p = r.pipeline();
    syms.forEach((symbol, i) => p.xadd(names.stream('trade.intent'), '*', ...Object.entries(encode('trade.intent', {
      intent_id: `bp-${i}`, ts: Date.now(), intent_type: 'MANUAL', symbol, action: 'BUY', source: 'bench', position_usd: 100, leverage: 5, sl_pct: 1,
    })).flat()));
    await p.exec();
    const restMs = await until(async () => {
      const out: number[] = [];
      for (const s of syms) {
        const [st, rest] = await r.hmget(names.protect(s), 'status', 'rest_ms');
        if (st !== 'ACTIVE') return null;
        out.push(Number(rest));
      }
      return out;
    }, 60_000, 'every position protected', 20);
    e.kill('SIGKILL');
    const [stopRaw, cid] = await r.hmget(names.protect('BTCUSDT'), 'stop_price', 'client_algo_id');
    const stop = Number(stopRaw);
    const px = BENCH_SYMBOLS.BTCUSDT;
    const closes = [px, px * 0.998, px * 0.996, px * 0.994, px * 0.992, px * 0.988, px * 0.985, px * 0.98];
    const file = join(dir, 'BTCUSDT-fall.ohlcv.json');
    const t0 = Date.UTC(2024, 0, 1);
    writeFileSync(file, JSON.stringify(closes.map((c, i) => {
      const o = i ? closes[i - 1] : c;
      return [t0 + i * 60000, o, Math.max(o, c), Math.min(o, c), c, 1];
    })));
    m = engine(url, prefix, 'market', { QT_SYMBOLS: 'BTCUSDT', QT_MARKET: 'replay', QT_REPLAY_FILE: file, QT_REPLAY_SPEED: '600', QT_MARKET_TICK_MS: String(tickMs) });
    let crossedAt = 0;
    const filled = await until(async () => {
      if (!crossedAt) {
        const [mark, ts] = await r.hmget(names.price('BTCUSDT'), 'mark', 'ts');
        if (Number(mark) > 0 && Number(mark) <= stop) crossedAt = Number(ts);
      }
      const [st, at] = await r.hmget(names.paperAlgo(cid!), 'status', 'updated_at');
      return st === 'FINISHED' ? Number(at) : null;
    }, 60_000, 'the stop filled', 2);
    return { restMs, crossToFillMs: filled - crossedAt, tickMs };
  } finally {
    e.kill('SIGKILL');
    m?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
