import type { QtCommand } from './command.js';
import { configsFrom, parseDuration } from './command.js';
import { QtError, UsageError } from '../errors.js';

interface Args {
  format: 'text' | 'json' | 'nagios' | 'prom';
  quiet?: boolean;
  window: string;
  stale?: string;
  'stale-crit'?: string;
  'lag-warn'?: string;
  'lag-crit'?: string;
  'pending-idle'?: string;
  'consumer-idle'?: string;
  'reject-warn'?: string;
  'reject-crit'?: string;
}

export const health: QtCommand<Args> = {
  command: 'health',
  describe: 'one health check for cron and monitoring: exit 0 ok, 1 warn, 2 crit, 3 unknown',
  builder: (y) =>
    y
      .option('format', { choices: ['text', 'json', 'nagios', 'prom'] as const, default: 'text' as const, describe: 'output format' })
      .option('quiet', { type: 'boolean', describe: 'print nothing when all is well' })
      .option('window', { type: 'string', default: '15m', describe: 'time window for stage numbers' })
      .option('stale', { type: 'string', describe: 'stream stale after (QT_DIAG_STALE, default 30m)' })
      .option('stale-crit', { type: 'string', describe: 'stream stale crit after (QT_DIAG_STALE_CRIT, default 6h)' })
      .option('lag-warn', { type: 'string', describe: 'group lag warn (QT_DIAG_LAG_WARN, default 1000)' })
      .option('lag-crit', { type: 'string', describe: 'group lag crit (QT_DIAG_LAG_CRIT, default 10000)' })
      .option('pending-idle', { type: 'string', describe: 'pending entry stuck after (QT_DIAG_PENDING_IDLE, default 5m)' })
      .option('consumer-idle', { type: 'string', describe: 'consumer dead after (QT_DIAG_CONSUMER_IDLE, default 30m)' })
      .option('reject-warn', { type: 'string', describe: 'rejected share warn (QT_DIAG_REJECT_WARN, default 0.5)' })
      .option('reject-crit', { type: 'string', describe: 'rejected share crit (QT_DIAG_REJECT_CRIT, default 0.9)' }),
  async run(argv) {
    const windowMs = parseDuration(argv.window, '--window');
    const { resolveThresholds } = await import('../diagnose/thresholds.js');
    const { thresholds, problems } = resolveThresholds(process.env, {
      staleMs: argv.stale, staleCritMs: argv['stale-crit'], lagWarn: argv['lag-warn'], lagCrit: argv['lag-crit'],
      pendingIdleMs: argv['pending-idle'], consumerIdleMs: argv['consumer-idle'], rejectWarn: argv['reject-warn'], rejectCrit: argv['reject-crit'],
    });
    if (problems.length) throw new UsageError('invalid health thresholds', problems);
    const cfgs = await configsFrom(argv);
    if (cfgs.length > 1) {
      // several pipelines (a sharded deployment, docs/scaling.md): each read in turn, one verdict
      const { reportOf } = await import('../diagnose/session.js');
      const { multiHealth } = await import('../diagnose/multi-prefix.js');
      const outcomes = [];
      for (const c of cfgs) {
        try {
          outcomes.push({ prefix: c.prefix, report: await reportOf(c, windowMs, thresholds, true) });
        } catch (e) {
          if (!(e instanceof QtError && e.exitCode === 3)) throw e;
          outcomes.push({ prefix: c.prefix, error: e.message });
        }
      }
      const { text, code } = await multiHealth(outcomes, argv.format, thresholds);
      if (argv.quiet && code === 0) return 0;
      process.stdout.write(text.endsWith('\n') ? text : text + '\n');
      return code;
    }
    const cfg = cfgs[0]!;
    const f = await import('../diagnose/health-format.js');
    const { reportOf } = await import('../diagnose/session.js');
    const { exitCodeForStatus } = await import('../contract/codes.js');
    let r;
    try {
      r = await reportOf(cfg, windowMs, thresholds, true);
    } catch (e) {
      if (e instanceof QtError && e.exitCode === 3 && (argv.format === 'nagios' || argv.format === 'prom' || argv.format === 'json')) {
        process.stdout.write(argv.format === 'nagios' ? f.nagiosUnknown(e.message) + '\n'
          : argv.format === 'json' ? f.healthJsonUnknown(cfg.prefix, e.message) + '\n'
          : `# HELP qt_health_status overall status: 0 ok, 1 warn, 2 crit, 3 unknown\n# TYPE qt_health_status gauge\nqt_health_status{prefix="${cfg.prefix}"} 3\n`);
        return 3;
      }
      throw e;
    }
    const code = exitCodeForStatus(r.status);
    if (argv.quiet && code === 0) return 0;
    const text = argv.format === 'json' ? f.healthJson(r) : argv.format === 'nagios' ? f.healthNagios(r, thresholds) : argv.format === 'prom' ? f.healthProm(r) : f.healthText(r);
    process.stdout.write(text.endsWith('\n') ? text : text + '\n');
    return code;
  },
};
