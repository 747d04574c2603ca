/**
 * The run report of a replay: the figures a freqtrade user reads after a backtest, from what the
 * pipeline really did (its `execution.result` fills and `ai.signal_generated` signals) over the
 * replayed prices.
 *
 * - trades: fills of reduce-only (closing) orders; a win is one with realized P&L > 0;
 * - realized P&L and fees in USDT (fees of every fill, opening and closing);
 * - maximum drawdown: the largest fall of equity (start balance + realized P&L − fees, after
 *   each fill) from its running peak, in USDT and as a share of that peak;
 * - per model, its hit rate: of its BUY/SELL votes, the share where the replayed price
 *   `horizonMs` of market time after the signal had moved in the vote's direction (HOLD votes and
 *   signals without a later price are not judged).
 * Pure: the same inputs give the same report.
 */
import { parseModels } from './stages/trader-decide.js';

/** One fill as written to `execution.result` (flat string fields, CONTRACT.md §1). */
export type ExecutionRow = Record<string, string>;
/** One signal as written to `ai.signal_generated`. */
export type SignalRow = Record<string, string>;
/** A quoted replay price: wall time it was quoted (ms), replayed market time (ms), price (USDT). */
export interface QuotedPoint {
  wall: number;
  t: number;
  price: number;
}

/** Hit rate of one model over the run. */
export interface ModelHitRate {
  model: string;
  votes: number;
  hits: number;
  /** hits ÷ votes, 0..1; null with no judged vote. */
  hit_rate: number | null;
}

/** The report, as printed at the end of a replay and stored under `{prefix}:replay:report`. */
export interface ReplayReport {
  symbols: string[];
  /** Replayed market time covered (epoch ms). */
  from: number;
  to: number;
  speed: number;
  signals: number;
  fills: number;
  trades: number;
  wins: number;
  losses: number;
  /** wins ÷ trades (0..1), null with no trade. */
  win_rate: number | null;
  realized_pnl_usd: number;
  fees_usd: number;
  net_pnl_usd: number;
  max_drawdown_usd: number;
  /** max_drawdown_usd ÷ the equity peak it fell from (0..1). */
  max_drawdown_pct: number;
  start_balance_usd: number;
  open_positions: number;
  horizon_ms: number;
  models: ModelHitRate[];
  /** Every closing fill, with the replayed market time it happened at (epoch ms; null if unknown). */
  /** The replay's seed (QT_REPLAY_SEED); null when not known. */
  seed: number | null;
  /** Wall time the run took (ms); null when not known. Not part of the reproducible figures. */
  wall_ms: number | null;
  exits: { symbol: string; market_ts: number | null; side: string; qty: number; price: number; realized_pnl_usd: number }[];
  generated_at: number;
}

export interface ReportInput {
  symbols: string[];
  from: number;
  to: number;
  speed: number;
  executions: ExecutionRow[];
  signals: SignalRow[];
  /** Quoted points per symbol, in quote order. */
  history: Map<string, QuotedPoint[]>;
  startBalanceUsd: number;
  openPositions: number;
  /** Market time after a signal at which its direction is judged (default 15 min: three 5m candles). */
  horizonMs?: number;
  now: number;
  seed?: number;
  wallMs?: number;
}

const round = (x: number, d = 8) => Number(x.toFixed(d));

