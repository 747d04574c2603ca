/**
 * `qt up`: connects (one clear line and exit 3 when Redis is unreachable), runs the
 * preflight, starts the chosen stages, prints a short live summary in a terminal, and
 * stops cleanly on SIGINT/SIGTERM/SIGHUP or after `--for`, within QT_STOP_TIMEOUT_MS
 * whatever Redis does (what could not be committed is logged and stays pending).
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import type { Config } from '../config/config.js';
import { redactUrl } from '../config/redact.js';
import type { Mode } from '../contract/codes.js';
import { EXCHANGE_STAGES } from '../contract/names.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { connectRedis, preflight, reconnectOnError } from '../redis/connect.js';
import { LinkMonitor } from '../redis/link-monitor.js';
import { settledBy } from './runtime/deadline.js';
import { Engine, type EngineDeps } from './engine.js';
import { ensurePolicy, policyFromConfig } from './state/policy.js';
import { STAGE_FACTORIES } from './stages/index.js';
import type { PriceSource } from './market/price-source.js';

/** The signals that stop the engine cleanly (SIGHUP: the SSH session that started it closed). */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface DaemonOptions {
  stages?: string;
  forMs?: number;
  /** Resolves when the daemon should stop (besides signals and --for). */
  until?: Promise<unknown>;
  quietSummary?: boolean;
  /** Open the console (`qt tui`) in this terminal; quitting it stops the engine. */
  console?: boolean;
  /** Serve Prometheus metrics on this port (loopback unless metricsHost says otherwise). */
  metricsPort?: number;
  metricsHost?: string;
  /** The market stage's price source, made by the caller (a replay). */
  priceSource?: PriceSource;
  /** A replay's lock step, made by the caller (`runReplay`); with QT_MARKET=replay the daemon makes one otherwise. */
  replay?: import('./replay-lockstep.js').ReplayLockStep;
  /** Stop once the replay has played and settled its last point (`qt up --market replay`). */
  stopAtReplayEnd?: boolean;
  /** Lines to log as a warning at start (the private-Redis notice of `qt up --console`). */
  notice?: string[];
}


export function modeOf(c: Config): Mode {
  if (c.exchange === 'paper') return 'PAPER';
  return c.binanceMode === 'live' ? 'LIVE' : 'DEMO';
}

export function selectStages(spec: string | undefined): string[] {
  const all = Object.keys(STAGE_FACTORIES);
  if (!spec || spec === 'all') return all;
  const want = spec.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = want.filter((s) => !all.includes(s));
  if (unknown.length) throw new UsageError(`--stages: unknown stage ${unknown.join(', ')} (expected some of ${all.join(', ') || '(none built yet)'})`);
  return want;
}

