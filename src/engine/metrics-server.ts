/**
 * Prometheus metrics for `qt up --metrics-port N` (docs/metrics.md). Its own prom-client
 * Registry, filled at scrape time: the stage series from each runner's totals (counters
 * exposed as the runner's monotone totals), the pipeline series from one bounded,
 * pipelined read of Redis (XINFO STREAM / XINFO GROUPS per contract stream, the service
 * registry and heartbeats, a capped SCAN of position keys). Loopback by default.
 */
import { UsageError } from '../errors.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import { STREAMS, type Names } from '../contract/names.js';
import { VERSION } from '../version.js';
import { INSTRUMENTS } from './metrics-instruments.js';
import { judgeLag } from '../diagnose/lag.js';
import type { StageRunner } from './runtime/stage-runner.js';

export interface MetricsServerOptions {
  port: number;
  /** Default 127.0.0.1; use 0.0.0.0 or :: only behind a firewall. */
  host?: string;
  runners: StageRunner[];
  redis: Redis;
  names: Names;
  mode: string;
  /** Upper bound of the Redis read per scrape (default 2000 ms). */
  redisTimeoutMs?: number;
  /** Max position keys looked at per scrape (default 5000). */
  maxPositionKeys?: number;
}

export interface MetricsServer {
  close(): Promise<void>;
  url: string;
}

const OUTCOMES = ['in', 'out', 'rejected', 'dead', 'error'] as const;

