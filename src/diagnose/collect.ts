/**
 * Builds the read model (`PipelineSnapshot`) of a deployment with read-only, pipelined
 * commands: one SCAN over the prefix (COUNT 1000), one batch of hashes, sets and
 * bounded XREVRANGEs, and the stream rounds of streams.ts. Never XREADGROUP, XCLAIM,
 * XAUTOCLAIM, XINFO STREAM FULL, XPENDING IDLE or a whole-stream XRANGE, never a write.
 */
import { MODES, type Mode } from '../contract/codes.js';
import { Names, STAGES, STREAMS } from '../contract/names.js';
import { redactUrl } from '../config/redact.js';
import { collectStreams } from './streams.js';
import { defaultInputOf, serviceInfos } from './services.js';
import { policyLimit, positionsSummary } from './positions.js';
import { funnelOf, minutesOf, stagesFromMetrics, stagesFromRejections, stagesFromStreams } from './metrics.js';
import type { BlindSpot, ClusterSummary, PipelineSnapshot, RejectionExample, ReplaySummary } from './read-model.js';
import { readExchangeState } from './findings-exchange.js';
import { readProtectState } from './findings-protect.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from './thresholds.js';
import { entries, idMs, num, Reader, type Cmd, type ReadTarget } from './redis-read.js';
import { levenshtein } from './streams.js';
import { auditKeys } from './key-audit.js';
import { trendsFromMetrics } from './trend-history.js';
import { trendOptions, type TrendOptions } from './trend.js';
import { collectLeases } from './leases.js';

export interface CollectOptions {
  /** POSITION_UNPROTECTED grace period, ms (default: the thresholds' stopGraceMs, QT_STOP_GRACE_MS, 10 s). */
  stopGraceMs?: number;
  windowMs: number;
  now?: number;
  thresholds?: Thresholds;
  /** Redis URL to show (redacted here) */
  url?: string;
  /** false: leave the ghost list in scan order (a health check only counts them) */
  sortGhosts?: boolean;
  /** newest rejections read for examples (XREVRANGE COUNT) */
  rejectionSample?: number;
  /** Burrow's rule options for the trends from history (default: allowed lag 0) */
  trend?: TrendOptions;
}

function hash(v: unknown): Record<string, string> | null {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, string>) : null;
}

/**
 * The read model of the deployment under `names.prefix` on `redis`: one server, or a cluster
 * (ClusterView: every primary scanned, single-key reads sent to the owning node, and any node
 * that could not be read a `cluster` blind spot, so the verdict is never OK).
 */
