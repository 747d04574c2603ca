/**
 * `qt up`: connects (one clear line and exit 3 when Redis is unreachable), runs the
 * preflight, starts the chosen stages, prints a short live summary in a terminal, and
 * stops cleanly on SIGINT/SIGTERM or after `--for`.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import type { Config } from '../config/config.js';
import { redactUrl } from '../config/redact.js';
import type { Mode } from '../contract/codes.js';
import { EXCHANGE_STAGES } from '../contract/names.js';
import { UsageError } from '../errors.js';
import { createLogger } from '../log.js';
import { connectRedis, preflight } from '../redis/connect.js';
import { Engine, type EngineDeps } from './engine.js';
import { ensurePolicy, policyFromConfig } from './state/policy.js';
import { STAGE_FACTORIES } from './stages/index.js';

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
  if (o.console && !withConsole) log.info('no terminal: running headless (the console needs a TTY); see qt tui');
  const writer = await connectRedis({ url: config.redisUrl, tls: config.redisTls, role: 'cli', name: 'qt:engine' });
  // From here on the writer must survive Redis restarts: retry forever.
  writer.options.maxRetriesPerRequest = null;
  writer.options.retryStrategy = (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 3000);
  writer.on('error', (e: Error) => log.debug('redis error', { error: e.message }));
  const pf = await preflight(writer);
  if (!pf.versionOk) throw new UsageError(pf.warnings.find((w) => w.includes('too old')) ?? 'Redis too old');
  for (const w of pf.warnings) log.warn(w);

  await ensurePolicy(writer, config.names, policyFromConfig(config));
  const deps: EngineDeps = { config, writer, log, mode };
  if (names.some((n) => (EXCHANGE_STAGES as readonly string[]).includes(n))) {
    const { createExchange } = await import('./exchange/index.js');
    const exchange = await createExchange(config, writer, log);
    // A signal while the exchange does not answer yet ends the wait (and the daemon) cleanly.
    const startup = new AbortController();
    const abort = () => startup.abort();
    process.once('SIGINT', abort);
    process.once('SIGTERM', abort);
    const { startExchange } = await import('./exchange/start.js');
    const started = await startExchange(exchange, log, { signal: startup.signal }).finally(() => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    });
    if (!started) {
      log.info('stopped before the exchange answered');
      await writer.quit().catch(() => writer.disconnect());
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
  log.info(`qt engine up: ${mode}, ${names.length} stage(s) [${names.join(', ')}], redis ${redactUrl(config.redisUrl)}, prefix ${config.prefix}`);

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

  const stop = await new Promise<string>((resolve) => {
    const onSig = (sig: string) => () => resolve(sig);
    process.once('SIGINT', onSig('SIGINT'));
    process.once('SIGTERM', onSig('SIGTERM'));
    if (o.forMs) setTimeout(() => resolve(`--for ${o.forMs} ms elapsed`), o.forMs).unref();
    o.until?.then(() => resolve('requested'));
    consoleDone?.then(() => resolve('console closed'), (e) => resolve(`console failed: ${(e as Error).message}`));
  });
  consoleStop.abort();
  await consoleDone?.catch(() => undefined);
  if (summary) {
    clearInterval(summary);
    logSummary(); // the totals of the whole run, also for runs shorter than one period
  }
  log.info(`stopping (${stop})`);
  await metrics?.close().catch(() => undefined);
  await engine.stop();
  await (deps.exchange as { stop?: () => Promise<void> } | undefined)?.stop?.().catch(() => undefined);
  await writer.quit().catch(() => writer.disconnect());
  log.info('stopped');
  if (logFile) await new Promise((r) => logFile!.end(r));
  if (withConsole) process.stderr.write(`qt: engine stopped (${stop}); its log is in .qt/engine.log\n`);
  return 0;
}
