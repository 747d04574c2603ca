/**
 * risk_guard's checks as pure functions: each returns its decision with the numbers
 * that made it (`exposure BTCUSDT 6123.40 > max 5000.00`).
 */
import type { RiskProposal } from '../../contract/messages.js';
import type { Policy, PositionState } from '../../contract/state.js';

export type RiskCheck = Omit<RiskProposal, 'proposal_id' | 'ts'>;

export interface Exposure {
  symbol: string;
  notional: number;
  leverage: number;
}

export function exposureOf(p: PositionState, mark: number | undefined): Exposure {
  const price = mark && mark > 0 ? mark : p.entry_price;
  return { symbol: p.symbol, notional: p.qty * price, leverage: p.leverage };
}

const f2 = (n: number) => n.toFixed(2);

/** Per-symbol and total exposure, and leverage caps. One check per breach, or one `ok`. */
export function checkExposure(list: Exposure[], policy: Policy): RiskCheck[] {
  const checks: RiskCheck[] = [];
  let total = 0;
  for (const e of list) {
    total += e.notional;
    if (policy.max_symbol_exposure_usd > 0 && e.notional > policy.max_symbol_exposure_usd) {
      checks.push({ kind: 'exposure', decision: 'block', symbol: e.symbol, value: e.notional, limit: policy.max_symbol_exposure_usd,
        detail: `exposure ${e.symbol} ${f2(e.notional)} > max ${f2(policy.max_symbol_exposure_usd)} USD: no new entries on ${e.symbol}` });
    }
    if (e.leverage > policy.max_leverage) {
      checks.push({ kind: 'leverage', decision: 'reduce', symbol: e.symbol, value: e.leverage, limit: policy.max_leverage,
        detail: `leverage ${e.symbol} ${e.leverage}x > max ${policy.max_leverage}x: reduce the position` });
    }
  }
  if (policy.max_total_exposure_usd > 0 && total > policy.max_total_exposure_usd) {
    checks.push({ kind: 'exposure', decision: 'block', value: total, limit: policy.max_total_exposure_usd,
      detail: `total exposure ${f2(total)} > max ${f2(policy.max_total_exposure_usd)} USD over ${list.length} position(s): no new entries` });
  }
  return checks;
}

/** The daily realised loss check: over the limit turns the kill switch on. */
export function checkDailyLoss(day: string, realized: number, policy: Policy): RiskCheck {
  const loss = -realized;
  if (policy.daily_loss_limit_usd > 0 && loss >= policy.daily_loss_limit_usd) {
    return { kind: 'daily_loss', decision: 'kill_switch_on', value: realized, limit: -policy.daily_loss_limit_usd,
      detail: `daily realised loss ${f2(loss)} USD on ${day} >= limit ${f2(policy.daily_loss_limit_usd)} USD: kill switch on (exits still allowed)` };
  }
  return { kind: 'daily_loss', decision: 'allow', value: realized, limit: -policy.daily_loss_limit_usd,
    detail: `daily realised PnL ${f2(realized)} USD on ${day} (loss limit ${f2(policy.daily_loss_limit_usd)} USD)` };
}

/** UTC day of an epoch ms (YYYY-MM-DD). */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function dayStartMs(day: string): number {
  return Date.parse(`${day}T00:00:00.000Z`);
}

/** A key that says which decision this is, to publish only changes. */
export function checkKey(c: RiskCheck): string {
  return `${c.kind}:${c.symbol ?? '*'}`;
}
