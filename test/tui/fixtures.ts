/** Fixed read-model reports for the console's component tests. */
import type { GroupInfo, Report, StageStats, StreamInfo } from '../../src/diagnose/read-model.js';

export const NOW = 1_790_000_000_000;
const MIN = Math.floor(NOW / 60000);

function series(ins: number[], outs?: number[]): StageStats['series'] {
  return ins.map((v, i) => ({ minute: MIN - ins.length + i, in: v, out: outs?.[i] ?? v, rejected: 0 }));
}

export function stage(name: string, o: Partial<StageStats> = {}): StageStats {
  const s: StageStats = { stage: name, in: 0, out: 0, rejected: 0, dead: 0, errors: 0, success_rate: null, top_reasons: [], series: [], source: 'metrics', ...o };
  if (s.success_rate === null && s.in > 0) s.success_rate = s.out / s.in;
  return s;
}

export function group(name: string, o: Partial<GroupInfo> = {}): GroupInfo {
  return { group: name, consumers: 1, pending: 0, lag: 0, entries_read: 0, last_delivered_id: '0-0', consumer_details: [], oldest_pending_idle_ms: null, ...o };
}

export function stream(name: string, o: Partial<StreamInfo> = {}): StreamInfo {
  return { stream: name, key: `qt:stream:${name}`, length: 0, last_entry_ms: null, age_s: null, entries_added: 0, groups: [], known: true, stale: false, ...o };
}

/** A Redis where nothing has run yet. */
export function emptyReport(): Report {
  return {
    generated_at: NOW,
    window_s: 900,
    redis: { url: 'redis://127.0.0.1:6390/', version: '7.2.4', maxmemory_policy: 'noeviction', warnings: [] },
    prefix: 'qt',
    mode: null,
    kill_switch: null,
    policy_version: null,
    stages: [],
    streams: [],
    services: [],
    registry_known: false,
    positions: { open: 0, limit: null, position_keys: 0, ledger_keys: 0, snapshot_keys: 0, ghosts: [], rows: [], exchange_only: [], scanned_keys: 0 },
    rejections: { latest: [], total_in_window: 0 },
    dead_letters: { count_in_window: 0, latest: [] },
    funnel: [
      { step: 'signals', count: 0 },
      { step: 'intents', count: 0 },
      { step: 'plans', count: 0 },
      { step: 'approved', count: 0 },
      { step: 'executed', count: 0 },
    ],
    unknowns: [],
    commands: 12,
    status: 'ok',
    findings: [],
  };
}

