import type { QtCommand } from './command.js';
import { configsFrom, parseDuration } from './command.js';
import { UsageError } from '../errors.js';

const WHAT = ['pipeline', 'streams', 'services', 'positions', 'rejections'] as const;
type What = (typeof WHAT)[number];

const CODES: Record<Exclude<What, 'pipeline'>, string[]> = {
  streams: ['STREAM_STALE', 'GROUP_STARVING', 'STREAM_UNCONSUMED', 'GROUP_LAGGING', 'PENDING_STUCK', 'CONSUMER_DEAD', 'DEAD_LETTERS', 'REDIS_CONFIG',
    'LAG_UNRELIABLE', 'ENTRIES_TRIMMED', 'PENDING_POISON', 'PENDING_ORPHANED', 'CONSUMER_LEAK', 'GROUP_TREND'],
  services: ['SERVICE_DOWN', 'SERVICE_SILENT', 'SERVICE_FAILED', 'SERVICE_DEGRADED', 'SERVICES_UNKNOWN', 'EXCHANGE_AUTH_FAILED', 'EXCHANGE_LIMITED', 'CLOCK_SKEW', 'ENGINE_CONTENDED'],
  positions: ['GHOST_KEYS', 'POSITION_LIMIT_BLOCKING', 'POSITION_DRIFT', 'POSITION_UNPROTECTED', 'KILL_SWITCH_ON'],
  rejections: ['STAGE_REJECTING', 'STAGE_FILTERING', 'CONTRACT_MISMATCH', 'STAGE_NO_OUTPUT', 'POSITION_LIMIT_BLOCKING', 'EXCHANGE_AUTH_FAILED', 'DEAD_LETTERS'],
};

