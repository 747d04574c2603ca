/**
 * `findingsOf(snapshot, thresholds)`: every finding of the contract (§4), pure, worst
 * first. Stream and group findings live in findings-streams.ts.
 */
import type { Finding, PipelineSnapshot, StageStats } from './read-model.js';
import type { Thresholds } from './thresholds.js';
import { fmtAge, streamFindings } from './findings-streams.js';
import { expiredFindings } from './findings-expired.js';
import { defaultInputOf } from './services.js';
import { firstGhosts } from './positions.js';
import { deadLetterTrim } from './dead-letter-trim.js';
import { engineContendedFindings } from './findings-leases.js';
import { exchangeFindings } from './findings-exchange.js';
import { protectFindings } from './findings-protect.js';
import { STAGES, STAGE_INPUT } from '../contract/names.js';
import { trendFindings } from './trend.js';
import { reasonsEvidence, reasonsText, silentWhy, stoppedFinding } from './findings-why.js';

const AUTH_RE = /(?<![\d.])401(?![\d.])(?=\D*(unauthori|-201[45]|auth|api))|http\s*401\b|-2015|-2014|unauthori[sz]ed|invalid api[- ]?key|auth_failed/i;
const MISMATCH = new Set(['schema_invalid', 'invalid_quantity']);
/**
 * Rejection reasons that are filtering by design, not failure: they do not count toward
 * STAGE_REJECTING's share (position_limit_reached has POSITION_LIMIT_BLOCKING,
 * intent_expired ENTRIES_EXPIRED); where they take most of a stage's input, STAGE_FILTERING
 * (info) says where the input went. docs/diagnostics.md lists the same (a test checks).
 */
export const FILTER_REASON_LIST = ['duplicate', 'cooldown', 'confidence_below_min', 'kill_switch', 'position_limit_reached', 'exit_in_flight', 'at_position_limit', 'opposite_position', 'intent_expired', 'position_open'] as const;
const FILTER_REASONS: ReadonlySet<string> = new Set(FILTER_REASON_LIST);
/** STAGE_FILTERING: filtered by design at least this share of a stage's input (0..1). */
export const FILTERING_INFO_SHARE = 0.5;

/** Fields each stage's input must carry (contract §1), for CONTRACT_MISMATCH evidence. */
const EXPECTED: Record<string, { stream: string; fields: string[]; sizing?: string[][] }> = {
  intent_bridge: { stream: 'trade.intent', fields: ['intent_id', 'ts', 'intent_type', 'symbol', 'action', 'source'], sizing: [['position_usd', 'leverage'], ['qty']] },
  apply_layer: { stream: 'apply.plan', fields: ['plan_id', 'intent_id', 'ts', 'symbol', 'action', 'side', 'qty', 'price', 'notional', 'leverage', 'reduceOnly', 'source'] },
  intent_executor: { stream: 'apply.approved', fields: ['plan_id', 'intent_id', 'ts', 'symbol', 'action', 'side', 'qty', 'price', 'notional', 'leverage', 'reduceOnly', 'source', 'permit_id'] },
  autonomous_trader: { stream: 'ai.signal_generated', fields: ['signal_id', 'ts', 'symbol', 'side', 'confidence', 'price'] },
};

