/**
 * harvest_brain: exit management for every open position, every second, from the mark
 * price (decisions in ../exits/ladder.ts). Exits go to `trade.intent` as HARVEST,
 * reduceOnly, with valid quantities; one exit in flight per position, remembered in
 * `names.exitState(sym)` so a restart does not send it again.
 *
 * Stops on the exchange (issue 18, protect/stops.ts): every tick also brings each position's
 * protective stop in line: places a missing one (a crash between fill and placement), completes a
 * move a crash cut in half, moves it to the sl price tightened by the trailing stop (when that
 * moved ≥ 0.1 R), and cancels the stop of a closed position. While a resting stop covers the level
 * the mark crossed, harvest_brain leaves the `sl:` / `trail:` close to the exchange for
 * STOP_FALLBACK_MS; then it asks the exchange: a stop that fired is booked (protect/learn.ts, as
 * the reconciler does), one that did not gets harvest_brain's own close.
 */
import type { ExitIntent } from '../../contract/messages.js';
import { DEFAULT_POLICY } from '../../contract/state.js';
import type { EngineDeps } from '../engine.js';
import { UsageError } from '../../errors.js';
import {
  DEFAULT_EXIT_CONFIG, decideExit, observe, parseLadder, stateFromHash, stateToHash, type ExitConfig, type ExitState,
} from '../exits/ladder.js';
import { loadOpenPositions, newId, qtyRulesOf, rulesLookup, type RulesLookup } from '../exits/positions.js';
import { out, type Output, type StateWrite, type TickerStage } from '../runtime/types.js';
import { PolicyCache } from '../state/policy.js';
import { ensureStop, protectedSymbols, readProtect, type StopExchange } from '../protect/stops.js';
import { learnTriggered } from '../protect/learn.js';
import type { Exchange } from '../exchange/types.js';
import { trailStop } from '../exits/ladder.js';
import type { PositionState } from '../../contract/state.js';

/** How long harvest_brain leaves a crossed stop to the exchange's resting stop before closing itself, ms. */
export const STOP_FALLBACK_MS = 5000;

/** The protective stop's price: the sl price, tightened by the trailing stop once it is active (USD; 0: none). */
export function desiredStop(p: PositionState, s: ExitState, cfg: ExitConfig): number {
  const trail = trailStop(p, s, cfg);
  const sl = p.sl_price > 0 ? p.sl_price : NaN;
  const c = [sl, trail].filter((x) => Number.isFinite(x) && x > 0);
  if (!c.length) return 0;
  return p.side === 'LONG' ? Math.max(...c) : Math.min(...c);
}

export interface HarvestOptions {
  rules: RulesLookup;
  exits?: Partial<ExitConfig>;
  everyMs?: number;
  /** Prices older than this are not acted on (default: the policy's price_max_age_ms). */
  priceMaxAgeMs?: number;
  fallbackPolicy?: typeof DEFAULT_POLICY;
  /** Uniform in [0, 1) for ids (default Math.random; a replay's seeded generator). */
  random?: () => number;
  /** The exchange's resting stops (QT_STOP_ON_EXCHANGE); absent: exits live here only. */
  stops?: StopExchange | null;
  /** MAXLEN ~ of execution.result (a fired stop booked here on a non-paper exchange). */
  streamMaxLen?: number;
}