interface Args {
  what: What;
  window: string;
  json?: boolean;
  stage?: string;
  reason?: string;
  sample?: string;
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
      .option('reason', { type: 'string', describe: 'rejections: only this reason code' })
      .option('sample', { type: 'string', describe: 'streams: sample every group over this duration (3s, 1m) and judge its trend by Burrow\'s rules' }),
  async run(argv) {
    const windowMs = parseDuration(argv.window, '--window');
    const sampleMs = argv.sample === undefined ? null : sampleDuration(argv.sample, argv.what);
    if (argv.stage !== undefined || argv.reason !== undefined) await checkStage(argv);
    const { resolveThresholds } = await import('../diagnose/thresholds.js');
    const { thresholds, problems } = resolveThresholds();
    if (problems.length) throw new UsageError('invalid diagnostics thresholds', problems);
    const cfgs = await configsFrom(argv);
    const one = async (cfg: (typeof cfgs)[number]): Promise<{ body: unknown; text: string; code: number }> => {
      const { reportOf } = await import('../diagnose/session.js');
      const { exitCodeForStatus } = await import('../contract/codes.js');
      const { verdictOf } = await import('../diagnose/report.js');
      const r = sampleMs === null ? await reportOf(cfg, windowMs, thresholds) : await (await import('../diagnose/trend-report.js')).sampledReportOf(cfg, windowMs, thresholds, sampleMs);
      const inView = argv.what === 'pipeline' ? r.findings : r.findings.filter((f) => CODES[argv.what as Exclude<What, 'pipeline'>].includes(f.code));
      // rejections --stage S: only the findings about S (its subject names it, or its evidence)
      const aboutStage = (f: (typeof r.findings)[number]) =>
        f.subject.split(/\s+|→/).includes(argv.stage!) || (f.evidence as { stage?: unknown }).stage === argv.stage;
      const findings = argv.what === 'rejections' && argv.stage ? inView.filter(aboutStage) : inView;
      const status = verdictOf(findings.map((f) => f.severity), r);
      const rejections = () => {
        const latest = r.rejections.latest.filter((x) => (!argv.stage || x.stage === argv.stage) && (!argv.reason || x.reason === argv.reason));
        const stages = r.stages.filter((s) => !argv.stage || s.stage === argv.stage)
          .map((s) => ({ stage: s.stage, in: s.in, rejected: s.rejected, top_reasons: s.top_reasons.filter((x) => !argv.reason || x.reason === argv.reason) }));
        return { total_in_window: r.rejections.total_in_window, stages, latest };
      };
      if (argv.json) {
        const base = { generated_at: r.generated_at, window_s: r.window_s, prefix: r.prefix, status, ...(r.blind_spots?.length ? { blind_spots: r.blind_spots } : {}) };
        const body =
          argv.what === 'pipeline' ? r
            : argv.what === 'streams' ? { ...base, streams: r.streams, ...(r.trends ? { sample: r.sample, trends: r.trends } : {}), findings }
              : argv.what === 'services' ? { ...base, registry_known: r.registry_known, services: r.services, findings }
                : argv.what === 'positions' ? { ...base, positions: r.positions, findings }
                  : { ...base, ...rejections(), findings };
        return { body, text: JSON.stringify(body, null, 2), code: exitCodeForStatus(status) };
      }
      const { Renderer } = await import('../diagnose/render.js');
      const v = new Renderer();
      const parts: string[] =
        argv.what === 'pipeline' ? [v.pipeline(r)]
          : argv.what === 'streams' ? [v.header(r), v.streams(r), ...(r.trends ? ['', (await import('../diagnose/trend-render.js')).renderTrends(r, v)] : [])]
            : argv.what === 'services' ? [v.header(r), v.services(r)]
              : argv.what === 'positions' ? [v.header(r), v.positions(r), v.ghosts(r)]
                : [v.header(r), v.stages({ ...r, stages: r.stages.filter((s) => !argv.stage || s.stage === argv.stage) }), v.rejections(r, argv.stage, argv.reason)];
      if (argv.what !== 'pipeline') parts.push('', v.findings(findings));
      return { body: null, text: parts.join('\n'), code: exitCodeForStatus(status) };
    };
    if (cfgs.length === 1) {
      const o = await one(cfgs[0]!);
      process.stdout.write(o.text + '\n');
      return o.code;
    }
    // several pipelines (a sharded deployment, docs/scaling.md): each read in turn, one verdict
    const { combinedExitCode, statusOfExitCode } = await import('../diagnose/multi-prefix.js');
    const { QtError } = await import('../errors.js');
    const outs: { prefix: string; body: unknown; text: string; code: number }[] = [];
    for (const c of cfgs) {
      try {
        outs.push({ prefix: c.prefix, ...(await one(c)) });
      } catch (e) {
        if (!(e instanceof QtError && e.exitCode === 3)) throw e;
        outs.push({ prefix: c.prefix, body: { prefix: c.prefix, status: 'unknown', exit_code: 3, unknowns: [e.message] }, text: `qt diagnose: UNKNOWN (${c.prefix}): ${e.message}`, code: 3 });
      }
    }
    const code = combinedExitCode(outs.map((o) => o.code));
    if (argv.json) {
      process.stdout.write(JSON.stringify({ generated_at: Date.now(), status: statusOfExitCode(code), exit_code: code, prefixes: outs.map((o) => o.body) }, null, 2) + '\n');
    } else {
      process.stdout.write(outs.map((o) => `== prefix ${o.prefix} ==\n${o.text}`).join('\n\n') + `\n\nqt diagnose: ${statusOfExitCode(code).toUpperCase()} over ${outs.length} prefixes\n`);
    }
    return code;
  },
};

/** `--sample DURATION`: only with `streams`, from 1 s to 1 h; a mistake is one line naming the flag. */
function sampleDuration(raw: string, what: What): number {
  if (what !== 'streams') throw new UsageError(`--sample: only \`qt diagnose streams\` samples groups (got \`qt diagnose ${what}\`)`);
  const ms = parseDuration(raw, '--sample');
  if (ms < 1000 || ms > 3600_000) throw new UsageError(`--sample: expected a duration from 1s to 1h (got ${JSON.stringify(raw)})`);
  return ms;
}

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