const REASON_FIX: Record<string, string> = {
  invalid_quantity: 'the producer and this stage disagree on sizing fields (see CONTRACT_MISMATCH): trade.intent carries position_usd and leverage, or qty',
  schema_invalid: 'the producer sends fields this stage does not accept (see CONTRACT_MISMATCH)',
  below_min_notional: 'orders are under the exchange minimum: the notional is position_usd × leverage and qty = notional ÷ price (never ÷ leverage); or allow upsizing (`qt policy set allow_upsize true`)',
  position_limit_reached: 'see POSITION_LIMIT_BLOCKING: close positions or raise max_open_positions; make sure only position keys with qty > 0 are counted',
  symbol_not_allowed: 'add the symbol to the policy allowlist (`qt policy set allowlist …`) or stop producing it',
  action_unknown_variant: 'the producer sends an exit action the contract does not know: use CLOSE, PARTIAL_25, PARTIAL_50 or PARTIAL_75',
  precision_invalid: 'quantities must be rounded to the market step size before submission (closes: use the exchange position quantity)',
  exchange_rejected: 'read the exchange code in the example detail (e.g. -1111 precision, -2019 margin) and fix sizing/rounding',
  auth_failed: 'see EXCHANGE_AUTH_FAILED: renew or fix the API key and secret',
  no_position: 'closes arrive for symbols with no open position: the exit producer is out of sync with positions',
  price_stale: 'the price feed is late: check the market service', price_unavailable: 'no price for the symbol: check the market service',
  confidence_below_min: 'signals are under the policy min_confidence: lower it or check the model',
  kill_switch: 'the kill switch is on (`qt kill-switch off` when safe)',
  intent_expired: 'see ENTRIES_EXPIRED: entries older than the policy entry_max_age_ms are refused; find why the pipeline was behind',
};

const sevRank = { crit: 3, warn: 2, info: 1 } as const;

