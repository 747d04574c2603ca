import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config/config.js';
import { decode, encode, fieldsFromArray, type Signal } from '../src/contract/messages.js';
import { DEFAULT_POLICY, type Policy } from '../src/contract/state.js';
import { silentLogger } from '../src/log.js';
import { Engine } from '../src/engine/engine.js';
import { createAutonomousTraderStage } from '../src/engine/stages/autonomous-trader.js';
import { decideEntry, leverageFor, marginFor, type EntryInput } from '../src/engine/stages/trader-decide.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from './helpers/redis.js';
import type { Redis } from 'ioredis';

afterAll(closeAll);

const policy = (p: Partial<Policy> = {}): Policy => ({ ...DEFAULT_POLICY, min_confidence: 0.55, max_position_usd: 500, max_leverage: 10, ...p });
let n = 0;
const signal = (s: Partial<Signal> = {}): Signal => ({
  signal_id: `sig-test-${++n}`,
  ts: Date.now(),
  symbol: 'BTCUSDT',
  side: 'BUY',
  confidence: 0.8,
  price: 70000,
  models: JSON.stringify({ trend: { vote: 'BUY', score: 0.7 }, momentum: { vote: 'BUY', score: 0.6 }, fallback: false, vol_1m_pct: 0.5 }),
  model_version: 'test',
  ...s,
});
const input = (e: Partial<EntryInput> = {}): EntryInput => ({
  signal: signal(),
  policy: policy(),
  position: null,
  sentInBatch: false,
  rlState: {},
  settings: { minPositionUsd: 50, tpPct: 2, slPct: 1, cooldownMs: 60000 },
  now: Date.now(),
  ...e,
});

describe('trader decisions', () => {
  it('trader sizes margin by confidence up to max_position_usd', () => {
    const p = policy();
    expect(marginFor(0.55, p, 50).usd).toBe(50);
    expect(marginFor(1, p, 50).usd).toBe(500);
    expect(marginFor(0.775, p, 50).usd).toBeCloseTo(275, 2);
    const sizes = [0.6, 0.7, 0.8, 0.9].map((c) => marginFor(c, p, 50).usd);
    expect([...sizes].sort((a, b) => a - b)).toEqual(sizes);
    expect(marginFor(1, policy({ max_position_usd: 40 }), 50).usd).toBe(40); // never over the policy
  });

  it('leverage falls as volatility rises, within 1..max_leverage', () => {
    const lev = [0.05, 0.3, 0.6, 1.2, 3, 10].map((v) => leverageFor(v, 10));
    expect(lev[0]).toBe(10);
    for (let i = 1; i < lev.length; i++) expect(lev[i]).toBeLessThanOrEqual(lev[i - 1]);
    expect(lev[lev.length - 1]).toBe(1);
    expect(lev.every((l) => Number.isInteger(l) && l >= 1 && l <= 10)).toBe(true);
    expect(leverageFor(0.05, 3)).toBe(3);
    expect(leverageFor(undefined, 10)).toBe(1);
    const calm = decideEntry(input({ signal: signal({ models: JSON.stringify({ vol_1m_pct: 0.4 }) }) }));
    const wild = decideEntry(input({ signal: signal({ models: JSON.stringify({ vol_1m_pct: 2 }) }) }));
    if (calm.kind !== 'intent' || wild.kind !== 'intent') throw new Error('expected intents');
    expect(wild.intent.leverage).toBeLessThan(calm.intent.leverage);
  });

  it('skips a signal for a symbol with an open position on the same side as position_open (not duplicate)', () => {
    const pos = { symbol: 'BTCUSDT', side: 'LONG' as const, qty: 0.01, entry_price: 70000, leverage: 5, sl_price: 0, tp_price: 0, initial_risk_usd: 0, opened_at: 0, updated_at: 0, plan_id: 'p' };
    const d = decideEntry(input({ position: pos }));
    expect(d).toMatchObject({ kind: 'reject', reason: 'position_open' });
    if (d.kind === 'reject') expect(d.detail).toMatch(/already has an open LONG position \(qty 0.01\)/);
  });

  it('skips a signal against an open position as opposite_position (not duplicate)', () => {
    const pos = { symbol: 'BTCUSDT', side: 'SHORT' as const, qty: 0.01, entry_price: 70000, leverage: 5, sl_price: 0, tp_price: 0, initial_risk_usd: 0, opened_at: 0, updated_at: 0, plan_id: 'p' };
    const d = decideEntry(input({ position: pos }));
    expect(d).toMatchObject({ kind: 'reject', reason: 'opposite_position' });
    if (d.kind === 'reject') expect(d.detail).toMatch(/open SHORT position .* opens no entry against it/);
  });

  it('holds back entries while the open positions are at max_open_positions', () => {
    const full = decideEntry(input({ policy: policy({ max_open_positions: 3 }), openPositions: 3 }));
    expect(full.kind).toBe('reject');
    if (full.kind === 'reject') {
      expect(full.reason).toBe('at_position_limit');
      expect(full.detail).toMatch(/open positions 3 >= max_open_positions 3/);
    }
    expect(decideEntry(input({ policy: policy({ max_open_positions: 3 }), openPositions: 2 })).kind).toBe('intent');
  });

  it('the RL trust scales the margin only when rl_influence is on', () => {
    const off = decideEntry(input({ rlState: { 'trust:trend': '0.5', 'trust:momentum': '0.5' } }));
    const on = decideEntry(input({ policy: policy({ rl_influence: true }), rlState: { 'trust:trend': '0.5', 'trust:momentum': '0.5' } }));
    if (off.kind !== 'intent' || on.kind !== 'intent') throw new Error('expected intents');
    expect(off.intent.rl_gate_reason).toBe('rl_disabled');
    expect(on.intent.rl_gate_reason).toMatch(/rl_trust 0.500/);
    expect(on.intent.position_usd).toBeCloseTo(off.intent.position_usd / 2, 1);
  });
});