export async function collectSnapshot(redis: ReadTarget, names: Names, opts: CollectOptions): Promise<PipelineSnapshot> {
  const now = opts.now ?? Date.now();
  const th = opts.thresholds ?? DEFAULT_THRESHOLDS;
  const rd = new Reader(redis);
  const unknowns: string[] = [];
  const p = names.prefix;

  // 1. every key under the prefix, with `qty` of every position and snapshot key
  // (key-audit.ts); alongside, what needs no key list: the contract's streams (their
  // rounds), Redis's own facts, the registry, the policy, and the newest rejections,
  // dead letters and fills.
  const sample = opts.rejectionSample ?? 500;
  const fixed: Cmd[] = [
    ['info', 'server'],
    ['info', 'memory'],
    ['exists', names.registry()],
    ['smembers', names.registry()],
    ['hgetall', names.policy()],
    ['get', names.killSwitch()],
    ['xrevrange', names.stream('stage.rejected'), '+', '-', 'COUNT', sample],
    ['xrevrange', names.stream('dead.letter'), '+', '-', 'COUNT', 200],
    ['xrevrange', names.stream('execution.result'), '+', '-', 'COUNT', 200],
    ['get', names.replayReport()],
  ];
  const contractStreams = STREAMS.map((s) => ({ key: names.stream(s), name: s as string, known: true }));
  const [audit, contractRes, fixedR] = await Promise.all([
    auditKeys(rd, names),
    collectStreams(rd, contractStreams, now, th.staleMs),
    rd.batch(fixed),
  ]);
  const { posKeys } = audit;
  const seenStreams = new Set(contractStreams.map((k) => k.key));
  const extraStreams: { key: string; name: string; known: boolean }[] = [];
  const svcKeys: string[] = [];
  const leaseKeys: string[] = [];
  const metricKeys = new Set<string>();
  for (const k of audit.others) {
    if (names.isStreamKey(k)) {
      if (!seenStreams.has(k)) {
        seenStreams.add(k);
        extraStreams.push({ key: k, name: names.shortStreamName(k), known: false });
      }
    } else if (names.serviceNameOf(k)) svcKeys.push(k);
    else if (names.isMetricsKey(k)) metricKeys.add(k);
    else if (names.leaseStageOf(k)) leaseKeys.push(k);
  }
  // A service that registered while the key scan ran is in the registry but its heartbeat
  // key was not listed (registry and heartbeat are written together): read it as well.
  const members = fixedR[3]?.val;
  if (Array.isArray(members)) {
    for (const m of members) {
      const k = names.service(String(m));
      if (!svcKeys.includes(k)) svcKeys.push(k);
    }
  }

  // 2. what the key list found: streams outside the contract, heartbeats, and the
  // per-minute metrics hashes of the window (no command for a minute without one)
  const minutes = minutesOf(now, opts.windowMs);
  const stageNames = [...new Set<string>([...STAGES, ...svcKeys.map((k) => names.serviceNameOf(k)!)])];
  const cmds: Cmd[] = [...fixed, ...svcKeys.map((k): Cmd => ['hgetall', k])];
  const metricSlots = new Map<string, (number | null)[]>();
  for (const s of stageNames) {
    metricSlots.set(s, minutes.map((m) => {
      const k = names.metrics(s, m);
      if (!metricKeys.has(k)) return null;
      cmds.push(['hgetall', k]);
      return cmds.length - 1;
    }));
  }
  const [extraRes, rest, leases] = await Promise.all([
    extraStreams.length ? collectStreams(rd, extraStreams, now, th.staleMs) : Promise.resolve(null),
    rd.batch(cmds.slice(fixed.length)),
    collectLeases(rd, names, leaseKeys),
  ]);
  const streamsRes = {
    streams: [...contractRes.streams, ...(extraRes?.streams ?? [])],
    unknowns: [...contractRes.unknowns, ...(extraRes?.unknowns ?? [])],
  };
  const r = [...fixedR, ...rest];
  const qtys = audit.qtys;
  unknowns.push(...streamsRes.unknowns);
  const [infoS, infoM, regExists, regMembers, policyR, killR, rejR, deadR, fillsR, replayR] = r;
  let i = fixed.length;

  // Redis preflight
  const info = typeof infoS!.val === 'string' ? infoS!.val : '';
  const version = /redis_version:([^\r\n]+)/.exec(info)?.[1]?.trim() ?? 'unknown';
  const policyMem = typeof infoM!.val === 'string' ? (/maxmemory_policy:([^\r\n]+)/.exec(infoM!.val)?.[1]?.trim() ?? null) : null;
  const warnings: string[] = [];
  if (infoS!.err) unknowns.push(`Redis version: INFO denied (${infoS!.err.message.split('\n')[0]})`);
  else {
    const [maj, min] = version.split('.').map(Number);
    if (!(maj! > 6 || (maj === 6 && min! >= 2))) warnings.push(`Redis ${version} is too old: qt needs Redis >= 6.2 (XAUTOCLAIM)`);
  }
  if (rd.cluster) {
    // on a cluster INFO answers for one node: every primary's policy, each named
    for (const [node, policy] of await clusterPolicies(rd)) {
      if (policy && policy !== 'noeviction') warnings.push(`maxmemory-policy is ${policy} on ${node}: Redis may evict stream entries and keys under memory pressure; set it to noeviction`);
    }
  } else if (policyMem && policyMem !== 'noeviction') warnings.push(`maxmemory-policy is ${policyMem}: Redis may evict stream entries and keys under memory pressure; set it to noeviction`);

  // services
  const beats = new Map<string, Record<string, string>>();
  for (const k of svcKeys) {
    const h = hash(r[i++]!.val);
    if (h && Object.keys(h).length) beats.set(names.serviceNameOf(k)!, h);
  }
  const registryKnown = !regExists!.err && Number(regExists!.val) === 1;
  const registry = registryKnown && Array.isArray(regMembers!.val) ? (regMembers!.val as string[]).map(String) : null;
  if (!registryKnown) unknowns.push(`expected services: no ${names.registry()} set (a deployment that is not ours?), so a service that never started cannot be seen`);
  if (beats.size === 0) unknowns.push(`services: no heartbeat keys (${names.servicePattern()}): service health unknown`);
  const services = serviceInfos(beats, registry, streamsRes.streams, defaultInputOf, now, th.silentMs);

  // positions
  // Round 2: whole hashes only where they matter: open positions, snapshots that are not
  // zero, and keys without a qty (to tell a ghost from a key deleted meanwhile).
  const posHashes = new Map<string, Record<string, string>>();
  const whole: string[] = [];
  posKeys.forEach((k, j) => {
    const q = qtys[j];
    if (q === null || q === undefined) whole.push(k);
    else if (Number(q) !== 0) whole.push(k);
    else posHashes.set(k, { qty: String(q) });
  });
  // A non-zero snapshot with no open position is drift, unless the engine changed that
  // symbol after the snapshot was taken (its ledger's updated_at): read those ledgers too.
  const openSyms = new Set(whole.map((k) => names.classifyPositionKey(k)).filter((c) => c?.kind === 'position').map((c) => c!.symbol));
  const ledgerAsk = whole.map((k) => names.classifyPositionKey(k)).filter((c) => c?.kind === 'snapshot' && !openSyms.has(c.symbol)).map((c) => names.ledger(c!.symbol));
  const wholeR = await rd.batch([...whole.map((k): Cmd => ['hgetall', k]), ...ledgerAsk.map((k): Cmd => ['hget', k, 'updated_at'])]);
  whole.forEach((k, j) => {
    const h = hash(wholeR[j]!.val);
    if (h && Object.keys(h).length) posHashes.set(k, h);
  });
  const ledgerUpdated = new Map<string, number>();
  ledgerAsk.forEach((k, j) => {
    const v = num(wholeR[whole.length + j]!.val as string | null | undefined);
    if (v !== null && v !== undefined) ledgerUpdated.set(k, v);
  });
  const policy = hash(policyR!.val);
  const limit = policyLimit(policy && Object.keys(policy).length ? policy : null);
  if (limit === null) unknowns.push(`position limit: no ${names.policy()} hash with max_open_positions`);
  const positions = positionsSummary(names, posHashes, limit, ledgerUpdated, audit.ledgerCount, opts.sortGhosts ?? true);
  // each open position's latest fills (one bounded read of execution.result)
  for (const e of entries(fillsR!.val)) {
    const row = positions.rows.find((x) => x.symbol === e.fields.symbol);
    if (!row) continue;
    row.history ??= [];
    if (row.history.length >= 10) continue;
    row.history.push({
      ts: num(e.fields.ts) ?? idMs(e.id, now) ?? 0, side: e.fields.side ?? '', qty: num(e.fields.qty) ?? 0, price: num(e.fields.price) ?? 0,
      realized_pnl: num(e.fields.realized_pnl) ?? 0, status: e.fields.status ?? '', reduce_only: e.fields.reduceOnly === 'true',
    });
  }

  // rejections and dead letters in the window
  const from = now - opts.windowMs;
  const tsOf = (f: Record<string, string>, id: string) => num(f.ts) ?? idMs(id, now) ?? 0;
  const rejAll = entries(rejR!.val).map((e): RejectionExample => ({
    id: e.id, stage: e.fields.stage ?? '', reason: e.fields.reason ?? '', symbol: e.fields.symbol ?? '',
    ref_id: e.fields.ref_id ?? '', detail: e.fields.detail ?? '', payload: e.fields.payload ?? '', ts: tsOf(e.fields, e.id),
  }));
  const rejections = rejAll.filter((x) => x.ts >= from);
  if (rejAll.length === sample && rejections.length === sample) unknowns.push(`rejections: only the newest ${sample} entries of stage.rejected were read for examples`);
  const deadAll = entries(deadR!.val).map((e) => ({
    id: e.id, stage: e.fields.stage ?? '', stream: e.fields.stream ?? '', entry_id: e.fields.entry_id ?? '', error: e.fields.error ?? '', ts: tsOf(e.fields, e.id),
  }));
  const dead = deadAll.filter((x) => x.ts >= from);

  // stage numbers
  const metricHashes = new Map<string, (Record<string, string> | null)[]>();
  for (const s of stageNames) metricHashes.set(s, metricSlots.get(s)!.map((at) => (at === null ? null : hash(r[at]!.val))));
  const stages = stagesFromMetrics(metricHashes, minutes, rejections);
  const have = new Set(stages.map((s) => s.stage));
  if (stages.length === 0) {
    unknowns.push(`stage numbers: no metrics hashes (${names.metricsPattern()}) in the window; in/out derived from stream lengths and group counters (lifetime, not the window)`);
    stages.push(...stagesFromStreams(streamsRes.streams));
  }
  for (const s of stagesFromRejections(rejections, have, streamsRes.streams)) {
    const at = stages.findIndex((x) => x.stage === s.stage);
    if (at >= 0) stages[at] = { ...stages[at]!, rejected: s.rejected, top_reasons: s.top_reasons, in: Math.max(stages[at]!.in, s.in), ...(s.expired ? { expired: s.expired } : {}) };
    else stages.push(s);
  }
  stages.sort((a, b) => order(a.stage) - order(b.stage));
  // each of our groups' trend from the engine's per-minute position records (trend-history.ts)
  const trends = trendsFromMetrics(metricHashes, streamsRes.streams, now, opts.trend ?? trendOptions());

  const exchange = await readExchangeState(rd, names);
  // each open position's protective stop (findings-protect.ts)
  const openHashes = new Map<string, Record<string, string>>();
  for (const row of positions.rows) {
    const h = posHashes.get(names.position(row.symbol));
    if (h) openHashes.set(row.symbol, h);
  }
  const protect = await readProtectState(rd, names, openHashes, opts.stopGraceMs ?? th.stopGraceMs ?? 10_000);
  exchange.host = [...beats.values()].map((h) => h.exchange_host).find((h) => !!h) ?? null;
  for (const c of rd.denied) unknowns.push(`${c}: denied by this Redis user's ACL`);
  const blind: BlindSpot[] = [];
  if (audit.others.length === 0 && audit.posKeys.length === 0 && audit.ledgerCount === 0) blind.push(await nothingUnder(rd, names));
  if (rd.denied.size) blind.push(deniedSpot(rd, names));
  if (rd.unreachable.size) {
    const what = [...rd.unreachable];
    unknowns.push(...what.map((w) => `cluster node not read: ${w}`));
    blind.push({
      what: 'cluster',
      detail: `part of the Redis cluster could not be read (${what.slice(0, 3).join('; ')}${what.length > 3 ? `; ${what.length - 3} more` : ''}): keys on that node are unknown`,
      fix: 'check that every primary runs and answers (redis-cli -c -h <node> CLUSTER INFO: cluster_state:ok), and that this host reaches the addresses the nodes announce',
    });
  }
  const modes = [...beats.values()].map((h) => String(h.mode ?? '').toUpperCase()).filter((m): m is Mode => (MODES as readonly string[]).includes(m));

  return {
    generated_at: now,
    window_s: Math.round(opts.windowMs / 1000),
    redis: { url: opts.url ? redactUrl(opts.url) : '', version, maxmemory_policy: policyMem, warnings },
    prefix: p,
    mode: modes[0] ?? null,
    kill_switch: typeof killR!.val === 'string' ? killR!.val : null,
    policy_version: policy?.version ?? null,
    stages,
    streams: streamsRes.streams.sort((a, b) => order2(a.stream) - order2(b.stream) || a.stream.localeCompare(b.stream)),
    services,
    registry_known: registryKnown,
    positions,
    protect,
    rejections: { latest: examplesOf(rejections), total_in_window: rejections.length },
    dead_letters: { count_in_window: dead.length, latest: dead.slice(0, 20) },
    funnel: funnelOf(stages, streamsRes.streams),
    leases,
    unknowns: [...new Set(unknowns)],
    commands: rd.commands,
    replay: parseReplayReport(replayR?.val),
    ...(trends.length ? { trends } : {}),
    ...(rd.cluster ? { cluster: clusterSummary(rd) } : {}),
    blind_spots: blind,
    exchange,
  };
}