export function findingsOf(snap: PipelineSnapshot, th: Thresholds): Finding[] {
  const out: Finding[] = [...streamFindings(snap, th)];
  for (const s of snap.stages) out.push(...stageFindings(s, snap, th));
  out.push(...serviceFindings(snap), ...positionFindings(snap), ...miscFindings(snap), ...trendFindings(snap.trends ?? []), ...expiredFindings(snap));
  out.push(...engineContendedFindings(snap));
  out.push(...exchangeFindings(snap));
  out.push(...protectFindings(snap));
  return out.sort((a, b) => sevRank[b.severity] - sevRank[a.severity] || a.code.localeCompare(b.code) || a.subject.localeCompare(b.subject));
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 && x > 0 ? 2 : 1)}%`;
}

function parsePayload(p: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(p);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function stageFindings(s: StageStats, snap: PipelineSnapshot, th: Thresholds): Finding[] {
  const out: Finding[] = [];
  const reasons = s.top_reasons.map((r) => ({ reason: r.reason, count: r.count, example: r.example ? { ...r.example, payload: r.example.payload.slice(0, 600) } : null }));
  const scope = s.source === 'metrics' ? `in the last ${fmtAge(snap.window_s)}` : '(lifetime counters)';
  // filtering by design (duplicates, cooldowns, low confidence) is not a failure; the limit has its own finding
  const filtered = s.top_reasons.filter((r) => FILTER_REASONS.has(r.reason)).reduce((a, r) => a + r.count, 0);
  const failing = s.rejected - filtered;
  if (s.in >= th.minSample && failing / s.in >= th.rejectWarn) {
    const share = failing / s.in;
    const top = s.top_reasons.find((r) => !FILTER_REASONS.has(r.reason));
    out.push({
      code: 'STAGE_REJECTING', severity: share >= th.rejectCrit ? 'crit' : 'warn', subject: s.stage,
      message: `${s.stage} rejected ${pct(share)} of its input ${scope} (${failing} of ${s.in}${filtered ? `, besides ${filtered} filtered by design` : ''})` + (top ? `, mostly ${top.reason} (${top.count})` : '') + `; top reasons: ${reasonsText(s)}`,
      evidence: { in: s.in, out: s.out, rejected: s.rejected, filtered_by_design: filtered, share, top_reasons: reasons, source: s.source },
      fix: top ? (REASON_FIX[top.reason] ?? `look at the example payloads: \`qt diagnose rejections --stage ${s.stage} --reason ${top.reason}\``) : `\`qt diagnose rejections --stage ${s.stage}\``,
    });
  }
  // Most input filtered by design: not a fault, but say where the input goes (info).
  if (s.in >= th.minSample && filtered / s.in >= FILTERING_INFO_SHARE) {
    const by = s.top_reasons.filter((r) => FILTER_REASONS.has(r.reason)).sort((a, b) => b.count - a.count);
    out.push({
      code: 'STAGE_FILTERING', severity: 'info', subject: s.stage,
      message: `${s.stage} passed on ${pct(s.in > 0 ? s.out / s.in : 0)} of its input ${scope} (${s.out} out of ${s.in} in); ${filtered} (${pct(filtered / s.in)}) were filtered by design: ${by.map((r) => `${r.reason} ${r.count}`).join(', ')}`,
      evidence: { in: s.in, out: s.out, filtered_by_design: filtered, share: filtered / s.in, reasons: Object.fromEntries(by.map((r) => [r.reason, r.count])), source: s.source },
      fix: `nothing is broken: these filters work as designed (a position already open, an opposite position, a cooldown…). To let more through, see the policy (\`qt config show\`) and \`qt diagnose rejections --stage ${s.stage}\``,
    });
  }
  const mism = s.top_reasons.filter((r) => MISMATCH.has(r.reason)).reduce((a, r) => a + r.count, 0);
  if (s.rejected >= th.minSample && mism / s.rejected >= th.mismatchShare) {
    const ex = snap.rejections.latest.filter((r) => r.stage === s.stage && MISMATCH.has(r.reason));
    const byProducer = new Map<string, { count: number; payload: Record<string, unknown> | null; detail: string }>();
    for (const r of ex) {
      const p = parsePayload(r.payload);
      const producer = String(p?.source ?? p?.intent_type ?? 'unknown');
      const e = byProducer.get(producer) ?? { count: 0, payload: p, detail: r.detail };
      e.count++;
      byProducer.set(producer, e);
    }
    const [producer, info] = [...byProducer].sort((a, b) => b[1].count - a[1].count)[0] ?? ['unknown', { count: 0, payload: null, detail: '' }];
    const exp = EXPECTED[s.stage];
    const sent = info.payload ? Object.keys(info.payload) : [];
    const missing = exp ? exp.fields.filter((f) => !sent.includes(f)) : [];
    const sizing = exp?.sizing && !exp.sizing.some((set) => set.every((f) => sent.includes(f))) ? exp.sizing.map((x) => x.join('+')).join(' or ') : null;
    const dominated = ex.length === 0 || info.count / ex.length >= th.mismatchShare;
    if (dominated) {
      out.push({
        code: 'CONTRACT_MISMATCH', severity: 'crit', subject: `${producer} → ${s.stage}`,
        message: `${pct(mism / s.rejected)} of ${s.stage}'s rejections are ${[...new Set(s.top_reasons.filter((r) => MISMATCH.has(r.reason)).map((r) => r.reason))].join('/')}` +
          ` on messages from ${producer}: producer and consumer disagree on the fields` + (sent.length ? ` (sent: ${sent.join(', ')})` : ''),
        evidence: {
          stage: s.stage, producer, input_stream: exp?.stream ?? null, rejected: s.rejected, mismatch_rejections: mism,
          fields_sent: sent, fields_expected: exp ? exp.fields : null, sizing_expected: exp?.sizing?.map((x) => x.join('+')) ?? null,
          missing_fields: missing, sizing_problem: sizing, example_detail: info.detail, example_payload: info.payload,
        },
        fix: `make ${producer} and ${s.stage} agree on the contract (§1${exp ? `, ${exp.stream}` : ''})` + (missing.length ? `: ${producer} omits ${missing.join(', ')}` : '') +
          (sizing ? `; sizing must be ${sizing}` : '') + `; \`qt diagnose rejections --stage ${s.stage}\` shows the payloads`,
      });
    }
  }
  if (s.source === 'metrics' && s.in >= th.minSample && s.out === 0 && (s.stage in STAGE_INPUT || !(STAGES as readonly string[]).includes(s.stage))) {
    out.push({
      code: 'STAGE_NO_OUTPUT', severity: 'crit', subject: s.stage,
      message: `${s.stage} took ${s.in} inputs ${scope} and produced nothing (${s.rejected} rejected, ${s.dead} dead-lettered, ${s.errors} errors)` + (s.rejected ? `; top reasons: ${reasonsText(s)}` : ''),
      evidence: { in: s.in, out: s.out, rejected: s.rejected, dead: s.dead, errors: s.errors, source: s.source, top_reasons: reasonsEvidence(s) },
      fix: s.rejected ? `see its rejections: \`qt diagnose rejections --stage ${s.stage}\`` : `check the stage's output stream name and its service log; \`qt diagnose streams\` shows where entries go`,
    });
  }
  return out;
}

