/**
 * apply_layer: reads `apply.plan`, runs the gate chain (gates.ts, pure), writes
 * `apply.approved` with a `permit_id` (CONTRACT.md §1). This file only loads the
 * state a batch needs and records permits:
 * - one pipeline: kill switch, policy (when the cache is stale), each plan's permit,
 *   each batch symbol's position hash (fresh, for exits and exposure);
 * - the open-position scan (SCAN `position:*`, only real position keys), reused for
 *   at most `scanTtlMs`, so a batch costs a bounded number of round trips.
 * Approvals not yet reflected in the positions (the executor has not filled them) stay
 * counted for `pendingTtlMs`, so two batches cannot both take the last free slot.
 */
import { randomUUID } from 'node:crypto';
import type { ApplyPlan } from '../../contract/messages.js';
import type { Names } from '../../contract/names.js';
import { readPosition } from '../../contract/state.js';
import { out, ok, reject, type ConsumerStage, type Delivery, type StageContext } from '../runtime/types.js';
import type { PolicyCache } from '../state/policy.js';
import { OpenPositionCache } from '../state/positions.js';
import { approvalOf, runGates, type ApplyView, type PendingApproval } from './gates.js';

export const PERMIT_TTL_S = 24 * 3600;

export interface ApplyLayerOptions {
  names: Names;
  policy: PolicyCache;
  /** How long an open-position scan is reused (default 250 ms). */
  scanTtlMs?: number;
  /** How long an approval not yet reflected in the positions is still counted (default 15 s). */
  pendingTtlMs?: number;
  newPermitId?: () => string;
  /** Refresh the open-position scan in the background (default true; a replay waits for it, to stay deterministic). */
  scanInBackground?: boolean;
}

export function createApplyLayer(o: ApplyLayerOptions): ConsumerStage<'apply.plan', ApplyView> {
  const scan = new OpenPositionCache(o.names, o.scanTtlMs ?? 2000, o.scanInBackground ?? true);
  const pendingTtlMs = o.pendingTtlMs ?? 15_000;
  const newPermitId = o.newPermitId ?? (() => `pm-${randomUUID()}`);
  let pending: PendingApproval[] = [];
  let current: ApplyView | undefined;

  return {
    name: 'apply_layer',
    input: 'apply.plan',

    async prepare(batch: Delivery<ApplyPlan>[], ctx: StageContext): Promise<ApplyView> {
      const now = ctx.now();
      const plans = batch.map((d) => d.message);
      const symbols = [...new Set(plans.map((p) => p.symbol))];
      const planIds = [...new Set(plans.map((p) => p.plan_id))];
      const readPolicy = !o.policy.fresh(now);

      const scanned = await scan.get(ctx.redis, now);
      const pipe = ctx.redis.pipeline();
      pipe.get(o.names.killSwitch());
      if (readPolicy) pipe.hgetall(o.names.policy());
      for (const id of planIds) pipe.get(o.names.permit(id));
      for (const s of symbols) pipe.hgetall(o.names.position(s));
      const res = (await pipe.exec()) ?? [];
      const at = (i: number): unknown => {
        const [err, v] = res[i] ?? [new Error('no reply'), null];
        if (err) throw err;
        return v;
      };

      let i = 0;
      const killSwitch = (at(i++) as string | null) ?? null;
      const policy = readPolicy ? o.policy.accept((at(i++) as Record<string, string>) ?? {}, now) : await o.policy.get(ctx.redis, now);
      const permits = new Map<string, string>();
      for (const id of planIds) {
        const v = at(i++) as string | null;
        if (v !== null) permits.set(id, v);
      }
      const positions = new Map(scanned.positions);
      for (const s of symbols) {
        const p = readPosition(s, (at(i++) as Record<string, string>) ?? {});
        if (p) positions.set(s, p);
        else positions.delete(s);
      }
      // Keep approvals still in flight: recent, and their symbol's position unchanged since.
      const live = pending.filter((a) => now - a.at < pendingTtlMs && (positions.get(a.symbol)?.qty ?? 0) === a.basisQty);
      current = { now, policy, killSwitch, permits, positions, pending: live };
      return current;
    },

    handle(d, view, ctx) {
      const plan = d.message;
      const decision = runGates(plan, view);
      if (!decision.ok) return reject(decision.reason, decision.detail, { symbol: plan.symbol, refId: plan.plan_id });
      if (decision.capped) ctx.log.info('exit quantity capped at the open quantity', { symbol: plan.symbol, detail: decision.capped });
      const permitId = newPermitId();
      view.permits.set(plan.plan_id, permitId);
      view.pending.push(approvalOf(decision.plan, view));
      const key = o.names.permit(plan.plan_id);
      return ok(
        [out('apply.approved', { ...decision.plan, permit_id: permitId })],
        [(tx) => void tx.set(key, permitId, 'EX', PERMIT_TTL_S)],
      );
    },

    committed() {
      if (current) pending = current.pending;
      current = undefined;
    },
  };
}