export function harvestBrain(o: HarvestOptions): TickerStage {
  const cfg: ExitConfig = { ...DEFAULT_EXIT_CONFIG, ...o.exits };
  let seen = new Set<string>();
  let policy: PolicyCache | undefined;
  /** When the mark first crossed a level a resting stop covers, per symbol (STOP_FALLBACK_MS). */
  const crossedAt = new Map<string, number>();
  return {
    name: 'harvest_brain',
    everyMs: o.everyMs ?? 1000,
    async tick(ctx) {
      const now = ctx.now();
      policy ??= new PolicyCache(ctx.names, o.fallbackPolicy ?? DEFAULT_POLICY);
      const maxAge = o.priceMaxAgeMs ?? (await policy.get(ctx.redis, now)).price_max_age_ms;
      const open = await loadOpenPositions(ctx.redis, ctx.names);
      const syms = [...open.keys()];
      const p = ctx.redis.pipeline();
      for (const s of syms) p.hgetall(ctx.names.exitState(s)).hgetall(ctx.names.protect(s));
      const res = (await p.exec()) ?? [];
      const stopTargets = new Map<string, number>();
      // Stops whose crossing outlived STOP_FALLBACK_MS: did the exchange fire them? (then the reconciler books it; no close from here)
      const fired = new Set<string>();
      if (o.stops) {
        for (const [sym, since] of crossedAt) {
          const i = syms.indexOf(sym);
          const prot = i >= 0 ? readProtect(sym, res[2 * i + 1]?.[1] as Record<string, string>) : null;
          if (!prot || now - since < STOP_FALLBACK_MS) continue;
          const x = await o.stops.fetchConditionalOrder(sym, prot.client_algo_id).catch(() => null);
          if (x && ['TRIGGERING', 'TRIGGERED', 'FINISHED'].includes(x.status)) fired.add(sym);
        }
        if (fired.size) {
          // The exchange closed it: book it now rather than wait for the reconciler (or run without one).
          const x = o.stops as Partial<Exchange>;
          await learnTriggered({
            redis: ctx.redis, names: ctx.names, exchange: o.stops, now: () => ctx.now(), log: ctx.log, streamMaxLen: o.streamMaxLen ?? 100_000,
            fetchOrder: x.fetchOrderByClientId ? (s, c) => x.fetchOrderByClientId!(s, c) : undefined,
          }, []);
        }
      }

      const outputs: Output[] = [];
      const state: StateWrite[] = [];
      const problems: string[] = [];
      syms.forEach((sym, i) => {
        const { position, mark } = open.get(sym)!;
        if (!mark) return void problems.push(`${sym}: no price`);
        if (mark.ts > 0 && now - mark.ts > maxAge) return void problems.push(`${sym}: price ${Math.round((now - mark.ts) / 1000)} s old`);
        const prev = stateFromHash(res[2 * i]?.[1] as Record<string, string>);
        const { state: s, inFlight } = observe(prev, position, mark.mark, now, cfg);
        let next: ExitState = s;
        const want = desiredStop(position, s, cfg);
        stopTargets.set(sym, want);
        if (!inFlight) {
          let d = decideExit(position, s, mark.mark, cfg, qtyRulesOf(o.rules(sym)));
          const prot = o.stops ? readProtect(sym, res[2 * i + 1]?.[1] as Record<string, string>) : null;
          if (d && (d.reason.startsWith('sl:') || d.reason.startsWith('trail:')) && prot?.status === 'ACTIVE' && prot.position_ref === `${position.opened_at}|${position.side}`
            && (position.side === 'LONG' ? mark.mark <= prot.stop_price : mark.mark >= prot.stop_price)) {
            // The exchange's resting stop closes it; ours only if it has not fired within STOP_FALLBACK_MS.
            const since = crossedAt.get(sym) ?? now;
            crossedAt.set(sym, since);
            if (now - since < STOP_FALLBACK_MS || fired.has(sym)) d = null;
            else d = { ...d, reason: `${d.reason}; the resting stop did not fire within ${STOP_FALLBACK_MS} ms` };
          } else crossedAt.delete(sym);
          if (d) {
            const intentId = newId('hv', sym, now, o.random);
            const intent: ExitIntent = {
              intent_id: intentId,
              ts: now,
              intent_type: 'HARVEST',
              symbol: sym,
              action: d.action,
              source: 'harvest_brain',
              reduceOnly: true,
              reason: d.reason,
              price: mark.mark,
              ...(d.qty !== undefined ? { qty: d.qty } : {}),
            };
            outputs.push(out('trade.intent', intent));
            next = { ...s, inflight_id: intentId, inflight_ts: now, inflight_qty: position.qty, inflight_step: d.step };
            ctx.log.info('exit', { symbol: sym, action: d.action, qty: d.qty ?? position.qty, reason: d.reason });
          }
        }
        if (!prev || JSON.stringify(stateToHash(next)) !== JSON.stringify(stateToHash(prev))) {
          state.push((tx) => void tx.hset(ctx.names.exitState(sym), stateToHash(next)));
        }
      });
      if (o.stops) {
        // Stops on the exchange: one per open position at its level; none for closed ones.
        const deps = { redis: ctx.redis, names: ctx.names, exchange: o.stops, now: () => ctx.now(), log: ctx.log };
        const all = new Set([...syms, ...(await protectedSymbols(ctx.redis, ctx.names))]);
        for (const sym of all) {
          const op = open.get(sym);
          const exitS = stateFromHash(res[2 * syms.indexOf(sym)]?.[1] as Record<string, string>);
          const minMove = exitS && exitS.risk_per_unit > 0 ? exitS.risk_per_unit * 0.1 : 0;
          const r = await ensureStop(deps, sym, op?.position ?? null, stopTargets.get(sym) ?? op?.position.sl_price ?? 0, { mode: 'all', minMove });
          if (r === 'pending' || r === 'failed') problems.push(`${sym}: protective stop ${r}`);
        }
      }
      // Forget the exit state of positions that closed.
      for (const sym of seen) if (!open.has(sym)) state.push((tx) => void tx.del(ctx.names.exitState(sym)));
      seen = new Set(syms);
      if (problems.length) ctx.setStatus('degraded', `not managing: ${problems.slice(0, 5).join('; ')}`);
      else ctx.setStatus('running', `${syms.length} open position(s)`);
      return { outputs, state, in: syms.length, out: outputs.length };
    },
  };
}

export async function createHarvestBrain(deps: EngineDeps): Promise<TickerStage> {
  const h = deps.config.harvest;
  let ladder;
  try {
    ladder = parseLadder(h.ladder);
  } catch (e) {
    throw new UsageError(`QT_HARVEST_LADDER: ${(e as Error).message} (got ${JSON.stringify(h.ladder)})`);
  }
  const { canRestStops } = await import('../protect/stops.js');
  return harvestBrain({
    stops: deps.config.protect.enabled && canRestStops(deps.exchange) ? deps.exchange : null,
    streamMaxLen: deps.config.runtime.streamMaxLen,
    rules: await rulesLookup(deps.exchange, deps.config.paper.marketsFile),
    exits: { ladder, trailR: h.trailR, emergencyR: h.emergencyR },
    random: deps.replay?.random('harvest_brain'),
  });
}