function serviceFindings(snap: PipelineSnapshot): Finding[] {
  const out: Finding[] = [];
  if (!snap.registry_known) {
    out.push({
      code: 'SERVICES_UNKNOWN', severity: 'info', subject: 'services',
      message: `no service registry (${snap.prefix}:svc:registry): which services should run is unknown, so SERVICE_DOWN is not judged` +
        (snap.services.length ? ` (${snap.services.length} heartbeat(s) seen)` : ''),
      evidence: { heartbeats: snap.services.map((s) => s.service) },
      fix: 'qt services register themselves when they start; for other deployments check their supervisor (systemctl list-units)',
    });
  }
  const stopped = stoppedFinding(snap);
  if (stopped) out.push(stopped);
  for (const s of snap.services) {
    if (s.status === 'down' && s.expected && !s.stopped_at) {
      out.push({
        code: 'SERVICE_DOWN', severity: 'crit', subject: s.service,
        message: `${s.service} is expected (in the registry) but has no live heartbeat`,
        evidence: { service: s.service, registry: true },
        fix: `start it (systemctl start qt-${s.service.replace(/_/g, '-')} or qt up --stages ${s.service}) and read its log; if it was retired, \`qt services forget ${s.service}\``,
      });
    } else if (s.status === 'failed') {
      out.push({
        code: 'SERVICE_FAILED', severity: 'crit', subject: s.service,
        message: `${s.service} reported failed${s.last_error ? `: ${s.last_error}` : ''}`,
        evidence: { service: s.service, last_error: s.last_error, detail: s.detail, errors: s.errors, pid: s.pid, host: s.host },
        fix: `read its last error and log, fix the cause, restart it`,
      });
    } else if (s.status === 'degraded') {
      out.push({
        code: 'SERVICE_DEGRADED', severity: 'warn', subject: s.service,
        message: `${s.service} is degraded${s.detail ? `: ${s.detail}` : ''}`,
        evidence: { service: s.service, detail: s.detail, last_error: s.last_error, errors: s.errors },
        fix: 'read its detail and last error; it keeps running but some function is off',
      });
    } else if (s.status === 'silent') {
      out.push({
        code: 'SERVICE_SILENT', severity: 'warn', subject: s.service,
        message: `${s.service} beats (${fmtAge(s.beat_age_s)} ago) but has handled nothing since ${s.last_msg_age_s === null ? 'it started' : `${fmtAge(s.last_msg_age_s)} ago`} ${silentWhy(s).text}`,
        evidence: { ...silentWhy(s).evidence,
          service: s.service, input_stream: defaultInputOf(s.service) ?? null, beat_age_s: s.beat_age_s, last_msg_age_s: s.last_msg_age_s, processed: s.processed, detail: s.detail,
          stale_streams: snap.streams.filter((x) => x.stale && x.length > 0).map((x) => ({ stream: x.stream, newest_age_s: x.age_s })),
        },
        fix: `restart ${s.service} and check which stream and group it reads (a wrong stream name makes a service beat and do nothing)`,
      });
    }
  }
  return out;
}

