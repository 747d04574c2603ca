/**
 * `qt systemd generate`: one unit per stage, qt.target, the health timer, and example
 * env files. Prints to stdout, or writes the files with `--out DIR` and lists them.
 */
import type { QtCommand } from './command.js';

interface SystemdArgs {
  stages?: string;
  out?: string;
  user?: string;
  group?: string;
  bin?: string;
  'etc-dir'?: string;
  credentials?: boolean;
  exchange?: 'paper' | 'binance';
  'metrics-base-port'?: string;
  json?: boolean;
}

export const systemdGenerate: QtCommand<SystemdArgs> = {
  command: 'systemd generate',
  describe: 'write systemd units (one per stage, qt.target, a health timer) and example env files',
  builder: (y) =>
    y
      .option('stages', { type: 'string', describe: 'comma list of stages (default: all)' })
      .option('out', { type: 'string', describe: 'write the files into this directory (default: print them)' })
      .option('user', { type: 'string', default: 'quantum', describe: 'dedicated user the services run as' })
      .option('group', { type: 'string', describe: 'group (default: same as --user)' })
      .option('bin', { type: 'string', default: '/usr/local/bin/qt', describe: 'absolute path of the qt executable' })
      .option('etc-dir', { type: 'string', default: '/etc/quantum', describe: 'directory of the env files and credentials' })
      .option('exchange', { choices: ['paper', 'binance'] as const, describe: 'the exchange the units trade on (default: QT_EXCHANGE, from the environment or --env-file)' })
      .option('credentials', { type: 'boolean', describe: 'LoadCredential= the Binance key for exchange stages (default: only when the exchange is binance)' })
      .option('metrics-base-port', { type: 'string', describe: 'give each stage `--metrics-port base+i` (i = its place in the pipeline)' })
      .option('json', { type: 'boolean', describe: 'print {files:[{name,path?,kind,mode}]} as JSON' }),
  async run(argv) {
    const { UsageError } = await import('../errors.js');
    const { generateAll } = await import('../ops/systemd.js');
    const available = await availableStages();
    const stages = !argv.stages || argv.stages === 'all' ? available : argv.stages.split(',').map((s) => s.trim()).filter(Boolean);
    const { intFlag } = await import('./command.js');
    const port = intFlag(argv['metrics-base-port'], '--metrics-base-port', 1, 65535 - available.length, `a port from 1 to ${65535 - available.length}`);
    // systemd refuses to start a unit whose LoadCredential= file is missing: only the
    // exchange that needs an API key (binance) gets the credential lines, unless asked.
    const exchange = argv.exchange ?? (await exchangeConfigured(argv));
    const credentials = argv.credentials ?? exchange === 'binance';
    const files = generateAll({
      stages,
      available,
      variables: await variableDocs(),
      user: argv.user,
      group: argv.group,
      bin: argv.bin,
      etcDir: argv['etc-dir'],
      credentials,
      metricsBasePort: port,
    });
    if (!argv.out) {
      if (argv.json) process.stdout.write(JSON.stringify({ files }, null, 2) + '\n');
      else for (const f of files) process.stdout.write(`### ${f.name}\n${f.content}\n`);
      return 0;
    }
    const { mkdirSync, writeFileSync, chmodSync } = await import('node:fs');
    const { join, resolve } = await import('node:path');
    const dir = resolve(argv.out);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new UsageError(`--out ${dir}: cannot create it (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const written = files.map((f) => {
      const path = join(dir, f.name);
      writeFileSync(path, f.content, { mode: f.mode });
      chmodSync(path, f.mode);
      return { name: f.name, path, kind: f.kind, mode: '0' + f.mode.toString(8) };
    });
    if (argv.json) {
      process.stdout.write(JSON.stringify({ files: written }, null, 2) + '\n');
      return 0;
    }
    for (const w of written) process.stdout.write(`${w.path}  (${w.kind}, ${w.mode})\n`);
    process.stdout.write(
      [
        '',
        'Install: copy the units to /etc/systemd/system/ and the env files to /etc/quantum/, then',
        '  useradd --system --no-create-home --shell /usr/sbin/nologin quantum',
        '  chown root:quantum /etc/quantum/*.env',
        '  systemctl daemon-reload && systemctl enable --now qt.target',
        '(docs/operations.md, "Running under systemd")',
        '',
      ].join('\n'),
    );
    return 0;
  },
};

/** QT_EXCHANGE as configured (environment, then --env-file); paper by default. */
async function exchangeConfigured(argv: SystemdArgs & import('./command.js').GlobalArgs): Promise<'paper' | 'binance'> {
  const { configFrom } = await import('./command.js');
  return (await configFrom(argv)).exchange;
}

/** Every stage `qt up` can run, in pipeline order. */
async function availableStages(): Promise<string[]> {
  const { STAGE_FACTORIES } = await import('../engine/stages/index.js');
  return Object.keys(STAGE_FACTORIES);
}

/** Every setting of config.ts VARIABLES, then the per-stream name overrides. */
export async function variableDocs(): Promise<{ name: string; dflt: string; describe: string }[]> {
  const { VARIABLES } = await import('../config/config.js');
  const { STREAMS, streamEnvVar } = await import('../contract/names.js');
  const vars: { name: string; dflt: string; describe: string }[] = Object.entries(VARIABLES).map(([name, [, dflt, describe]]) => ({ name, dflt, describe }));
  for (const s of STREAMS) {
    vars.push({ name: streamEnvVar(s), dflt: s, describe: `name of the ${s} stream (a bare name is prefixed like every stream; set it in common.env only)` });
  }
  return vars;
}
