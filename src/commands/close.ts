/** `qt close SYMBOL [--pct]`: a MANUAL exit intent through the same pipeline (logic in src/control/close.ts). */
import { UsageError } from '../errors.js';
import type { QtCommand } from './command.js';
import { configFrom } from './command.js';

const CLOSE_PCTS = [25, 50, 75, 100] as const;

export const close: QtCommand<{ symbol: string; pct?: string; json?: boolean }> = {
  command: 'close <symbol>',
  describe: 'close an open position (all, or --pct 25|50|75) through the pipeline as a MANUAL exit',
  builder: (y) =>
    y
      .positional('symbol', { type: 'string', describe: 'symbol, e.g. BTCUSDT' })
      .option('pct', { type: 'string', default: '100', describe: 'how much to close: 25, 50, 75 or 100' })
      .option('json', { type: 'boolean', describe: 'print JSON' }),
  async run(argv) {
    const pct = /^\d+$/.test(String(argv.pct ?? '100').trim()) ? Number(String(argv.pct ?? '100').trim()) : NaN;
    if (!(CLOSE_PCTS as readonly number[]).includes(pct)) throw new UsageError(`--pct: expected one of ${CLOSE_PCTS.join(', ')} (got ${JSON.stringify(String(argv.pct))})`);
    const cfg = await configFrom(argv);
    const { connectPipelineRedis } = await import('../redis/cluster-engine.js');
    const redis = await connectPipelineRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli', name: 'qt:close', names: cfg.names });
    try {
      const r = await (await import('../control/close.js')).sendClose(redis, cfg.names, String(argv.symbol), pct);
      process.stdout.write(argv.json ? JSON.stringify(r) + '\n'
        : `sent ${r.action} for ${r.symbol} (${r.position.side} ${r.position.qty}): intent ${r.intent_id}\n  follow it with: qt trace ${r.intent_id}\n`);
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
  },
};
