/**
 * `qt tui`: the operations console. Attaches to Redis only (never to the engine
 * process). Ink and React are imported inside `runConsole`, so `qt --help` and
 * `qt health` never load them.
 */
import type { Config } from '../config/config.js';
import { UsageError } from '../errors.js';
import type { QtCommand } from './command.js';
import { configsFrom, parseDuration } from './command.js';

export interface ConsoleOptions {
  /** refresh period (one collector call each) */
  refreshMs: number;
  /** the window of rates, rejections and sparklines (default 15 min) */
  windowMs?: number;
  /** called once when the console has closed (the operator quit, or `stop` fired) */
  onQuit?: () => void | Promise<void>;
  /** aborting it closes the console */
  stop?: AbortSignal;
  /** where ghost-cleanup backups go (default: the current directory) */
  backupDir?: string;
  /** `qt up --console`: quitting the console stops the engine beside it */
  quitStopsEngine?: boolean;
}

/**
 * Runs the console until the operator quits; returns the exit code (0). Several
 * configurations (one per prefix, `qt tui --prefix '{a},{b}'`): one data source each, `p` / `P`
 * switch between them.
 */
export async function runConsole(config: Config | Config[], opts: ConsoleOptions): Promise<number> {
  const configs = Array.isArray(config) ? config : [config];
  // Ink renders only the last frame when it thinks it runs in CI (CI=true in the
  // environment). A console on a real terminal is interactive wherever it runs.
  if (process.stdout.isTTY) {
    delete process.env.CI;
    delete process.env.CONTINUOUS_INTEGRATION;
  }
  const [{ RedisSource }, { mountConsole }] = await Promise.all([import('../tui/redis-source.js'), import('../tui/run.js')]);
  const pipelines = configs.map((c) => ({ prefix: c.prefix, source: new RedisSource(c, { windowMs: opts.windowMs ?? 15 * 60_000, backupDir: opts.backupDir }) }));
  try {
    await mountConsole(pipelines, { prefix: configs[0]!.prefix, refreshMs: opts.refreshMs, stop: opts.stop, quitStopsEngine: opts.quitStopsEngine });
  } finally {
    await Promise.all(pipelines.map((p) => p.source.close()));
    await opts.onQuit?.();
  }
  return 0;
}

interface TuiArgs {
  refresh?: string;
  window?: string;
}

function duration(s: string, flag: string, min: number): number {
  const ms = parseDuration(s, flag);
  if (ms < min) throw new UsageError(`${flag}: expected at least ${min} ms (got ${JSON.stringify(s)})`);
  return ms;
}

export const tui: QtCommand<TuiArgs> = {
  command: 'tui',
  describe: 'the operations console: pipeline, streams, rejections, positions, services, findings (live)',
  builder: (y) =>
    y
      .option('refresh', { type: 'string', default: '1s', describe: 'refresh period (500ms, 1s, 5s)' })
      .option('window', { type: 'string', default: '15m', describe: 'window of rates, rejections and sparklines' }),
  async run(argv) {
    const refreshMs = duration(argv.refresh ?? '1s', '--refresh', 200);
    const windowMs = duration(argv.window ?? '15m', '--window', 60_000);
    const configs = await configsFrom(argv);
    const { assertDatabase } = await import('../redis/connect.js');
    await assertDatabase({ url: configs[0]!.redisUrl, tls: configs[0]!.redisTls });
    return runConsole(configs, { refreshMs, windowMs });
  },
};
