/**
 * rl_agent (shadow): learns from `apply.result` which models to trust. An executed entry
 * (action OPEN) is joined to its signal (intent → signal_id → the signal's model votes)
 * and remembered per symbol; a result with realised PnL then moves each model's trust:
 * up when it voted with the position and it earned, down when it lost (against: the
 * opposite). Trust lives in `rl:state` (`trust:{model}`, 0.1..1.5, neutral 1) and every
 * change is proposed on `rl.proposal`; the trader applies it only when policy
 * `rl_influence` is on (and records `rl_gate_reason` either way).
 */
import type { ApplyResult } from '../../contract/messages.js';
import { fieldsFromArray } from '../../contract/messages.js';
import { DEFAULT_POLICY, toNum, type Policy } from '../../contract/state.js';
import type { EngineDeps } from '../engine.js';
import { newId } from '../exits/positions.js';
import { ok, out, type ConsumerStage, type Output, type StageContext, type StateWrite } from '../runtime/types.js';
import { PolicyCache, policyFromConfig } from '../state/policy.js';
import { parseModels } from './trader-decide.js';

export const TRUST_MIN = 0.1;
export const TRUST_MAX = 1.5;
export const TRUST_NEUTRAL = 1;

export interface OpenVotes {
  side: 'BUY' | 'SELL';
  votes: Record<string, string>;
  signal_id: string;
}

/** The new trust of a model after a realised PnL (pure). agree: +1 voted with the position, -1 against. */
export function nextTrust(trust: number, pnl: number, agree: 1 | -1, scaleUsd = 10, rate = 0.05): number {
  const t = trust + rate * agree * Math.tanh(pnl / scaleUsd);
  return +Math.min(TRUST_MAX, Math.max(TRUST_MIN, t)).toFixed(4);
}

interface Prepared {
  state: Record<string, string>;
  policy: Policy;
  signalOfIntent: Map<string, string>;
  votesOfSignal: Map<string, Record<string, string>>;
}

async function newestFields(ctx: StageContext, stream: 'trade.intent' | 'ai.signal_generated', count: number): Promise<Record<string, string>[]> {
  const rows = (await ctx.redis.xrevrange(ctx.names.stream(stream), '+', '-', 'COUNT', count)) as [string, string[]][];
  return rows.map(([, a]) => fieldsFromArray(a));
}

/** @param o.random uniform in [0, 1) for ids (default Math.random; a replay's seeded generator) */
export function rlAgent(o: { fallbackPolicy?: Policy; scan?: number; random?: () => number } = {}): ConsumerStage<'apply.result', Prepared> {
  let cache: PolicyCache | undefined;
  return {
    name: 'rl_agent',
    input: 'apply.result',
    async prepare(batch, ctx) {
      cache ??= new PolicyCache(ctx.names, o.fallbackPolicy ?? DEFAULT_POLICY);
      const policy = await cache.get(ctx.redis);
      const state = await ctx.redis.hgetall(ctx.names.rlState());
      const signalOfIntent = new Map<string, string>();
      const votesOfSignal = new Map<string, Record<string, string>>();
      if (batch.some((d) => d.message.executed && d.message.action === 'OPEN')) {
        for (const f of await newestFields(ctx, 'trade.intent', o.scan ?? 2000)) if (f.intent_id && f.signal_id) signalOfIntent.set(f.intent_id, f.signal_id);
        for (const f of await newestFields(ctx, 'ai.signal_generated', o.scan ?? 2000)) {
          if (!f.signal_id) continue;
          const v: Record<string, string> = {};
          for (const [m, x] of Object.entries(parseModels(f.models ?? '').votes)) v[m] = x.vote;
          votesOfSignal.set(f.signal_id, v);
        }
      }
      return { state, policy, signalOfIntent, votesOfSignal };
    },
    handle(d, p, ctx) {
      const m: ApplyResult = d.message;
      if (!m.executed) return ok();
      const key = ctx.names.rlState();
      const writes: StateWrite[] = [];
      if (m.action === 'OPEN' && (m.side === 'BUY' || m.side === 'SELL')) {
        const sig = p.signalOfIntent.get(m.intent_id) ?? '';
        const open: OpenVotes = { side: m.side, votes: p.votesOfSignal.get(sig) ?? {}, signal_id: sig };
        p.state[`open:${m.symbol}`] = JSON.stringify(open);
        writes.push((tx) => void tx.hset(key, `open:${m.symbol}`, JSON.stringify(open)));
        return ok(undefined, writes);
      }
      const pnl = m.realized_pnl ?? 0;
      if (!pnl) return ok();
      let open: OpenVotes | null = null;
      try {
        open = JSON.parse(p.state[`open:${m.symbol}`] ?? 'null') as OpenVotes | null;
      } catch {
        open = null;
      }
      const outputs: Output[] = [];
      const now = ctx.now();
      const symKey = `pnl:symbol:${m.symbol}`;
      p.state[symKey] = String(toNum(p.state[symKey], 0) + pnl);
      writes.push((tx) => void tx.hincrbyfloat(key, symKey, pnl));
      const models = Object.entries(open?.votes ?? {}).filter(([, v]) => v === 'BUY' || v === 'SELL');
      if (!open || !models.length) {
        outputs.push(out('rl.proposal', { proposal_id: newId('rl', m.symbol, now, o.random), ts: now, model: 'ensemble', symbol: m.symbol, trust: TRUST_NEUTRAL,
          previous_trust: TRUST_NEUTRAL, samples: 1, applied: p.policy.rl_influence, detail: `realised ${pnl.toFixed(2)} USD on ${m.symbol}: no model votes known for this position (learned per symbol only)` }));
        return ok(outputs, writes);
      }
      for (const [model, vote] of models) {
        const prev = toNum(p.state[`trust:${model}`], TRUST_NEUTRAL);
        const agree = vote === open.side ? 1 : -1;
        const next = nextTrust(prev, pnl, agree);
        const n = toNum(p.state[`n:${model}`], 0) + 1;
        p.state[`trust:${model}`] = String(next);
        p.state[`n:${model}`] = String(n);
        writes.push((tx) => void tx.hset(key, `trust:${model}`, String(next), `n:${model}`, String(n)));
        writes.push((tx) => void tx.hincrbyfloat(key, `pnl:${model}`, pnl * agree));
        outputs.push(out('rl.proposal', { proposal_id: newId('rl', m.symbol, now, o.random), ts: now, model, symbol: m.symbol, trust: next, previous_trust: prev, samples: n,
          applied: p.policy.rl_influence,
          detail: `${model} voted ${vote} on a ${open.side} ${m.symbol} that realised ${pnl.toFixed(2)} USD: trust ${prev} → ${next}${p.policy.rl_influence ? '' : ' (shadow: rl_influence off)'}` }));
      }
      return ok(outputs, writes);
    },
  };
}

export function createRlAgent(deps: EngineDeps): ConsumerStage<'apply.result', Prepared> {
  return rlAgent({ fallbackPolicy: policyFromConfig(deps.config), random: deps.replay?.random('rl_agent') });
}