/** A busy paper deployment: intent_bridge rejects most intents, the executor's group starves, BTC drifts. */
export function busyReport(): Report {
  const r = emptyReport();
  r.mode = 'PAPER';
  r.registry_known = true;
  r.policy_version = '3';
  r.stages = [
    stage('ai_engine', { in: 0, out: 180, series: series([0, 0, 0], [12, 14, 10]) }),
    stage('autonomous_trader', { in: 180, out: 90, rejected: 90, top_reasons: [{ reason: 'cooldown', count: 90 }], series: series([10, 12, 14, 11, 13]) }),
    stage('intent_bridge', {
      in: 90, out: 9, rejected: 81, series: series([2, 6, 8, 4, 9]),
      top_reasons: [
        { reason: 'invalid_quantity', count: 70, example: { detail: 'qty 0 after rounding', payload: '{"intent_id":"i-77","symbol":"BTCUSDT","qty":"0.00001"}', ref_id: 'i-77', ts: NOW - 5000 } },
        { reason: 'symbol_not_allowed', count: 11 },
      ],
    }),
    stage('apply_layer', { in: 9, out: 9, series: series([1, 2, 3]) }),
    stage('intent_executor', { in: 0, out: 0 }),
  ];
  r.streams = [
    stream('ai.signal_generated', { length: 1800, last_entry_ms: NOW - 2000, age_s: 2, groups: [group('autonomous_trader', { lag: 0, entries_read: 1800 })] }),
    stream('trade.intent', { length: 900, last_entry_ms: NOW - 3000, age_s: 3, groups: [group('intent_bridge', { pending: 4, lag: 12 })] }),
    stream('apply.plan', { length: 90, last_entry_ms: NOW - 4000, age_s: 4, groups: [group('apply_layer')] }),
    stream('apply.approved', { length: 0, groups: [group('intent_executor', { consumers: 1 })] }),
    stream('apply.approval', { key: 'qt:stream:apply.approval', known: false, length: 85, last_entry_ms: NOW - 4000, age_s: 4 }),
    stream('execution.result', { length: 40, last_entry_ms: NOW - 3_600_000, age_s: 3600, stale: true }),
  ];
  r.services = [
    { service: 'ai_engine', status: 'running', expected: true, beat_age_s: 1, last_msg_age_s: 2, processed: 1800, errors: 0, last_error: '', detail: '', mode: 'PAPER', pid: '101', host: 'box' },
    { service: 'intent_executor', status: 'silent', expected: true, beat_age_s: 2, last_msg_age_s: null, processed: 0, errors: 0, last_error: '', detail: 'input waits', mode: 'PAPER', pid: '102', host: 'box' },
    { service: 'reconciler', status: 'failed', expected: true, beat_age_s: 9, last_msg_age_s: 30, processed: 5, errors: 3, last_error: 'exchange auth failed: -2015', detail: '', mode: 'PAPER', pid: '103', host: 'box' },
    { service: 'harvest_brain', status: 'down', expected: true, beat_age_s: null, last_msg_age_s: null, processed: null, errors: null, last_error: '', detail: 'no heartbeat', mode: null, pid: null, host: null },
  ];
  r.positions = {
    open: 2, limit: 2, position_keys: 3, ledger_keys: 2, snapshot_keys: 2, scanned_keys: 9,
    ghosts: [{ key: 'qt:position:DOGEUSDT', kind: 'position', reason: 'qty is 0' }],
    rows: [
      { symbol: 'BTCUSDT', side: 'LONG', qty: 0.01, entry_price: 60000, mark_price: 61000, unrealized_pnl: 10, r_multiple: 1.7, leverage: 5, snapshot: { side: 'LONG', qty: 0.02, entry_price: 60000, mark_price: 61000, ts: NOW - 4000 }, drift: 'qty 0.01 vs exchange 0.02',
        history: [
          { ts: NOW - 60_000, side: 'SELL', qty: 0.003, price: 61200, realized_pnl: 3.6, status: 'FILLED', reduce_only: true },
          { ts: NOW - 600_000, side: 'BUY', qty: 0.013, price: 60000, realized_pnl: 0, status: 'FILLED', reduce_only: false },
        ] },
      { symbol: 'ETHUSDT', side: 'SHORT', qty: 0.5, entry_price: 3000, mark_price: 3030, unrealized_pnl: -15, r_multiple: -0.5, leverage: 3, snapshot: { side: 'SHORT', qty: 0.5, entry_price: 3000, mark_price: 3030, ts: NOW - 4000 }, drift: null },
    ],
    exchange_only: [{ symbol: 'SOLUSDT', side: 'LONG', qty: 3 }],
  };
  r.rejections = {
    total_in_window: 171,
    latest: [
      { id: `${NOW - 5000}-0`, stage: 'intent_bridge', reason: 'invalid_quantity', symbol: 'BTCUSDT', ref_id: 'i-77', detail: 'qty 0 after rounding', payload: '{"intent_id":"i-77","symbol":"BTCUSDT","qty":"0.00001","source":"legacy_trader"}', ts: NOW - 5000 },
      { id: `${NOW - 9000}-0`, stage: 'intent_bridge', reason: 'symbol_not_allowed', symbol: 'PEPEUSDT', ref_id: 'i-70', detail: 'PEPEUSDT not in allowlist', payload: '{"intent_id":"i-70","symbol":"PEPEUSDT"}', ts: NOW - 9000 },
      { id: `${NOW - 20000}-0`, stage: 'autonomous_trader', reason: 'cooldown', symbol: 'ETHUSDT', ref_id: 's-12', detail: 'cooldown 60s', payload: '{"signal_id":"s-12"}', ts: NOW - 20000 },
    ],
  };
  r.funnel = [
    { step: 'signals', count: 180 },
    { step: 'intents', count: 90 },
    { step: 'plans', count: 9 },
    { step: 'approved', count: 0 },
    { step: 'executed', count: 0 },
  ];
  r.status = 'crit';
  r.findings = [
    { code: 'SERVICES_UNKNOWN', severity: 'info', subject: 'svc:registry', message: 'registry present', evidence: {}, fix: '-' },
    { code: 'STAGE_REJECTING', severity: 'warn', subject: 'intent_bridge', message: 'intent_bridge rejects 90% of its input', evidence: { top: ['invalid_quantity'] }, fix: 'check the producer' },
    { code: 'GROUP_STARVING', severity: 'crit', subject: 'apply.approved / intent_executor', message: 'group intent_executor waits on apply.approved, which receives nothing; apply.approval has traffic', evidence: { similar: ['apply.approval'] }, fix: 'point the executor at the stream apply_layer writes' },
  ];
  return r;
}

export function liveReport(): Report {
  const r = busyReport();
  r.mode = 'LIVE';
  r.kill_switch = 'drawdown limit';
  return r;
}
