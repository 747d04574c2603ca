/**
 * harvest_brain: exit management for every open position, every second, from the mark
 * price (decisions in ../exits/ladder.ts). Exits go to `trade.intent` as HARVEST,
 * reduceOnly, with valid quantities; one exit in flight per position, remembered in
 * `names.exitState(sym)` so a restart does not send it again.
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

export interface HarvestOptions {
  rules: RulesLookup;
  exits?: Partial<ExitConfig>;
  everyMs?: number;
  /** Prices older than this are not acted on (default: the policy's price_max_age_ms). */
  priceMaxAgeMs?: number;
  fallbackPolicy?: typeof DEFAULT_POLICY;
  /** Uniform in [0, 1) for ids (default Math.random; a replay's seeded generator). */
  random?: () => number;
}

export function harvestBrain(o: HarvestOptions): TickerStage {
  const cfg: ExitConfig = { ...DEFAULT_EXIT_CONFIG, ...o.exits };
  let seen = new Set<string>();
  let policy: PolicyCache | undefined;
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
      for (const s of syms) p.hgetall(ctx.names.exitState(s));
      const res = (await p.exec()) ?? [];

      const outputs: Output[] = [];
      const state: StateWrite[] = [];
      const problems: string[] = [];
      syms.forEach((sym, i) => {
        const { position, mark } = open.get(sym)!;
        if (!mark) return void problems.push(`${sym}: no price`);
        if (mark.ts > 0 && now - mark.ts > maxAge) return void problems.push(`${sym}: price ${Math.round((now - mark.ts) / 1000)} s old`);
        const prev = stateFromHash(res[i]?.[1] as Record<string, string>);
        const { state: s, inFlight } = observe(prev, position, mark.mark, now, cfg);
        let next: ExitState = s;
        if (!inFlight) {
          const d = decideExit(position, s, mark.mark, cfg, qtyRulesOf(o.rules(sym)));
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
  return harvestBrain({
    rules: await rulesLookup(deps.exchange, deps.config.paper.marketsFile),
    exits: { ladder, trailR: h.trailR, emergencyR: h.emergencyR },
    random: deps.replay?.random('harvest_brain'),
  });
}