/** A flat XINFO reply `[k, v, k, v …]` as a map; tolerates unknown fields. */
function asMap(reply: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) m.set(String(reply[i]), reply[i + 1]);
  return m;
}
const num = (v: unknown): number | undefined => {
  if (v === null || v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};
/** The millisecond part of a stream id (meaningful for auto-generated ids only). */
const idMs = (id: unknown): number | undefined => {
  const ms = num(String(id ?? '').split('-')[0]);
  return ms && ms > 0 ? ms : undefined;
};

interface StreamView {
  stream: string;
  length: number;
  lastMs?: number;
  entriesAdded?: number;
  groups: { group: string; consumers: number; pending: number; lag?: number; entriesRead?: number }[];
}
interface RedisView {
  streams: StreamView[];
  services: { service: string; beatAt?: number; status?: string }[];
  positions: { open: number; keys: Record<'position' | 'ledger' | 'snapshot', number>; ghosts: number; drift?: number; scanComplete: boolean };
  limit?: number;
  killSwitch: boolean;
}

async function readRedis(redis: Redis, names: Names, maxKeys: number, deadline: number): Promise<RedisView> {
  const keys = STREAMS.map((s) => names.stream(s));
  const p = redis.pipeline();
  for (const k of keys) {
    p.xinfo('STREAM', k);
    p.xinfo('GROUPS', k);
  }
  p.smembers(names.registry());
  p.hget(names.policy(), 'max_open_positions');
  p.exists(names.killSwitch());
  const res = (await p.exec()) ?? [];
  const streams: StreamView[] = [];
  keys.forEach((k, i) => {
    const [errS, info] = res[2 * i] ?? [];
    if (errS) return; // no such stream
    const s = asMap(info);
    const first = s.get('first-entry');
    const groups = ((res[2 * i + 1]?.[1] as unknown[]) ?? []).map((g) => {
      const m = asMap(g);
      // Redis's lag checked against its invariants (src/diagnose/lag.ts) without a range
      // read: a figure in doubt (null, negative, stale after XDEL/XTRIM) gets no sample.
      const check = judgeLag({
        length: num(s.get('length')) ?? 0, entries_added: num(s.get('entries-added')) ?? null,
        last_generated_id: String(s.get('last-generated-id') ?? ''), first_entry_id: Array.isArray(first) ? String(first[0]) : '',
        max_deleted_entry_id: String(s.get('max-deleted-entry-id') ?? ''), last_delivered_id: String(m.get('last-delivered-id') ?? ''),
        lag: num(m.get('lag')) ?? null, entries_read: num(m.get('entries-read')) ?? null, has_lag_field: m.has('lag'),
      });
      return {
        group: String(m.get('name')),
        consumers: num(m.get('consumers')) ?? 0,
        pending: num(m.get('pending')) ?? 0,
        lag: check.value ?? undefined,
        entriesRead: check.corrupt ? undefined : num(m.get('entries-read')),
      };
    });
    streams.push({
      stream: names.shortStreamName(k),
      length: num(s.get('length')) ?? 0,
      lastMs: idMs(s.get('last-generated-id')),
      entriesAdded: num(s.get('entries-added')),
      groups,
    });
  });
  const base = 2 * keys.length;
  const registry = ((res[base]?.[1] as string[]) ?? []).slice(0, 500).sort();
  const limit = num(res[base + 1]?.[1]);
  const killSwitch = Number(res[base + 2]?.[1]) > 0;

  const hb = redis.pipeline();
  for (const s of registry) hb.hmget(names.service(s), 'beat_at', 'status');
  const hbRes = registry.length ? ((await hb.exec()) ?? []) : [];
  const services = registry.map((service, i) => {
    const [beatAt, status] = (hbRes[i]?.[1] as (string | null)[]) ?? [];
    return { service, beatAt: num(beatAt), status: status ?? undefined };
  });
  return { streams, services, positions: await readPositions(redis, names, maxKeys, deadline), limit, killSwitch };
}

/** Open positions, keys by kind, ghosts and drift, from a SCAN capped at `maxKeys`. */
async function readPositions(redis: Redis, names: Names, maxKeys: number, deadline: number): Promise<RedisView['positions']> {
  const found: { key: string; kind: 'position' | 'ledger' | 'snapshot'; symbol: string }[] = [];
  let cursor = '0';
  let rounds = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', names.positionPattern(), 'COUNT', 1000);
    cursor = next;
    for (const key of batch) {
      const c = names.classifyPositionKey(key);
      if (c) found.push({ key, ...c });
    }
  } while (cursor !== '0' && found.length < maxKeys && ++rounds < 200 && Date.now() < deadline);
  const keys = { position: 0, ledger: 0, snapshot: 0 };
  for (const f of found) keys[f.kind]++;
  const read = found.filter((f) => f.kind !== 'ledger').slice(0, maxKeys);
  const p = redis.pipeline();
  for (const f of read) p.hmget(f.key, 'qty', 'side');
  const res = read.length ? ((await p.exec()) ?? []) : [];
  const engine = new Map<string, { qty: number; side: string }>();
  const exch = new Map<string, { qty: number; side: string }>();
  let ghosts = 0;
  read.forEach((f, i) => {
    const [qtyS, side] = (res[i]?.[1] as (string | null)[]) ?? [];
    const qty = Number(qtyS);
    if (f.kind === 'position') {
      if (qtyS === null || qtyS === undefined || qtyS === '' || !Number.isFinite(qty) || qty <= 0) ghosts++;
      else engine.set(f.symbol, { qty, side: String(side ?? '') });
    } else {
      if (qtyS !== null && qtyS !== undefined && qtyS !== '' && qty === 0) ghosts++;
      exch.set(f.symbol, { qty: Number.isFinite(qty) ? Math.abs(qty) : 0, side: String(side ?? '') });
    }
  });
  let drift: number | undefined;
  if (exch.size > 0) {
    // Only where the exchange's view is known: symbols with a snapshot, or an engine position.
    drift = 0;
    for (const sym of new Set([...engine.keys(), ...exch.keys()])) {
      const e = engine.get(sym);
      const x = exch.get(sym);
      const eq = e?.qty ?? 0;
      const xq = x?.qty ?? 0;
      if (eq === 0 && xq === 0) continue;
      const sameQty = Math.abs(eq - xq) <= 1e-9 * Math.max(eq, xq, 1);
      const sameSide = !e || !x || !x.side || e.side.toUpperCase() === x.side.toUpperCase();
      if (!sameQty || !sameSide) drift++;
    }
  }
  return { open: engine.size, keys, ghosts, drift, scanComplete: cursor === '0' };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`redis read took over ${ms} ms`)), ms);
    }),
  ]);
}

