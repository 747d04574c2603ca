import type { QtCommand } from './command.js';
import { configFrom, parseDuration } from './command.js';
import { UsageError } from '../errors.js';

const WHAT = ['pipeline', 'streams', 'services', 'positions', 'rejections'] as const;
type What = (typeof WHAT)[number];

const CODES: Record<Exclude<What, 'pipeline'>, string[]> = {
  streams: ['STREAM_STALE', 'GROUP_STARVING', 'STREAM_UNCONSUMED', 'GROUP_LAGGING', 'PENDING_STUCK', 'CONSUMER_DEAD', 'DEAD_LETTERS', 'REDIS_CONFIG'],
  services: ['SERVICE_DOWN', 'SERVICE_SILENT', 'SERVICE_FAILED', 'SERVICE_DEGRADED', 'SERVICES_UNKNOWN', 'EXCHANGE_AUTH_FAILED'],
  positions: ['GHOST_KEYS', 'POSITION_LIMIT_BLOCKING', 'POSITION_DRIFT', 'KILL_SWITCH_ON'],
  rejections: ['STAGE_REJECTING', 'CONTRACT_MISMATCH', 'STAGE_NO_OUTPUT', 'POSITION_LIMIT_BLOCKING', 'EXCHANGE_AUTH_FAILED', 'DEAD_LETTERS'],
};

interface Args {
  what: What;
  window: string;
  json?: boolean;
  stage?: string;
  reason?: string;
}

export const diagnose: QtCommand<Args> = {
  command: 'diagnose <what>',
  describe: 'diagnose a pipeline (read-only): pipeline | streams | services | positions | rejections',
  builder: (y) =>
    y
      .positional('what', { choices: WHAT, describe: 'what to diagnose' })
      .option('window', { type: 'string', default: '3h', describe: 'time window for stage numbers and rejections (30m, 3h, 1d)' })
      .option('json', { type: 'boolean', describe: 'print JSON (contract shape)' })
      .option('stage', { type: 'string', describe: 'rejections: only this stage (its counts, examples and findings)' })
      .option('reason', { type: 'string', describe: 'rejections: only this reason code' }),
  async run(argv) {
    const windowMs = parseDuration(argv.window, '--window');
    if (argv.stage !== undefined || argv.reason !== undefined) await checkStage(argv);
    const { resolveThresholds } = await import('../diagnose/thresholds.js');
    const { thresholds, problems } = resolveThresholds();
    if (problems.length) throw new UsageError('invalid diagnostics thresholds', problems);
    const cfg = await configFrom(argv);
    const { reportOf } = await import('../diagnose/session.js');
    const { exitCodeForStatus, worstSeverity } = await import('../contract/codes.js');
    const r = await reportOf(cfg, windowMs, thresholds);
    const inView = argv.what === 'pipeline' ? r.findings : r.findings.filter((f) => CODES[argv.what as Exclude<What, 'pipeline'>].includes(f.code));
    // rejections --stage S: only the findings about S (its subject names it, or its evidence)
    const aboutStage = (f: (typeof r.findings)[number]) =>
      f.subject.split(/\s+|→/).includes(argv.stage!) || (f.evidence as { stage?: unknown }).stage === argv.stage;
    const findings = argv.what === 'rejections' && argv.stage ? inView.filter(aboutStage) : inView;
    const w = worstSeverity(findings.map((f) => f.severity));
    const status = w === 'info' ? 'ok' : w;
    const rejections = () => {
      const latest = r.rejections.latest.filter((x) => (!argv.stage || x.stage === argv.stage) && (!argv.reason || x.reason === argv.reason));
      const stages = r.stages.filter((s) => !argv.stage || s.stage === argv.stage)
        .map((s) => ({ stage: s.stage, in: s.in, rejected: s.rejected, top_reasons: s.top_reasons.filter((x) => !argv.reason || x.reason === argv.reason) }));
      return { total_in_window: r.rejections.total_in_window, stages, latest };
    };
    if (argv.json) {
      const base = { generated_at: r.generated_at, window_s: r.window_s, prefix: r.prefix, status };
      const body =
        argv.what === 'pipeline' ? r
          : argv.what === 'streams' ? { ...base, streams: r.streams, findings }
            : argv.what === 'services' ? { ...base, registry_known: r.registry_known, services: r.services, findings }
              : argv.what === 'positions' ? { ...base, positions: r.positions, findings }
                : { ...base, ...rejections(), findings };
      process.stdout.write(JSON.stringify(body, null, 2) + '\n');
      return exitCodeForStatus(status);
    }
    const { Renderer } = await import('../diagnose/render.js');
    const v = new Renderer();
    const parts: string[] =
      argv.what === 'pipeline' ? [v.pipeline(r)]
        : argv.what === 'streams' ? [v.header(r), v.streams(r)]
          : argv.what === 'services' ? [v.header(r), v.services(r)]
            : argv.what === 'positions' ? [v.header(r), v.positions(r), v.ghosts(r)]
              : [v.header(r), v.stages({ ...r, stages: r.stages.filter((s) => !argv.stage || s.stage === argv.stage) }), v.rejections(r, argv.stage, argv.reason)];
    if (argv.what !== 'pipeline') parts.push('', v.findings(findings));
    process.stdout.write(parts.join('\n') + '\n');
    return exitCodeForStatus(status);
  },
};

/**
 * `--stage` names a stage of the contract (STAGES), and only with `diagnose rejections`;
 * anything else is a usage error naming the known stages: a filter that matches nothing
 * would read as "no rejections". (`--reason` is left free: a deployment of this design
 * may write reason codes of its own.)
 */
async function checkStage(argv: Args): Promise<void> {
  const { STAGES } = await import('../contract/names.js');
  const { nearest } = await import('../config/suggest.js');
  if (argv.what !== 'rejections') throw new UsageError(`--stage and --reason apply to qt diagnose rejections only (got diagnose ${argv.what})`);
  if (argv.stage !== undefined && !(STAGES as readonly string[]).includes(argv.stage)) {
    const near = nearest(argv.stage, STAGES);
    throw new UsageError(`--stage: unknown stage ${JSON.stringify(argv.stage)}${near ? ` (did you mean ${near}?)` : ''}; expected one of ${STAGES.join(', ')}`);
  }
}