function positionFindings(snap: PipelineSnapshot): Finding[] {
  const out: Finding[] = [];
  const p = snap.positions;
  const byPattern = p.position_keys + p.ledger_keys + p.snapshot_keys;
  if (p.ghosts.length) {
    const pos = p.ghosts.filter((g) => g.kind === 'position').length;
    out.push({
      code: 'GHOST_KEYS', severity: 'warn', subject: 'positions',
      message: `${p.ghosts.length} ghost keys (${pos} position, ${p.ghosts.length - pos} snapshot); ${p.open} real open positions, but ${byPattern} keys match ${snap.prefix}:position:*` +
        (byPattern > p.open ? ': a counter over the key pattern is inflated' : ''),
      evidence: {
        ghosts: p.ghosts.length, position_ghosts: pos, snapshot_ghosts: p.ghosts.length - pos, open: p.open, limit: p.limit,
        position_keys: p.position_keys, ledger_keys: p.ledger_keys, snapshot_keys: p.snapshot_keys, keys_matching_pattern: byPattern,
        inflates_count: byPattern > p.open, examples: firstGhosts(p.ghosts, 5),
      },
      fix: '`qt cleanup ghosts --dry-run`, then `qt cleanup ghosts --yes` (backup written first; ledger keys never touched); count only position keys with qty > 0',
    });
  }
  const limitRej = countReason(snap, 'position_limit_reached');
  if (limitRej.count > 0) {
    // What the gate counted when it refused, where its detail says (ours: `open 10 >= limit
    // 10 (7 positions + 3 approved…)`, the seeds': `position limit reached (47/10)`).
    const counted = reportedCounts(snap, limitRej.detail);
    const inflated = p.limit !== null && (counted !== null ? counted > p.limit && counted > p.open : p.open < p.limit);
    // A limit really reached is the policy at work (a full book is normal operation): info.
    const atLimit = p.limit === null || p.open >= p.limit;
    out.push({
      code: 'POSITION_LIMIT_BLOCKING', severity: inflated ? 'crit' : p.limit === null ? 'warn' : 'info', subject: 'positions',
      message: `${limitRej.count} entries rejected with position_limit_reached` + (counted !== null ? ` (counted ${counted} against limit ${p.limit ?? '?'})` : '') +
        `; real open positions ${p.open} of limit ${p.limit ?? 'unknown'}` +
        (inflated ? `: the counter counts more than open positions (${byPattern} position:* keys, ${p.ghosts.length} ghosts, ${p.ledger_keys} ledger, ${p.snapshot_keys} snapshot)`
          : atLimit ? '' : ': the limit was reached then (positions and approvals in flight), and entries pass again now'),
      evidence: { rejections: limitRej.count, example_detail: limitRej.detail, counted, open: p.open, limit: p.limit, keys_matching_pattern: byPattern, ghosts: p.ghosts.length, ledger_keys: p.ledger_keys, snapshot_keys: p.snapshot_keys },
      fix: inflated
        ? 'the stage counting positions must count only position:{SYMBOL} hashes with qty > 0 (never ledger or snapshot keys); remove ghosts with `qt cleanup ghosts`'
        : atLimit ? 'the limit is really reached: close positions or raise max_open_positions (`qt policy set max_open_positions N`)'
          : 'nothing to fix: the gate did its job; raise max_open_positions if entries are refused too often',
    });
  }
  const drift = p.rows.filter((r) => r.drift);
  if (drift.length || p.exchange_only.length) {
    out.push({
      code: 'POSITION_DRIFT', severity: 'warn', subject: 'positions',
      message: `engine and exchange disagree on ${drift.length + p.exchange_only.length} symbol(s): ` +
        [...drift.map((r) => `${r.symbol} ${r.drift}`), ...p.exchange_only.map((e) => `${e.symbol} only on the exchange (${e.side} ${e.qty})`)].slice(0, 4).join('; '),
      evidence: { drift: drift.map((r) => ({ symbol: r.symbol, side: r.side, qty: r.qty, snapshot: r.snapshot, drift: r.drift })), exchange_only: p.exchange_only },
      fix: 'run the reconciler (QT_RECONCILE_POLICY=report|adopt|close) and check the exchange account; never edit position keys by hand',
    });
  }
  return out;
}

/** The largest position count a limit rejection reported (`open N >= limit`, `(N/L)`), or null. */
function reportedCounts(snap: PipelineSnapshot, example: string): number | null {
  let max: number | null = null;
  const details = [example, ...snap.rejections.latest.filter((r) => r.reason === 'position_limit_reached').map((r) => r.detail)];
  for (const d of details) {
    const m = /\bopen (\d+)\s*>=\s*limit\b/.exec(d) ?? /\((\d+)\s*\/\s*\d+\)/.exec(d);
    if (m) max = Math.max(max ?? 0, Number(m[1]));
  }
  return max;
}

