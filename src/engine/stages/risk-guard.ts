/**
 * risk_guard: every tick, per-symbol and total exposure (qty × mark) and leverage
 * against the policy, and the day's realised PnL (summed from `apply.result` into
 * `names.dailyPnl(day)`); a daily loss over `daily_loss_limit_usd` sets the kill switch
 * with its reason. Decisions go to `risk.proposal` when they change, plus a summary
 * every minute so the stream stays live.
 */
import type { Redis } from 'ioredis';
import { fieldsFromArray } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import { DEFAULT_POLICY, toNum, type Policy } from '../../contract/state.js';
import type { EngineDeps } from '../engine.js';
import { loadOpenPositions, newId } from '../exits/positions.js';
import { checkDailyLoss, checkExposure, checkKey, dayStartMs, exposureOf, utcDay, type RiskCheck } from '../exits/risk.js';
import { out, type Output, type StateWrite, type TickerStage } from '../runtime/types.js';
import { PolicyCache, policyFromConfig } from '../state/policy.js';

const DAY_MS = 86_400_000;

export interface DailyRead {
  day: string;
  realized: number;
  lastId: string;
  added: number;
  /** Writes the new total and the position in the stream. */
  write: StateWrite;
}

/** Sums realised PnL of executed results since the last one counted (bounded per tick). */
export async function readDailyPnl(redis: Redis, names: Names, now: number, maxEntries = 5000): Promise<DailyRead> {
  const day = utcDay(now);
  const key = names.dailyPnl(day);
  const h = await redis.hgetall(key);
  let realized = toNum(h.realized_pnl, 0);
  let lastId = h.last_id || '';
  const start = lastId ? `(${lastId}` : `${dayStartMs(day)}-0`;
  const end = `${dayStartMs(day) + DAY_MS - 1}-18446744073709551615`;
  const rows = (await redis.xrange(names.stream('apply.result'), start, end, 'COUNT', maxEntries)) as [string, string[]][];
  let delta = 0;
  let added = 0;
  for (const [id, arr] of rows) {
    lastId = id;
    const f = fieldsFromArray(arr);
    if (f.executed !== 'true') continue;
    const pnl = toNum(f.realized_pnl, NaN);
    if (!Number.isFinite(pnl) || pnl === 0) continue;
    delta += pnl;
    added++;
  }
  realized += delta;
  const write: StateWrite = (tx) => {
    if (!rows.length) return;
    tx.hset(key, { realized_pnl: String(+realized.toFixed(8)), last_id: lastId, updated_at: String(now) });
    tx.hincrby(key, 'results', added);
    tx.expire(key, 8 * 86400);
  };
  return { day, realized, lastId, added, write };
}

/** @param o.random uniform in [0, 1) for ids (default Math.random; a replay's seeded generator) */
export function riskGuard(o: { fallbackPolicy?: Policy; everyMs?: number; summaryEveryMs?: number; random?: () => number } = {}): TickerStage {
  let cache: PolicyCache | undefined;
  const last = new Map<string, string>();
  let lastSummary = 0;
  return {
    name: 'risk_guard',
    everyMs: o.everyMs ?? 1000,
    async tick(ctx) {
      const now = ctx.now();
      cache ??= new PolicyCache(ctx.names, o.fallbackPolicy ?? DEFAULT_POLICY);
      const policy = await cache.get(ctx.redis, now);
      const open = await loadOpenPositions(ctx.redis, ctx.names);
      const daily = await readDailyPnl(ctx.redis, ctx.names, now);
      const kill = await ctx.redis.get(ctx.names.killSwitch());

      const checks: RiskCheck[] = [...checkExposure([...open.values()].map((p) => exposureOf(p.position, p.mark?.mark)), policy)];
      const loss = checkDailyLoss(daily.day, daily.realized, policy);
      checks.push(loss);

      const state: StateWrite[] = [daily.write];
      const outputs: Output[] = [];
      const propose = (c: RiskCheck) => outputs.push(out('risk.proposal', { proposal_id: newId('rk', c.symbol ?? 'ALL', now, o.random), ts: now, ...c }));
      if (loss.decision === 'kill_switch_on' && kill === null) {
        state.push((tx) => void tx.set(ctx.names.killSwitch(), `risk_guard: ${loss.detail}`));
        ctx.log.warn('kill switch on', { reason: loss.detail });
      }
      const current = new Map<string, RiskCheck>();
      for (const c of checks) current.set(checkKey(c), c);
      for (const [k, c] of current) if (last.get(k) !== c.decision) propose(c);
      for (const k of last.keys()) {
        if (!current.has(k)) {
          const [kind, sym] = k.split(':');
          propose({ kind: 'ok', decision: 'allow', symbol: sym === '*' ? undefined : sym, detail: `${kind} back within limits` });
        }
      }
      last.clear();
      for (const [k, c] of current) last.set(k, c.decision);

      const breaches = checks.filter((c) => c.decision !== 'allow');
      const total = [...open.values()].reduce((s, p) => s + exposureOf(p.position, p.mark?.mark).notional, 0);
      const summary = `${open.size} position(s), exposure ${total.toFixed(2)} USD, realised today ${daily.realized.toFixed(2)} USD` +
        (kill !== null || loss.decision === 'kill_switch_on' ? ', kill switch ON' : '');
      if (now - lastSummary >= (o.summaryEveryMs ?? 60_000)) {
        lastSummary = now;
        propose({ kind: 'ok', decision: breaches.length ? 'block' : 'allow', detail: summary, value: total, limit: policy.max_total_exposure_usd });
      }
      ctx.setStatus(breaches.length ? 'degraded' : 'running', breaches.length ? breaches.map((b) => b.detail).join('; ').slice(0, 480) : summary);
      return { outputs, state, in: open.size + daily.added, out: outputs.length };
    },
  };
}

export function createRiskGuard(deps: EngineDeps): TickerStage {
  return riskGuard({ fallbackPolicy: policyFromConfig(deps.config), random: deps.replay?.random('risk_guard') });
}