export async function runDaemon(config: Config, o: DaemonOptions = {}): Promise<number> {
  const mode = modeOf(config);
  if (mode === 'LIVE' && !config.liveConfirmed) {
    throw new UsageError('live trading needs both --live and QT_LIVE_CONFIRM=I_UNDERSTAND_THIS_TRADES_REAL_MONEY');
  }
  const names = selectStages(o.stages);
  // A replay runs in lock step on its own clock, its symbols and settings in market time
  // (replay-lockstep.ts); a live engine never does.
  let replay: import('./replay-lockstep.js').ReplayLockStep | undefined;
  if (config.market === 'replay') {
    replay = o.replay ?? (await makeLockStep(config, o.priceSource));
    config = (await import('./replay-lockstep.js')).replayConfig(config, replay);
    o = { ...o, priceSource: replay.source };
  }
  const withConsole = !!o.console && process.stdout.isTTY === true && process.stdin.isTTY === true;
  let logFile: WriteStream | undefined;
  if (withConsole) {
    mkdirSync('.qt', { recursive: true });
    logFile = createWriteStream('.qt/engine.log', { flags: 'a' });
  }
  const log = createLogger({
    format: config.log.format,
    level: config.log.level,
    bindings: { mode },
    ...(logFile ? { write: (l: string) => logFile!.write(l + '\n') } : {}),
  });
  for (const l of o.notice ?? []) if (!/^!+$/.test(l)) log.warn(l);
  if (o.console && !withConsole) log.info('no terminal: running headless (the console needs a TTY); see qt tui');
  let writer = await connectRedis({ url: config.redisUrl, tls: config.redisTls, role: 'cli', name: 'qt:engine' });
  // A Redis Cluster: a hash-tagged prefix is required, and the engine runs on the primary
  // serving the pipeline's slot (src/redis/cluster-engine.ts, docs/redis-cluster.md).
  const { placeEngine, placementLine, SlotWatch } = await import('../redis/cluster-engine.js');
  const placed = await placeEngine(config, writer).catch((e: unknown) => {
    writer.disconnect();
    throw e;
  });
  config = placed.config;
  writer = placed.writer;
  if (placed.cluster) log.info(placementLine(placed));
  // From here on the writer must survive Redis restarts: retry forever.
  writer.options.maxRetriesPerRequest = null;
  writer.options.retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 3000);
  // A failover that demotes the primary under an open connection answers READONLY: ask the sentinels again.
  writer.options.reconnectOnError = reconnectOnError;
  if ('sentinelRetryStrategy' in writer.options) writer.options.sentinelRetryStrategy = (times: number) => Math.min(100 * times, 1000);
  writer.on('error', (e: Error) => log.debug('redis error', { error: e.message }));
  const links = new LinkMonitor(log);
  links.watch(writer, 'qt:engine');
  const pf = await preflight(writer);
  if (!pf.versionOk) throw new UsageError(pf.warnings.find((w) => w.includes('too old')) ?? 'Redis too old');
  for (const w of pf.warnings) log.warn(w);

  await ensurePolicy(writer, config.names, policyFromConfig(config));
  const deps: EngineDeps = { config, writer, log, mode, watch: (c, n) => links.watch(c, n), priceSource: o.priceSource, replay };
  if (names.some((n) => (EXCHANGE_STAGES as readonly string[]).includes(n))) {
    const { createExchange } = await import('./exchange/index.js');
    const exchange = await createExchange(config, writer, log, deps.replay ? { now: deps.replay.now } : {});
    // A signal while the exchange does not answer yet ends the wait (and the daemon) cleanly.
    const startup = new AbortController();
    const abort = () => startup.abort();
    for (const sig of STOP_SIGNALS) process.once(sig, abort);
    const { startExchange } = await import('./exchange/start.js');
    const started = await startExchange(exchange, log, { signal: startup.signal }).finally(() => {
      for (const sig of STOP_SIGNALS) process.off(sig, abort);
    });
    if (!started) {
      log.info('stopped before the exchange answered');
      links.stop();
      await closeWriter(writer, Date.now() + 1000);
      if (logFile) await new Promise((r) => logFile!.end(r));
      return 0;
    }
    deps.exchange = o.metricsPort ? (await import('./metrics-instruments.js')).instrumentExchange(exchange) : exchange;
  }
  const stages = [];
  for (const n of names) stages.push(await STAGE_FACTORIES[n](deps));
  if (o.metricsPort) {
    const mi = await import('./metrics-instruments.js');
    for (let i = 0; i < stages.length; i++) stages[i] = mi.instrumentStage(stages[i]);
  }
  const engine = new Engine(deps);
  await engine.start(stages);
  let metrics: { close(): Promise<void>; url: string } | undefined;
  if (o.metricsPort) {
    const { startMetricsServer } = await import('./metrics-server.js');
    metrics = await startMetricsServer({ port: o.metricsPort, host: o.metricsHost, runners: engine.runners, redis: writer, names: config.names, mode }).catch(async (e: unknown) => {
      await engine.stop();
      await writer.quit().catch(() => writer.disconnect());
      throw (await import('./metrics-server.js')).metricsListenError(e, o.metricsPort!, o.metricsHost);
    });
    log.info(`metrics on ${metrics.url}`);
  }
  const host = config.exchange === 'binance' ? ` via ${(await import('./exchange/binance/host.js')).binanceHostOf(config)}` : '';
  log.info(`qt engine up: ${mode}${host}, ${names.length} stage(s) [${names.join(', ')}], redis ${redactUrl(config.redisUrl)}, prefix ${config.prefix}`);

  if (deps.replay) {
    const missing = selectStages(undefined).filter((n) => !names.includes(n));
    if (missing.length) log.warn(`replay: ${missing.join(', ')} not in this engine: a stage consuming the pipeline that does not run keeps the replay waiting; a timer-driven one that runs elsewhere is not in lock step (the report may then differ from run to run)`);
  }
  const replayRun = deps.replay?.run(engine.runners, writer, config.names, log).catch((e: unknown) => log.error('replay conductor failed', { error: (e as Error).message }));
  let summary: NodeJS.Timeout | undefined;
  const consoleStop = new AbortController();
  let consoleDone: Promise<unknown> | undefined;
  if (withConsole) {
    const { runConsole } = await import('../commands/tui.js');
    consoleDone = runConsole(config, { refreshMs: 1000, stop: consoleStop.signal, quitStopsEngine: true });
  } else if (!o.quietSummary) {
    // Headless (a pipe, CI, journald): the summary goes to the log whatever stderr is.
    summary = setInterval(() => logSummary(), 10000);
  }
  const logSummary = () => {
    const parts = engine.runners.map((r) => `${r.stage.name} ${r.totals.in}/${r.totals.out}/${r.totals.rejected}`);
    log.info(`[${mode}] in/out/rejected: ${parts.join(' · ')}`);
  };

  const slotWatch = placed.cluster ? new SlotWatch(config.redisUrl, config.redisTls, placed.cluster.slot, placed.cluster.primary, placed.cluster.nodes) : undefined;
  slotWatch?.start();
  let slotMoved = false;
  const stop = await new Promise<string>((resolve) => {
    slotWatch?.moved.then((why) => {
      slotMoved = true;
      log.error(why);
      resolve(why);
    });
    const onSig = (sig: string) => () => resolve(sig);
    for (const sig of STOP_SIGNALS) process.once(sig, onSig(sig));
    if (o.forMs) setTimeout(() => resolve(`--for ${o.forMs} ms elapsed`), o.forMs).unref();
    o.until?.then(() => resolve('requested'));
    if (o.stopAtReplayEnd) deps.replay?.done.then(() => resolve('the replay has ended'));
    consoleDone?.then(() => resolve('console closed'), (e) => resolve(`console failed: ${(e as Error).message}`));
  });
  slotWatch?.stop();
  consoleStop.abort();
  await consoleDone?.catch(() => undefined);
  if (summary) {
    clearInterval(summary);
    logSummary(); // the totals of the whole run, also for runs shorter than one period
  }
  // Bounded whatever Redis does: each step gets what is left of the budget.
  const t0 = Date.now();
  const deadline = t0 + config.runtime.stopTimeoutMs;
  log.info(`stopping (${stop})`, { within_ms: config.runtime.stopTimeoutMs });
  links.stop();
  deps.replay?.stop();
  await settledBy(replayRun, Math.min(deadline - 1500, Date.now() + 1000));
  await settledBy(metrics?.close(), Math.min(deadline - 1500, Date.now() + 1000));
  const redisAnswered = await engine.stop(deadline - 1000);
  if (!(await settledBy((deps.exchange as { stop?: () => Promise<void> } | undefined)?.stop?.(), deadline - 500))) log.warn('the exchange adapter did not stop in time');
  if (redisAnswered) await closeWriter(writer, deadline);
  else writer.disconnect();
  log.info('stopped', { took_ms: Date.now() - t0 });
  if (logFile) await new Promise((r) => logFile!.end(r));
  if (withConsole) process.stderr.write(`qt: engine stopped (${stop}); its log is in .qt/engine.log\n`);
  return slotMoved ? 1 : 0;
}

/** The lock step of a replay the daemon starts itself (`qt up --console` with QT_MARKET=replay). */
async function makeLockStep(config: Config, source?: PriceSource): Promise<import('./replay-lockstep.js').ReplayLockStep> {
  const { ReplayLockStep } = await import('./replay-lockstep.js');
  const { createReplaySource, ReplayPriceSource } = await import('./market/replay.js');
  const src = source instanceof ReplayPriceSource ? source : createReplaySource({ ...config.replay, tickMs: config.market_.tickMs });
  return new ReplayLockStep({ source: src, seed: config.replay.seed, speed: config.replay.speed });
}

/** QUIT when Redis answers (by `deadline`), else drop the connection: never waits on a dead server. */
async function closeWriter(writer: import('ioredis').Redis, deadline: number): Promise<void> {
  if (writer.status === 'ready') await settledBy(writer.quit(), Math.min(deadline, Date.now() + 1000));
  writer.disconnect();
}