/** SCAN pages (COUNT 1000) read at most when looking for other prefixes that hold streams. */
export const PREFIX_SCAN_PAGES = 200;

/**
 * Nothing at all under the prefix: unknown, never OK. Names the prefixes of this Redis that
 * do hold streams (the stream keys of every prefix (Names.anyStreamPattern), SCAN … TYPE stream, at most PREFIX_SCAN_PAGES pages), closest
 * first, so a typo (`quantom`) gets "did you mean `quantum`?".
 */
async function nothingUnder(rd: Reader, names: Names): Promise<BlindSpot> {
  const counts = new Map<string, number>();
  const { keys, complete } = await rd.scanTyped(Names.anyStreamPattern(), 'stream', PREFIX_SCAN_PAGES);
  for (const k of keys) {
    const p = Names.prefixOfStreamKey(k);
    if (p) counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  const want = names.prefix.toLowerCase();
  const found = [...counts.keys()].sort((a, b) => levenshtein(want, a.toLowerCase()) - levenshtein(want, b.toLowerCase()) || (counts.get(b)! - counts.get(a)!));
  const best = found[0];
  const close = best !== undefined && levenshtein(want, best.toLowerCase()) <= Math.max(2, Math.floor(want.length / 3));
  return {
    what: 'prefix',
    detail: `nothing exists under the prefix ${names.prefix} (no key matches ${names.keyPattern()})` +
      (found.length ? `; prefixes with streams here: ${found.slice(0, 5).map((p) => `${p} (${counts.get(p)} streams)`).join(', ')}${close ? ` — did you mean \`${best}\`?` : ''}`
        : complete ? '; this Redis (this database) holds no stream at all' : '') +
      (complete ? '' : ` (looked at the first ${PREFIX_SCAN_PAGES * 1000} keys only)`),
    fix: found.length ? `set QT_PREFIX (or --prefix) to the deployment's prefix${close ? `: --prefix ${best}` : ''}` : 'point REDIS_URL (or --redis-url) at the Redis (and database) the pipeline uses, or start the pipeline',
    prefixes_with_streams: found.slice(0, 10),
  };
}

/** `maxmemory_policy` of every primary (INFO memory on each; a node that fails is unreachable). */
async function clusterPolicies(rd: Reader): Promise<[string, string | null][]> {
  return Promise.all(rd.cluster!.primaries.map(async (node): Promise<[string, string | null]> => {
    try {
      rd.commands++;
      const info = await rd.cluster!.node(node).info('memory');
      return [node, /maxmemory_policy:([^\r\n]+)/.exec(info)?.[1]?.trim() ?? null];
    } catch (e) {
      if (!/NOPERM|unknown command/i.test(String(e))) rd.unreachable.add(`${node}: INFO failed (${String((e as Error)?.message ?? e).split('\n')[0]})`);
      return [node, null];
    }
  }));
}

/** Which primary serves what: slots, and keys under the prefix found on it (SCAN per node). */
function clusterSummary(rd: Reader): ClusterSummary {
  const c = rd.cluster!;
  const down = [...rd.unreachable].map((u) => u.split(': ')[0]);
  return {
    primaries: c.primaries.map((node) => ({ node, slots: c.slotsOf(node), keys: rd.keysPerNode.get(node) ?? null, readable: !down.includes(node) })),
  };
}

/** What this user may not read: the ACL rule it lacks (a key pattern, or the commands). */
function deniedSpot(rd: Reader, names: Names): BlindSpot {
  const keys = [...rd.deniedKeys];
  const cmds = [...rd.denied].filter((c) => !rd.deniedKeys.has(c));
  const rule = keys.length ? names.readRule() : undefined;
  return {
    what: 'acl',
    detail: [
      keys.length ? `this Redis user may not read the keys under ${names.prefix} (NOPERM on ${keys.join(', ')})` : '',
      cmds.length ? `this Redis user may not run ${cmds.join(', ')} (NOPERM)` : '',
    ].filter(Boolean).join('; ') + ': what those commands would show is unknown (positions, streams, services)',
    fix: `grant it: ACL SETUSER <user> ${[rule, ...cmds.map((c) => `+${c.toLowerCase()}`)].filter(Boolean).join(' ')}` +
      ` (a read-only monitor: resetkeys ${names.readRule()} -@all +@read -@dangerous +info +ping +client|setname)`,
    ...(rule ? { acl_rule: rule } : {}),
  };
}

/** The stored replay report (`{prefix}:replay:report`), or null when none or unreadable. */
function parseReplayReport(v: unknown): ReplaySummary | null {
  if (typeof v !== 'string') return null;
  try {
    const o = JSON.parse(v) as ReplaySummary;
    return o && typeof o === 'object' && Array.isArray(o.symbols) ? o : null;
  } catch {
    return null;
  }
}

function order(stage: string): number {
  const i = (STAGES as readonly string[]).indexOf(stage);
  return i < 0 ? 100 : i;
}
function order2(stream: string): number {
  const i = (STREAMS as readonly string[]).indexOf(stream as never);
  return i < 0 ? 100 : i;
}

/** The newest 50 rejections, plus up to 10 of each (stage, reason) so every reason keeps examples. */
function examplesOf(list: RejectionExample[]): RejectionExample[] {
  const keep = new Set(list.slice(0, 50));
  const per = new Map<string, number>();
  for (const r of list) {
    const k = `${r.stage}\u0000${r.reason}`;
    const n = per.get(k) ?? 0;
    if (n < 10) keep.add(r);
    per.set(k, n + 1);
  }
  return list.filter((r) => keep.has(r));
}