/** Builds the registry and a `refresh()` that fills it for one scrape. */
export function createMetrics(o: Omit<MetricsServerOptions, 'port' | 'host'>) {
  const registry = new Registry();
  const r = [registry];
  const counter = (name: string, help: string, labelNames: string[]) => new Counter({ name, help, labelNames, registers: r });
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: r });

  const messages = counter('qt_stage_messages_total', 'messages a stage handled since this process started, by outcome (in = taken; out, rejected, dead, error)', ['stage', 'outcome']);
  const rejections = counter('qt_stage_rejections_total', 'rejections by reason code since this process started', ['stage', 'reason']);
  const stageStatus = gauge('qt_stage_status', '1 for the status the stage reports in its heartbeat', ['stage', 'status']);
  const lastMsgAge = gauge('qt_stage_last_message_age_seconds', 'seconds since the stage last took a message', ['stage']);
  const info = gauge('qt_engine_info', 'constant 1: the engine\'s mode and version', ['mode', 'version']);
  const redisUp = gauge('qt_redis_up', '1 when this scrape could read Redis');
  const scrapeSecs = gauge('qt_metrics_scrape_duration_seconds', 'time to read Redis for this scrape');
  const streamLen = gauge('qt_stream_length', 'XLEN of the stream', ['stream']);
  const streamAdded = counter('qt_stream_entries_added_total', 'entries ever added to the stream (Redis ≥ 7.0)', ['stream']);
  const streamLastTs = gauge('qt_stream_last_entry_timestamp_seconds', 'time of the newest entry (from its auto-generated id)', ['stream']);
  const groupLag = gauge('qt_group_lag', 'entries not yet delivered to the group, checked against Redis\'s invariants (absent when in doubt)', ['stream', 'group']);
  const groupPending = gauge('qt_group_pending', 'entries delivered but not acknowledged', ['stream', 'group']);
  const groupConsumers = gauge('qt_group_consumers', 'consumers known to the group', ['stream', 'group']);
  const groupRead = gauge('qt_group_entries_read', 'entries the group has read (Redis ≥ 7.0)', ['stream', 'group']);
  const svcUp = gauge('qt_service_up', '1 when the registered service has a live heartbeat', ['service']);
  const svcAge = gauge('qt_service_heartbeat_age_seconds', 'seconds since the service\'s last heartbeat', ['service']);
  const svcStatus = gauge('qt_service_status', '1 for the status in the service\'s heartbeat', ['service', 'status']);
  const posOpen = gauge('qt_positions_open', 'open positions (position hashes with qty > 0; never ledger or snapshot keys)');
  const posLimit = gauge('qt_positions_limit', 'max_open_positions of the current policy');
  const posKeys = gauge('qt_position_keys', 'position:* keys by kind', ['kind']);
  const ghosts = gauge('qt_position_ghost_keys', 'ghost position/snapshot keys (contract §2)');
  const drift = gauge('qt_position_drift_symbols', 'symbols where engine position and exchange snapshot disagree (absent without snapshots)');
  const scanDone = gauge('qt_position_scan_complete', '1 when the SCAN of position keys finished within its bounds (else the position series are partial)');
  const killSwitch = gauge('qt_kill_switch', '1 when the kill switch is on (no new entries)');

  // Timings of stages/exchange wrapped with instrumentStage/instrumentExchange (empty otherwise).
  for (const m of INSTRUMENTS) registry.registerMetric(m as Metric);
  info.set({ mode: o.mode, version: VERSION }, 1);
  const timeoutMs = o.redisTimeoutMs ?? 2000;
  const maxKeys = o.maxPositionKeys ?? 5000;

  function fillStages(now: number): void {
    messages.reset();
    rejections.reset();
    stageStatus.reset();
    lastMsgAge.reset();
    for (const run of o.runners) {
      const stage = run.stage.name;
      const t = run.totals;
      const v = { in: t.in, out: t.out, rejected: t.rejected, dead: t.dead, error: t.errors };
      for (const outcome of OUTCOMES) messages.inc({ stage, outcome }, v[outcome]);
      for (const [reason, n] of Object.entries(t.reasons)) rejections.inc({ stage, reason }, n);
      stageStatus.set({ stage, status: run.hb.status }, 1);
      if (run.hb.lastMsgAt > 0) lastMsgAge.set({ stage }, Math.max(0, (now - run.hb.lastMsgAt) / 1000));
    }
  }

  function fillRedis(v: RedisView, now: number): void {
    for (const s of v.streams) {
      streamLen.set({ stream: s.stream }, s.length);
      if (s.entriesAdded !== undefined) streamAdded.inc({ stream: s.stream }, s.entriesAdded);
      if (s.lastMs !== undefined) streamLastTs.set({ stream: s.stream }, s.lastMs / 1000);
      for (const g of s.groups) {
        const l = { stream: s.stream, group: g.group };
        groupPending.set(l, g.pending);
        groupConsumers.set(l, g.consumers);
        if (g.lag !== undefined) groupLag.set(l, g.lag);
        if (g.entriesRead !== undefined) groupRead.set(l, g.entriesRead);
      }
    }
    for (const s of v.services) {
      // the kept last beat of a clean stop (status stopping) is not a live service
      const live = s.beatAt !== undefined && s.status !== 'stopping';
      svcUp.set({ service: s.service }, live ? 1 : 0);
      if (s.beatAt !== undefined) svcAge.set({ service: s.service }, Math.max(0, (now - s.beatAt!) / 1000));
      if (s.status) svcStatus.set({ service: s.service, status: s.status }, 1);
    }
    posOpen.set(v.positions.open);
    for (const [kind, n] of Object.entries(v.positions.keys)) posKeys.set({ kind }, n);
    ghosts.set(v.positions.ghosts);
    scanDone.set(v.positions.scanComplete ? 1 : 0);
    if (v.positions.drift !== undefined) drift.set(v.positions.drift);
    if (v.limit !== undefined) posLimit.set(v.limit);
    killSwitch.set(v.killSwitch ? 1 : 0);
  }

  const redisGauges = [streamLen, streamAdded, streamLastTs, groupLag, groupPending, groupConsumers, groupRead,
    svcUp, svcAge, svcStatus, posOpen, posLimit, posKeys, ghosts, drift, scanDone, killSwitch];

  let chain: Promise<unknown> = Promise.resolve();
  /** One scrape: fill everything, then render. Scrapes are serialised. */
  function render(): Promise<string> {
    const next = chain.then(async () => {
      const t0 = Date.now();
      fillStages(t0);
      for (const g of redisGauges) g.reset();
      let up = 0;
      if (o.redis.status === 'ready') {
        try {
          fillRedis(await withTimeout(readRedis(o.redis, o.names, maxKeys, t0 + timeoutMs / 2), timeoutMs), Date.now());
          up = 1;
        } catch {
          for (const g of redisGauges) g.reset();
        }
      }
      redisUp.set(up);
      scrapeSecs.set((Date.now() - t0) / 1000);
      return registry.metrics();
    });
    chain = next.catch(() => undefined);
    return next;
  }
  return { registry, render, contentType: registry.contentType };
}

/**
 * A listen failure of the metrics server as a usage error naming `--metrics-port`
 * (EADDRINUSE: another process has the port; EACCES: a port under 1024 needs privileges;
 * EADDRNOTAVAIL: `--metrics-host` is not an address of this machine). Other errors pass.
 */
export function metricsListenError(e: unknown, port: number, host = '127.0.0.1'): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  const where = `${host}:${port}`;
  if (code === 'EADDRINUSE') return new UsageError(`--metrics-port ${port}: ${where} is already in use by another process; choose another --metrics-port (or stop the other process)`);
  if (code === 'EACCES') return new UsageError(`--metrics-port ${port}: not allowed to listen on ${where} (ports under 1024 need privileges); choose another --metrics-port`);
  if (code === 'EADDRNOTAVAIL') return new UsageError(`--metrics-host ${host}: not an address of this machine (--metrics-port ${port})`);
  return e;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const m = createMetrics(o);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      m.render().then(
        (text) => res.writeHead(200, { 'content-type': m.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e instanceof Error ? e.message : String(e)}\n`),
      );
      return;
    }
    if (path === '/' || path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('qt metrics: GET /metrics\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shown}:${addr.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
