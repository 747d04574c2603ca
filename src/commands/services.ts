import type { QtCommand } from './command.js';
import { configFrom } from './command.js';
import { UsageError } from '../errors.js';

export const services: QtCommand<{ action: 'forget'; name: string; force?: boolean }> = {
  command: 'services <action> <name>',
  describe: 'services forget NAME: remove a retired service from the registry of expected services',
  builder: (y) =>
    y
      .positional('action', { choices: ['forget'] as const, describe: 'what to do' })
      .positional('name', { type: 'string', describe: 'service name' })
      .option('force', { type: 'boolean', describe: 'forget it even though it still beats' }),
  async run(argv) {
    const cfg = await configFrom(argv);
    const { withReadTarget } = await import('../diagnose/session.js');
    const { Reader } = await import('../diagnose/redis-read.js');
    // on a Redis Cluster each single-key command goes to the node owning its key
    return withReadTarget(cfg, async (target) => {
      const redis = new Reader(target).redis;
      const [[status, stoppedAt], member] = await Promise.all([redis.hmget(cfg.names.service(argv.name), 'status', 'stopped_at'), redis.sismember(cfg.names.registry(), argv.name)]);
      if (!member) throw new UsageError(`${argv.name} is not in the registry ${cfg.names.registry()}`);
      // the kept last beat of a clean stop (`stopped_at`) is not a live heartbeat
      const beating = status !== null && !stoppedAt;
      if (beating && !argv.force) throw new UsageError(`${argv.name} still has a live heartbeat: stop it first (or --force)`);
      await redis.srem(cfg.names.registry(), argv.name);
      if (stoppedAt) await redis.del(cfg.names.service(argv.name));
      process.stdout.write(`forgot ${argv.name}: no longer expected to run\n`);
      return 0;
    });
  },
};
