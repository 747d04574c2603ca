/**
 * verify_ensemble: every 30 s, reads the newest `ai.signal_generated` entries and checks
 * that every model is producing, that none is stuck on one answer, and that confidences
 * and scores are within 0..1. The result is its heartbeat: `running`, or `degraded` with
 * the reasons in its detail (visible to `qt diagnose`).
 */
import { fieldsFromArray } from '../../contract/messages.js';
import type { EngineDeps } from '../engine.js';
import type { TickerStage } from '../runtime/types.js';
import { parseModels } from './trader-decide.js';
import { FALLBACK_MODEL } from '../market/ensemble.js';

export interface EnsembleCheck {
  ok: boolean;
  reasons: string[];
  signals: number;
  models: string[];
  /** signals decided by the fallback while the models warm up (not judged) */
  warming?: number;
}

export interface VerifyOptions {
  /** Newest signals examined (default 200). */
  window?: number;
  /** A model absent from more than this share of the window is not producing (default 0.5). */
  maxMissingShare?: number;
  /** Samples before one repeated answer counts as stuck (default 20). */
  stuckAfter?: number;
  /** The newest signal older than this means the ensemble is silent (default 5 min). */
  staleMs?: number;
  everyMs?: number;
  /** After start, no signals yet is `running` (waiting) for this long (default 60 s). */
  graceMs?: number;
}

/** The checks on a window of signal field maps, newest first (pure). */
export function verifySignals(rows: Record<string, string>[], now: number, o: VerifyOptions = {}): EnsembleCheck {
  const reasons: string[] = [];
  if (!rows.length) return { ok: false, reasons: ['no signals on ai.signal_generated: the ai_engine is not producing'], signals: 0, models: [] };
  const newestTs = Number(rows[0].ts);
  if (Number.isFinite(newestTs) && now - newestTs > (o.staleMs ?? 300_000)) reasons.push(`newest signal is ${Math.round((now - newestTs) / 1000)} s old`);
  const seen = new Map<string, { n: number; answers: Set<string> }>();
  let badConf = 0;
  let warming = 0;
  // The fallback's model votes only on the signals the fallback decided: judged on those.
  let fallbackDecided = 0;
  for (const f of rows) {
    const c = Number(f.confidence);
    if (!(c >= 0 && c <= 1)) badConf++;
    const parsed = parseModels(f.models ?? '');
    // While the models lack data the fallback decides and they answer HOLD by design: not stuck.
    if (parsed.fallback && /^warming up/i.test(parsed.fallbackReason ?? '')) {
      warming++;
      continue;
    }
    if (parsed.fallback) fallbackDecided++;
    for (const [m, v] of Object.entries(parsed.votes)) {
      const s = seen.get(m) ?? { n: 0, answers: new Set<string>() };
      s.n++;
      s.answers.add(`${v.vote} ${v.score}`);
      if (!(v.score >= 0 && v.score <= 1)) reasons.push(`${m}: score ${v.score} outside 0..1`);
      seen.set(m, s);
    }
  }
  if (badConf) reasons.push(`${badConf} of ${rows.length} signals have a confidence outside 0..1`);
  const judged = rows.length - warming;
  if (judged === 0) return { ok: badConf === 0, reasons: [...new Set(reasons)], signals: rows.length, models: [], warming };
  if (!seen.size) reasons.push(`none of the ${judged} newest signals past warm-up carries model votes`);
  for (const [m, s] of seen) {
    const expected = m === FALLBACK_MODEL ? fallbackDecided : judged;
    if (expected - s.n > expected * (o.maxMissingShare ?? 0.5)) reasons.push(`${m}: missing from ${expected - s.n} of ${expected} ${m === FALLBACK_MODEL ? 'fallback-decided ' : ''}signals (not producing)`);
    if (s.n >= (o.stuckAfter ?? 20) && s.answers.size === 1) reasons.push(`${m}: stuck on one answer (${[...s.answers][0]}) for ${s.n} signals`);
  }
  const uniq = [...new Set(reasons)];
  return { ok: uniq.length === 0, reasons: uniq, signals: rows.length, models: [...seen.keys()].sort(), warming };
}

/** True when stream entry id `a` is newer than `b` (ids are `ms-seq`; compared as numbers, not text). */
export function idAfter(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am > bm : as > bs;
}

/**
 * The stage: each tick judges the newest `window` signals, but counts as input (`in`) only
 * the signals it had not seen at the previous tick (it remembers the newest id read), so
 * `in` is the signals evaluated, not the window re-read every tick.
 */
export function verifyEnsemble(o: VerifyOptions = {}): TickerStage {
  let startedAt = 0;
  let lastId = '0-0';
  return {
    name: 'verify_ensemble',
    everyMs: o.everyMs ?? 30_000,
    async tick(ctx) {
      const rows = (await ctx.redis.xrevrange(ctx.names.stream('ai.signal_generated'), '+', '-', 'COUNT', o.window ?? 200)) as [string, string[]][];
      const now = ctx.now();
      startedAt ||= now;
      if (!rows.length && now - startedAt < (o.graceMs ?? 60_000)) {
        ctx.setStatus('running', 'waiting for the first signals on ai.signal_generated');
        return {};
      }
      const r = verifySignals(rows.map(([, a]) => fieldsFromArray(a)), now, o);
      if (r.ok && r.models.length === 0) ctx.setStatus('running', `models warming up: the newest ${r.signals} signals came from the fallback`);
      else if (r.ok) ctx.setStatus('running', `${r.models.length} model(s) producing over ${r.signals - (r.warming ?? 0)} signals: ${r.models.join(', ')}`);
      else ctx.setStatus('degraded', r.reasons.join('; ').slice(0, 480));
      const fresh = rows.filter(([id]) => idAfter(id, lastId)).length;
      if (rows.length) lastId = rows[0]![0];
      return { in: fresh };
    },
  };
}

export function createVerifyEnsemble(_deps: EngineDeps): TickerStage {
  return verifyEnsemble();
}
