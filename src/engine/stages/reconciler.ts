/**
 * reconciler: polls the exchange's positions into `position:snapshot:{SYM}` hashes
 * (deleting the snapshot of a symbol the exchange no longer holds: a zero-qty snapshot
 * would be a ghost), compares them with the engine's positions and reports drift in its
 * heartbeat; per policy (QT_RECONCILE_POLICY) it also adopts the exchange's positions or
 * emits RECONCILE close intents. An authentication failure is never retried in a loop:
 * the heartbeat says why and how to fix it, and the next attempt waits `authBackoffMs`.
 * With stops on the exchange (issue 18), each poll first learns the protective stops that fired
 * on the exchange (protect/learn.ts) and books them on the engine's positions, so a stop that
 * triggered while the engine was down is booked by the first poll after start, before drift is judged.
 */
import { formatNumber } from '../../contract/fields.js';
import type { ExitIntent } from '../../contract/messages.js';
import { errorMessage } from '../../errors.js';
import type { EngineDeps } from '../engine.js';
import { ExchangeError, type Exchange, type ExchangePosition } from '../exchange/types.js';
import { describeDrift, findDrift, planReconcile, type ReconcilePolicy } from '../exits/drift.js';
import { loadOpenPositions, newId, qtyRulesOf, scanKeys } from '../exits/positions.js';
import { out, type Output, type StateWrite, type TickerStage } from '../runtime/types.js';
import { learnTriggered } from '../protect/learn.js';
import type { StopExchange } from '../protect/stops.js';

export const AUTH_FIX = 'exchange refused the credentials (401/-2015): check the API key / IP whitelist';

export interface ReconcilerOptions {
  exchange: Pick<Exchange, 'fetchPositions' | 'rules'> | undefined;
  policy: ReconcilePolicy;
  everyMs: number;
  /** Uniform in [0, 1) for ids (default Math.random; a replay's seeded generator). */
  random?: () => number;
  /** Wait after an authentication failure (default 5 minutes). */
  authBackoffMs?: number;
  /** Longest wait after other exchange errors (default 60 s). */
  maxBackoffMs?: number;
  /** A RECONCILE close for a symbol is not repeated within this time (default 3 polls, ≥ 30 s). */
  closeCooldownMs?: number;
  /** The exchange's resting stops (QT_STOP_ON_EXCHANGE): triggered ones are learnt each poll. */
  stops?: StopExchange | null;
  /** MAXLEN ~ of execution.result (a learnt trigger's fill, non-paper exchanges). */
  streamMaxLen?: number;
}

/**
 * The engine position a reconcile action was decided on must still be there when it is
 * written: KEYS[1] the position hash, ARGV[1] its qty then (0: none), ARGV[2] its side then,
 * ARGV[3] 'del' or 'set', ARGV[4..] field/value pairs for 'set'. Returns 1 when applied, 0 when
 * the position changed since (an executor commit in between: decided again next poll).
 */
const RECONCILE_CAS = `
local q = tonumber(redis.call('HGET', KEYS[1], 'qty') or '0') or 0
local s = redis.call('HGET', KEYS[1], 'side') or ''
if q ~= tonumber(ARGV[1]) or (q > 0 and s ~= ARGV[2]) then return 0 end
if ARGV[3] == 'del' then redis.call('DEL', KEYS[1]) else redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
return 1`;

