/** `qt kill-switch on|off|status` (logic in src/control/kill-switch.ts). */
import { UsageError } from '../errors.js';
import type { QtCommand } from './command.js';
import { configFrom } from './command.js';

export const killSwitch: QtCommand<{ state?: string; reason?: string; json?: boolean }> = {
  command: 'kill-switch [state]',
  describe: 'turn the kill switch on (no new entries; exits still allowed) or off, or show it',
  builder: (y) =>
    y
      .positional('state', { choices: ['on', 'off', 'status'] as const, describe: 'on | off | status (default)' })
      .option('reason', { type: 'string', describe: 'why (required for on)' })
      .option('json', { type: 'boolean', describe: 'print JSON' }),
  async run(argv) {
    const state = argv.state ?? 'status';
    if (state === 'on' && !(argv.reason ?? '').trim()) throw new UsageError('--reason: required to turn the kill switch on (qt kill-switch on --reason "…")');
    const cfg = await configFrom(argv);
    const { connectPipelineRedis } = await import('../redis/cluster-engine.js');
    const redis = await connectPipelineRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli', name: 'qt:kill-switch', names: cfg.names });
    try {
      const { readKillSwitch, setKillSwitch } = await import('../control/kill-switch.js');
      const s = state === 'status' ? await readKillSwitch(redis, cfg.names) : await setKillSwitch(redis, cfg.names, state === 'on', argv.reason);
      process.stdout.write(argv.json ? JSON.stringify(s) + '\n' : s.on ? `kill switch ON: ${s.reason}\n  new entries are rejected (kill_switch); exits still execute\n` : 'kill switch off: entries allowed\n');
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
  },
};
