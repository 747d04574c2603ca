/**
 * autonomous_trader: reads `ai.signal_generated` in its group and turns signals into
 * AUTONOMOUS_ENTRY `trade.intent`s sized from policy and configuration. `prepare` loads
 * everything a batch needs in one pipelined round trip: the policy (cached ≤ 500 ms),
 * the batch's positions, the RL state, and new `apply.result` feedback.
 */
import type { Config } from '../../config/config.js';
import { readPosition, type Policy, type PositionState } from '../../contract/state.js';
import { PolicyCache, policyFromConfig } from '../state/policy.js';
import { OpenPositionCache } from '../state/positions.js';
import { out, reject, ok, type ConsumerStage, type Delivery, type StageContext } from '../runtime/types.js';
import type { Signal } from '../../contract/messages.js';
import { decideEntry, type Cooldown, type TraderSettings } from './trader-decide.js';
import { cooldownFromResult, FEEDBACK_COUNT, lastResultId, parseResults } from './trader-feedback.js';

export interface TraderOptions {
  config: Config;
  /** Overrides of the sizing settings (tests). */
  settings?: Partial<TraderSettings>;
  /** Refresh the open-position scan in the background (default true; a replay waits for it, to stay deterministic). */
  scanInBackground?: boolean;
}

interface Prepared {
  policy: Policy;
  positions: Map<string, PositionState | null>;
  rlState: Record<string, string>;
  /** Symbols that got an entry in this batch, with when. */
  sent: Map<string, number>;
  /** Open positions when the batch started (a scan reused for a second). */
  open: number;
}

export function createAutonomousTraderStage(o: TraderOptions): ConsumerStage<'ai.signal_generated', Prepared> {
  const { config } = o;
  const settings: TraderSettings = {
    minPositionUsd: config.trading.minPositionUsd,
    tpPct: config.trading.tpPct,
    slPct: config.trading.slPct,
    cooldownMs: config.trading.cooldownMs,
    ...o.settings,
  };
  const policyCache = new PolicyCache(config.names, policyFromConfig(config));
  const openCache = new OpenPositionCache(config.names, 5000, o.scanInBackground ?? true);
  const cooldowns = new Map<string, Cooldown>();
  let feedbackId = '0-0';
  let current: Prepared | undefined;
  const feedback = { filled: 0, refused: 0 };

  const applyCooldown = (sym: string, c: Cooldown) => {
    const prev = cooldowns.get(sym);
    if (!prev || c.at >= prev.at) cooldowns.set(sym, c);
  };

  return {
    name: 'autonomous_trader',
    input: 'ai.signal_generated',

    async start(ctx: StageContext): Promise<void> {
      feedbackId = await lastResultId(ctx.redis, ctx.names);
      ctx.log.info('autonomous_trader sizing', {
        min_position_usd: settings.minPositionUsd, tp_pct: settings.tpPct, sl_pct: settings.slPct, cooldown_ms: settings.cooldownMs,
      });
    },

    async prepare(batch: Delivery<Signal>[], ctx: StageContext): Promise<Prepared> {
      const now = ctx.now();
      const symbols = [...new Set(batch.map((d) => d.message.symbol))];
      const needPolicy = !policyCache.fresh(now);
      const p = ctx.redis.pipeline();
      if (needPolicy) p.hgetall(ctx.names.policy());
      for (const s of symbols) p.hgetall(ctx.names.position(s));
      p.hgetall(ctx.names.rlState());
      p.xread('COUNT', FEEDBACK_COUNT, 'STREAMS', ctx.names.stream('apply.result'), feedbackId);
      const res = (await p.exec()) ?? [];
      const val = (i: number): unknown => {
        const [err, v] = res[i] ?? [new Error('no reply'), null];
        if (err) throw err;
        return v;
      };
      let i = 0;
      const policy = needPolicy ? policyCache.accept(val(i++) as Record<string, string>, now) : await policyCache.get(ctx.redis, now);
      const positions = new Map<string, PositionState | null>();
      for (const s of symbols) positions.set(s, readPosition(s, (val(i++) as Record<string, string>) ?? {}));
      const rlState = (val(i++) as Record<string, string>) ?? {};
      const fb = parseResults(val(i++), feedbackId);
      feedbackId = fb.lastId;
      for (const r of fb.results) {
        const c = cooldownFromResult(r);
        if (!c) continue;
        applyCooldown(r.symbol, c);
        if (r.executed) feedback.filled++;
        else feedback.refused++;
      }
      if (fb.results.length) ctx.log.debug('apply.result feedback', { read: fb.results.length, ...feedback });
      const open = await openCache.get(ctx.redis, now);
      current = { policy, positions, rlState, sent: new Map(), open: open.positions.size };
      return current;
    },

    handle(d, prep, ctx) {
      const s = d.message;
      const now = ctx.now();
      const dec = decideEntry({
        signal: s,
        policy: prep.policy,
        position: prep.positions.get(s.symbol) ?? null,
        sentInBatch: prep.sent.has(s.symbol),
        openPositions: prep.open + prep.sent.size,
        cooldown: cooldowns.get(s.symbol),
        rlState: prep.rlState,
        settings,
        now,
      });
      if (dec.kind === 'reject') return reject(dec.reason, dec.detail, { symbol: s.symbol, refId: s.signal_id });
      prep.sent.set(s.symbol, now);
      return ok([out('trade.intent', dec.intent)]);
    },

    committed(): void {
      // Cooldowns start only once the intents are really written.
      if (current) for (const [sym, at] of current.sent) applyCooldown(sym, { at, why: 'last entry sent' });
      current = undefined;
    },
  };
}