function countReason(snap: PipelineSnapshot, reason: string): { count: number; detail: string } {
  let count = 0;
  let detail = '';
  for (const s of snap.stages) for (const r of s.top_reasons) if (r.reason === reason) {
    count += r.count;
    detail ||= r.example?.detail ?? '';
  }
  if (count === 0) {
    const l = snap.rejections.latest.filter((r) => r.reason === reason);
    count = l.length;
    detail = l[0]?.detail ?? '';
  }
  return { count, detail };
}

function miscFindings(snap: PipelineSnapshot): Finding[] {
  const out: Finding[] = [];
  const auth: { where: string; text: string }[] = [];
  for (const s of snap.services) for (const t of [s.last_error, s.detail]) if (t && AUTH_RE.test(t)) auth.push({ where: `service ${s.service}`, text: t });
  for (const r of snap.rejections.latest) if (r.reason === 'auth_failed' || AUTH_RE.test(r.detail)) auth.push({ where: `stage ${r.stage} (${r.reason})`, text: r.detail });
  const authCount = countReason(snap, 'auth_failed').count;
  if (auth.length || authCount) {
    out.push({
      code: 'EXCHANGE_AUTH_FAILED', severity: 'crit', subject: [...new Set(auth.map((a) => a.where.split(' ')[1]))].join(', ') || 'exchange',
      message: `the exchange refused the credentials: ${auth[0]?.text ?? `${authCount} auth_failed rejections`}`,
      evidence: { rejections_auth_failed: authCount, sources: auth.slice(0, 5) },
      fix: 'check BINANCE_API_KEY/SECRET (or their _FILE), that the key is for this environment (demo vs live), has futures permission and the server IP is allowed; then restart the services',
    });
  }
  const deadN = Math.max(snap.dead_letters.count_in_window, snap.stages.reduce((a, s) => a + s.dead, 0));
  if (deadN > 0) {
    const trim = deadLetterTrim(snap.streams.find((s) => s.stream === 'dead.letter'), deadN);
    out.push({
      code: 'DEAD_LETTERS', severity: 'warn', subject: 'dead.letter',
      message: `${deadN} message(s) dead-lettered in the last ${fmtAge(snap.window_s)}` + (snap.dead_letters.latest[0] ? `, latest: ${snap.dead_letters.latest[0].error}` : '') +
        (trim.trimmed_in_window > 0 ? `; dead letters are trimmed faster than they are read: at least ${trim.trimmed_in_window} of this window's are no longer in dead.letter (it keeps the newest ~${trim.length}; the counts in the metrics are exact)` : ''),
      evidence: { count: deadN, latest: snap.dead_letters.latest.slice(0, 3), ...trim },
      fix: 'read them (XREVRANGE dead.letter + - COUNT 10): a producer writes messages its consumer cannot read, or poison messages were set aside' +
        (trim.trimmed_in_window > 0 ? '; the stream keeps only the newest QT_TOOL_STREAM_MAXLEN: fix the producer first, or raise QT_TOOL_STREAM_MAXLEN to keep more of them' : ''),
    });
  }
  for (const w of snap.redis.warnings) {
    out.push({
      code: 'REDIS_CONFIG', severity: /too old/.test(w) ? 'crit' : 'warn', subject: 'redis',
      message: w, evidence: { version: snap.redis.version, maxmemory_policy: snap.redis.maxmemory_policy },
      fix: /too old/.test(w) ? 'upgrade Redis to 6.2 or newer' : 'CONFIG SET maxmemory-policy noeviction (and in redis.conf)',
    });
  }
  if (snap.kill_switch !== null) {
    out.push({
      code: 'KILL_SWITCH_ON', severity: 'warn', subject: 'kill_switch',
      message: `the kill switch is on: no new entries (${snap.kill_switch || 'no reason given'})`,
      evidence: { value: snap.kill_switch }, fix: '`qt kill-switch off` when it is safe to trade again',
    });
  }
  return out;
}
