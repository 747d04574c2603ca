import type { QtCommand } from './command.js';
import { configFrom } from './command.js';

export const configShow: QtCommand<{ json?: boolean }> = {
  command: 'config show',
  describe: 'print the effective configuration (secrets redacted)',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print JSON' }),
  async run(argv) {
    const { redactedConfig, VARIABLES } = await import('../config/config.js');
    const cfg = await configFrom(argv);
    const red = redactedConfig(cfg);
    if (argv.json) {
      process.stdout.write(JSON.stringify(red, null, 2) + '\n');
      return;
    }
    const lines: string[] = [];
    for (const name of Object.keys(VARIABLES)) {
      const src = cfg.sources[name] ?? 'default';
      const val = cfg.effective[name];
      lines.push(`${name.padEnd(26)} ${val === undefined || val === '' ? '(unset)' : val}  (${src})`);
    }
    lines.push('', 'streams:');
    for (const [s, key] of Object.entries(streamsOf(cfg))) lines.push(`  ${s.padEnd(22)} ${key}`);
    process.stdout.write(lines.join('\n') + '\n');
  },
};

function streamsOf(cfg: Awaited<ReturnType<typeof configFrom>>): Record<string, string> {
  const o: Record<string, string> = {};
  for (const s of ['ai.signal_generated', 'trade.intent', 'apply.plan', 'apply.approved', 'apply.result', 'execution.result', 'risk.proposal', 'policy.updated', 'stage.rejected', 'dead.letter', 'rl.proposal'] as const) {
    o[s] = cfg.names.stream(s);
  }
  return o;
}