// ---- the stage on a real runner ----

function setup(extra: Record<string, string> = {}) {
  const prefix = uniquePrefix('trader');
  const config = loadConfig({ env: { REDIS_URL: testRedisUrl(), QT_PREFIX: prefix, QT_LOG_LEVEL: 'silent', QT_BLOCK_MS: '100', ...extra } });
  const writer = testRedis();
  return { config, writer };
}
async function start(config: Config, writer: Redis) {
  const engine = new Engine({ config, writer, log: silentLogger, mode: 'PAPER' });
  await engine.start([createAutonomousTraderStage({ config })]);
  return engine;
}
const send = (config: Config, w: Redis, s: Signal) =>
  w.xadd(config.names.stream('ai.signal_generated'), '*', ...Object.entries(encode('ai.signal_generated', s)).flat());
const intents = async (config: Config, w: Redis) =>
  (await w.xrange(config.names.stream('trade.intent'), '-', '+')).map(([, f]) => fieldsFromArray(f));
const rejections = async (config: Config, w: Redis) =>
  (await w.xrange(config.names.stream('stage.rejected'), '-', '+')).map(([, f]) => fieldsFromArray(f));

describe('autonomous_trader stage', () => {
  it('writes an AUTONOMOUS_ENTRY intent that decodes against trade.intent with position_usd and leverage', async () => {
    const { config, writer } = setup();
    const engine = await start(config, writer);
    try {
      const s = signal({ confidence: 0.9 });
      await send(config, writer, s);
      const [f] = await waitFor(async () => ((await intents(config, writer)).length ? intents(config, writer) : null), 5000, 'an intent');
      const d = decode('trade.intent', f);
      expect(d.ok, JSON.stringify(d)).toBe(true);
      if (!d.ok) return;
      expect(d.value).toMatchObject({ intent_type: 'AUTONOMOUS_ENTRY', action: 'BUY', source: 'autonomous_trader', symbol: 'BTCUSDT', signal_id: s.signal_id, reduceOnly: false, rl_gate_reason: 'rl_disabled', tp_pct: 2, sl_pct: 1 });
      expect(d.value.position_usd).toBeCloseTo(marginFor(0.9, policy({ min_confidence: config.trading.minConfidence, max_position_usd: config.trading.maxPositionUsd }), config.trading.minPositionUsd).usd, 2);
      expect(d.value.leverage).toBe(leverageFor(0.5, config.trading.maxLeverage));
      expect(f.qty).toBeUndefined();
    } finally {
      await engine.stop();
    }
  });

  it('trader never sends a hard-coded amount: a policy change of max_position_usd changes the size', async () => {
    const { config, writer } = setup({ QT_TRADER_COOLDOWN_MS: '0' });
    const engine = await start(config, writer);
    try {
      await writer.hset(config.names.policy(), { version: '1', max_position_usd: '200', min_confidence: '0.5' });
      const sizeAt = async (max: string) =>
        waitFor(async () => {
          // Each try a fresh signal: the policy cache applies a change within 500 ms.
          await send(config, writer, signal({ confidence: 1, symbol: 'ETHUSDT' }));
          const all = await intents(config, writer);
          const last = all[all.length - 1];
          return last && last.position_usd === max ? Number(last.position_usd) : null;
        }, 5000, `an intent sized ${max}`);
      expect(await sizeAt('200')).toBe(200);
      await writer.hset(config.names.policy(), { version: '2', max_position_usd: '750' });
      expect(await sizeAt('750')).toBe(750);
    } finally {
      await engine.stop();
    }
  });

  it('signals under min_confidence are counted rejections whose detail names the numbers', async () => {
    const { config, writer } = setup();
    const engine = await start(config, writer);
    try {
      await send(config, writer, signal({ confidence: 0.3 }));
      const [r] = await waitFor(async () => ((await rejections(config, writer)).length ? rejections(config, writer) : null), 5000, 'a rejection');
      expect(r.reason).toBe('confidence_below_min');
      expect(r.detail).toBe(`confidence 0.3000 < min ${config.trading.minConfidence.toFixed(4)}`);
      expect(r.stage).toBe('autonomous_trader');
      const m = await writer.hgetall(config.names.metrics('autonomous_trader', Math.floor(Number(r.ts) / 60000)));
      expect(m['rej:confidence_below_min']).toBe('1');
      expect(await intents(config, writer)).toHaveLength(0);
    } finally {
      await engine.stop();
    }
  });

  it('a second signal for a symbol inside the cooldown is a counted cooldown rejection', async () => {
    const { config, writer } = setup({ QT_TRADER_COOLDOWN_MS: '60000' });
    const engine = await start(config, writer);
    try {
      await send(config, writer, signal({ symbol: 'SOLUSDT' }));
      await waitFor(async () => (await intents(config, writer)).length === 1, 5000, 'the first intent');
      await send(config, writer, signal({ symbol: 'SOLUSDT' }));
      await send(config, writer, signal({ symbol: 'XRPUSDT' }));
      const rs = await waitFor(async () => {
        const r = await rejections(config, writer);
        return r.length ? r : null;
      }, 5000, 'a cooldown rejection');
      expect(rs[0]).toMatchObject({ reason: 'cooldown', symbol: 'SOLUSDT' });
      expect(rs[0].detail).toMatch(/s ago < cooldown 60.0 s/);
      await waitFor(async () => (await intents(config, writer)).some((i) => i.symbol === 'XRPUSDT'), 5000, 'other symbols unaffected');
    } finally {
      await engine.stop();
    }
  });

  it('reads apply.result feedback: a refused entry puts its symbol into cooldown; an open position holds back a same-side signal (position_open)', async () => {
    const { config, writer } = setup({ QT_TRADER_COOLDOWN_MS: '60000' });
    const engine = await start(config, writer);
    try {
      await writer.xadd(config.names.stream('apply.result'), '*', ...Object.entries(encode('apply.result', {
        plan_id: 'p1', intent_id: 'auto-sig-x', ts: Date.now(), symbol: 'LINKUSDT', executed: false, reason: 'below_min_notional', detail: 'notional 70.61 < min 100.00',
      })).flat());
      await writer.hset(config.names.position('ADAUSDT'), { symbol: 'ADAUSDT', side: 'SHORT', qty: '100', entry_price: '0.45' });
      await writer.hset(config.names.position('DOTUSDT'), { symbol: 'DOTUSDT', side: 'LONG', qty: '0' }); // a ghost is not a position
      await send(config, writer, signal({ symbol: 'LINKUSDT' }));
      await send(config, writer, signal({ symbol: 'ADAUSDT', side: 'SELL' }));
      await send(config, writer, signal({ symbol: 'DOTUSDT' }));
      const rs = await waitFor(async () => {
        const r = await rejections(config, writer);
        return r.length >= 2 ? r : null;
      }, 5000, 'two rejections');
      const link = rs.find((r) => r.symbol === 'LINKUSDT')!;
      expect(link.reason).toBe('cooldown');
      expect(link.detail).toMatch(/below_min_notional/);
      const ada = rs.find((r) => r.symbol === 'ADAUSDT')!;
      expect(ada.reason).toBe('position_open');
      expect(ada.detail).toMatch(/open SHORT position/);
      await waitFor(async () => (await intents(config, writer)).some((i) => i.symbol === 'DOTUSDT'), 5000, 'DOT entry (ghost key ignored)');
    } finally {
      await engine.stop();
    }
  });
});
