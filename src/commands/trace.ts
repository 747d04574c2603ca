/** `qt trace ID` (logic in src/control/trace.ts). */
import { QtError, UsageError } from '../errors.js';
import type { QtCommand } from './command.js';
import { configFrom, intFlag } from './command.js';

export const traceCommand: QtCommand<{ id: string; json?: boolean; scan?: string }> = {
  command: 'trace <id>',
  describe: 'follow a signal, intent, plan or client order id through the pipeline and say where it stopped',
  builder: (y) =>
    y
      .positional('id', { type: 'string', describe: 'signal, intent, plan or client order id' })
      .option('scan', { type: 'string', default: '10000', describe: 'newest entries searched per stream' })
      .option('json', { type: 'boolean', describe: 'print JSON' }),
  async run(argv) {
    const scan = intFlag(argv.scan ?? '10000', '--scan', 1, 1_000_000)!;
    const cfg = await configFrom(argv);
    const { connectPipelineRedis } = await import('../redis/cluster-engine.js');
    const redis = await connectPipelineRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli', name: 'qt:trace', names: cfg.names });
    try {
      const { trace, formatTrace } = await import('../control/trace.js');
      const t = await trace(redis, cfg.names, String(argv.id), scan);
      if (!t.found && !argv.json) throw new QtError(t.summary, 1);
      process.stdout.write((argv.json ? JSON.stringify(t, null, 2) : formatTrace(t)) + '\n');
      return t.found ? 0 : 1;
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
  },
};