export function reconciler(o: ReconcilerOptions): TickerStage {
  let nextAttempt = 0;
  let failures = 0;
  const closing = new Map<string, number>();
  /**
   * Drift seen by the previous poll, per symbol (its kind, the engine's and the exchange's side
   * and quantity). A drift is acted on only when the next poll sees the same: an order between
   * the exchange read and the engine read (filled on the exchange, its commit not yet in Redis,
   * or the other way round) shows as drift for one poll and must not be "reconciled" away.
   */
  let seen = new Map<string, string>();
  return {
    name: 'reconciler',
    everyMs: o.everyMs,
    async tick(ctx) {
      const now = ctx.now();
      if (!o.exchange) {
        ctx.setStatus('degraded', 'no exchange configured in this process: nothing to reconcile');
        return {};
      }
      if (now < nextAttempt) return {};
      let positions: ExchangePosition[];
      try {
        positions = await o.exchange.fetchPositions();
        failures = 0;
      } catch (e) {
        failures++;
        if (e instanceof ExchangeError && e.reason === 'auth_failed') {
          nextAttempt = now + (o.authBackoffMs ?? 300_000);
          ctx.setStatus('degraded', `auth_failed (${e.code}): ${AUTH_FIX}; next attempt in ${Math.round((o.authBackoffMs ?? 300_000) / 1000)} s`);
          ctx.log.warn('exchange refused the credentials; not retrying until the back-off ends', { code: e.code, retry_in_ms: o.authBackoffMs ?? 300_000 });
        } else {
          const wait = Math.min(o.everyMs * 2 ** Math.min(failures - 1, 6), o.maxBackoffMs ?? 60_000);
          nextAttempt = now + wait;
          const reason = e instanceof ExchangeError ? `${e.reason} (${e.code})` : 'error';
          ctx.setStatus('degraded', `cannot fetch positions: ${reason}: ${errorMessage(e).slice(0, 200)}; retry in ${Math.round(wait / 1000)} s`);
        }
        return { rejections: [] };
      }

      const names = ctx.names;
      if (o.stops) {
        try {
          const x = o.exchange as Partial<Exchange>;
          await learnTriggered({
            redis: ctx.redis, names, exchange: o.stops, now: () => ctx.now(), log: ctx.log, streamMaxLen: o.streamMaxLen ?? 100_000,
            fetchOrder: x.fetchOrderByClientId ? (s, cid) => x.fetchOrderByClientId!(s, cid) : undefined,
          }, positions);
        } catch (e) {
          ctx.log.warn('protective stops: could not look them up this poll', { error: errorMessage(e).slice(0, 200) });
        }
      }
      const state: StateWrite[] = [];
      const outputs: Output[] = [];
      // Snapshots: one per exchange position; delete those the exchange no longer holds.
      const held = new Set<string>();
      for (const p of positions) {
        if (!(Math.abs(p.qty) > 0)) continue;
        held.add(p.symbol);
        state.push((tx) => void tx.hset(names.snapshot(p.symbol), {
          qty: formatNumber(Math.abs(p.qty)), side: p.side, entry_price: formatNumber(p.entryPrice), mark_price: formatNumber(p.markPrice),
          unrealized_pnl: formatNumber(+p.unrealizedPnl.toFixed(8)), leverage: formatNumber(p.leverage), ts: String(now),
        }));
      }
      for (const k of await scanKeys(ctx.redis, names.positionPattern())) {
        const c = names.classifyPositionKey(k);
        if (c?.kind === 'snapshot' && !held.has(c.symbol)) state.push((tx) => void tx.del(k));
      }

      const open = await loadOpenPositions(ctx.redis, names);
      const tolerance = (s: string) => Math.max(qtyRulesOf(o.exchange!.rules(s)).step / 2, 1e-9);
      const drift = findDrift([...open.values()].map((p) => p.position), positions, tolerance);
      const ex = new Map(positions.map((p) => [p.symbol, p]));
      const sig = (d: (typeof drift)[number]) => `${d.kind}|${d.engine?.side ?? ''} ${d.engine?.qty ?? 0}|${d.exchange?.side ?? ''} ${d.exchange?.qty ?? 0}`;
      const confirmed = drift.filter((d) => seen.get(d.symbol) === sig(d));
      seen = new Map(drift.map((d) => [d.symbol, sig(d)]));
      const engineThen = (sym: string): [string, string] => {
        const p = open.get(sym)?.position;
        return p && p.qty > 0 ? [formatNumber(p.qty), p.side] : ['0', ''];
      };
      for (const a of planReconcile(confirmed, o.policy)) {
        if (a.kind === 'forget') {
          const [q, sd] = engineThen(a.symbol);
          state.push((tx) => void tx.eval(RECONCILE_CAS, 1, names.position(a.symbol), q, sd, 'del'));
        } else if (a.kind === 'adopt') {
          const x = ex.get(a.symbol)!;
          const [q, sd] = engineThen(a.symbol);
          const fields: Record<string, string> = {
            symbol: a.symbol, side: x.side, qty: formatNumber(Math.abs(x.qty)), entry_price: formatNumber(x.entryPrice),
            leverage: formatNumber(x.leverage), updated_at: String(now),
            ...(open.has(a.symbol) && open.get(a.symbol)!.position.side === x.side ? {} : { opened_at: String(now), plan_id: 'reconcile', sl_price: '0', tp_price: '0', initial_risk_usd: '0' }),
          };
          state.push((tx) => void tx.eval(RECONCILE_CAS, 1, names.position(a.symbol), q, sd, 'set', ...Object.entries(fields).flat()));
        } else {
          if (now - (closing.get(a.symbol) ?? 0) < (o.closeCooldownMs ?? Math.max(3 * o.everyMs, 30_000))) continue;
          closing.set(a.symbol, now);
          const intent: ExitIntent = {
            intent_id: newId('rc', a.symbol, now, o.random), ts: now, intent_type: 'RECONCILE', symbol: a.symbol, action: 'CLOSE',
            source: 'reconciler', reduceOnly: true, reason: `reconcile: ${a.whole ? 'close unknown position' : 'close excess'} ${a.side} ${a.qty}`,
            ...(a.whole ? {} : { qty: a.qty }),
          };
          outputs.push(out('trade.intent', intent));
        }
      }
      if (drift.length) {
        const waiting = drift.length - confirmed.length;
        ctx.setStatus('degraded', `drift (${o.policy}${waiting ? `; ${waiting} seen once, acted on if the next poll sees it too` : ''}): ${drift.map(describeDrift).join('; ')}`.slice(0, 480));
        ctx.log.warn('position drift', { policy: o.policy, drift: drift.map(describeDrift) });
      } else ctx.setStatus('running', `in sync: ${positions.length} exchange position(s)`);
      return { outputs, state, in: positions.length, out: outputs.length };
    },
  };
}

/** The registry's factory: the daemon's shared exchange, else one of its own (as the executor does). */
export async function createReconciler(deps: EngineDeps): Promise<TickerStage> {
  let exchange = deps.exchange as Exchange | undefined;
  let owns = false;
  if (!exchange) {
    const { createExchange } = await import('../exchange/index.js');
    exchange = await createExchange(deps.config, deps.writer, deps.log);
    owns = true;
  }
  const { canRestStops } = await import('../protect/stops.js');
  const stage = reconciler({
    exchange, policy: deps.config.reconcile.policy, everyMs: deps.config.reconcile.everyMs, random: deps.replay?.random('reconciler'),
    stops: deps.config.protect.enabled && canRestStops(exchange) ? exchange : null, streamMaxLen: deps.config.runtime.streamMaxLen,
  });
  if (owns) {
    stage.start = async () => exchange!.start();
    stage.stop = async () => exchange!.stop();
  }
  return stage;
}