/** Index of the last point with `key(p) ≤ x` (binary search over a sorted array), or -1. */
function lastAtOrBefore(pts: QuotedPoint[], x: number, key: (p: QuotedPoint) => number): number {
  let lo = 0;
  let hi = pts.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (key(pts[mid]) <= x) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/** Builds the report from a replay's fills, signals and quoted prices (pure). */
export function buildReplayReport(i: ReportInput): ReplayReport {
  const horizon = i.horizonMs ?? 15 * 60_000;
  let trades = 0;
  let wins = 0;
  let losses = 0;
  let realized = 0;
  let fees = 0;
  let equity = i.startBalanceUsd;
  let peak = equity;
  let maxDd = 0;
  let maxDdPct = 0;
  let fills = 0;
  const exits: ReplayReport['exits'] = [];
  const marketTime = (symbol: string, wall: number): number | null => {
    const pts = i.history.get(symbol);
    const k = pts ? lastAtOrBefore(pts, wall, (p) => p.wall) : -1;
    return k >= 0 ? pts![k].t : null;
  };
  for (const e of i.executions) {
    const status = (e.status ?? '').toUpperCase();
    const qty = Number(e.qty);
    if (status && status !== 'FILLED' && status !== 'PARTIALLY_FILLED' && !(qty > 0)) continue;
    fills++;
    const pnl = Number(e.realized_pnl) || 0;
    const fee = Number(e.fee) || 0;
    realized += pnl;
    fees += fee;
    if (e.reduceOnly === 'true') {
      exits.push({ symbol: e.symbol, market_ts: marketTime(e.symbol, Number(e.ts)), side: e.side, qty: Number(e.qty), price: Number(e.price), realized_pnl_usd: round(pnl, 4) });
      trades++;
      if (pnl > 0) wins++;
      else losses++;
    }
    equity += pnl - fee;
    if (equity > peak) peak = equity;
    const dd = peak - equity;
    if (dd > maxDd) {
      maxDd = dd;
      maxDdPct = peak > 0 ? dd / peak : 0;
    }
  }

  const perModel = new Map<string, { votes: number; hits: number }>();
  for (const s of i.signals) {
    const pts = i.history.get(s.symbol);
    const ts = Number(s.ts);
    if (!pts?.length || !Number.isFinite(ts)) continue;
    const at = lastAtOrBefore(pts, ts, (p) => p.wall);
    if (at < 0) continue;
    const later = lastAtOrBefore(pts, pts[at].t + horizon, (p) => p.t);
    if (later <= at || pts[later].t < pts[at].t + horizon) continue; // no price that far on: not judged
    const move = pts[later].price - Number(s.price || pts[at].price);
    const parsed = parseModels(s.models ?? '');
    for (const [model, v] of Object.entries(parsed.votes)) {
      if (v.vote !== 'BUY' && v.vote !== 'SELL') continue;
      const m = perModel.get(model) ?? { votes: 0, hits: 0 };
      m.votes++;
      if ((v.vote === 'BUY' && move > 0) || (v.vote === 'SELL' && move < 0)) m.hits++;
      perModel.set(model, m);
    }
  }

  return {
    symbols: i.symbols,
    from: i.from,
    to: i.to,
    speed: i.speed,
    signals: i.signals.length,
    fills,
    trades,
    wins,
    losses,
    win_rate: trades ? round(wins / trades, 4) : null,
    realized_pnl_usd: round(realized, 4),
    fees_usd: round(fees, 4),
    net_pnl_usd: round(realized - fees, 4),
    max_drawdown_usd: round(maxDd, 4),
    max_drawdown_pct: round(maxDdPct, 6),
    start_balance_usd: i.startBalanceUsd,
    open_positions: i.openPositions,
    horizon_ms: horizon,
    models: [...perModel.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([model, m]) => ({ model, votes: m.votes, hits: m.hits, hit_rate: m.votes ? round(m.hits / m.votes, 4) : null })),
    seed: i.seed ?? null,
    wall_ms: i.wallMs ?? null,
    exits,
    generated_at: i.now,
  };
}

/** The report as the few lines the engine prints at the end of a replay. */
export function formatReplayReport(r: ReplayReport): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);
  const usd = (x: number) => `${x >= 0 ? '' : '-'}${Math.abs(x).toFixed(2)} USDT`;
  const lines = [
    `replay report: ${r.symbols.join(', ')} ${new Date(r.from).toISOString()} → ${new Date(r.to).toISOString()} at ×${r.speed}${r.seed !== null && r.seed !== undefined ? ` · seed ${r.seed}` : ''}${r.wall_ms !== null && r.wall_ms !== undefined ? ` · ${(r.wall_ms / 1000).toFixed(1)} s` : ''}`,
    `  signals ${r.signals} · fills ${r.fills} · trades ${r.trades} (won ${r.wins}, lost ${r.losses}) · win rate ${pct(r.win_rate)}`,
    `  realized P&L ${usd(r.realized_pnl_usd)} · fees ${usd(r.fees_usd)} · net ${usd(r.net_pnl_usd)} · max drawdown ${usd(r.max_drawdown_usd)} (${pct(r.max_drawdown_pct)}) · open positions ${r.open_positions}`,
    `  model hit rates (direction after ${Math.round(r.horizon_ms / 60000)} min of market time): ${r.models.map((m) => `${m.model} ${pct(m.hit_rate)} of ${m.votes}`).join(' · ') || 'no judged vote'}`,
  ];
  return lines.join('\n');
}
