import type { QtCommand } from './command.js';
import { configFrom, intFlag, parseDuration } from './command.js';
import { UsageError } from '../errors.js';

interface UpArgs {
  stages?: string;
  exchange?: 'paper' | 'binance';
  market?: 'paper' | 'binance' | 'replay';
  'replay-file'?: string;
  'replay-symbol'?: string;
  seed?: string;
  speed?: string;
  'replay-from'?: string;
  'replay-to'?: string;
  for?: string;
  demo?: boolean;
  live?: boolean;
  console?: boolean;
  'metrics-port'?: string;
  'metrics-host'?: string;
}

/** The variable each flag of `qt up` sets: a bad value is reported under the flag. */
const UP_FLAGS: Record<string, string> = {
  QT_EXCHANGE: '--exchange',
  QT_MARKET: '--market',
  QT_REPLAY_FILE: '--replay-file',
  QT_REPLAY_SYMBOL: '--replay-symbol',
  QT_REPLAY_SPEED: '--speed',
  QT_REPLAY_SEED: '--seed',
  QT_REPLAY_FROM: '--replay-from',
  QT_REPLAY_TO: '--replay-to',
};

export const up: QtCommand<UpArgs> = {
  command: 'up',
  describe: 'run the engine daemon (all stages by default) on the paper exchange or Binance',
  builder: (y) =>
    y
      .epilog('On a Redis Cluster: set a prefix with a hash tag (QT_PREFIX={quantum}); the engine then runs on the primary serving that slot, and an untagged prefix is refused (docs/redis-cluster.md).')
      .option('stages', { type: 'string', describe: 'comma list of stages to run (default: all)' })
      .option('exchange', { choices: ['paper', 'binance'] as const, describe: 'exchange adapter (default: paper)' })
      .option('market', { choices: ['paper', 'binance', 'replay'] as const, describe: 'price feed (default: paper; replay: recorded candles)' })
      .option('replay-file', { type: 'string', describe: 'replay: candle file(s), comma list, one per symbol (ccxt OHLCV JSON or Binance klines CSV)' })
      .option('replay-symbol', { type: 'string', describe: 'replay: the symbol of each file when its name does not say it (comma list in the order of --replay-file; QT_REPLAY_SYMBOL)' })
      .option('speed', { type: 'string', describe: 'replay: times real time (1 = real time)' })
      .option('seed', { type: 'string', describe: 'replay: seed of everything random in the replay (default 1; QT_REPLAY_SEED)' })
      .option('replay-from', { type: 'string', describe: 'replay: first candle (ISO time or epoch ms)' })
      .option('replay-to', { type: 'string', describe: 'replay: stop before this candle (ISO time or epoch ms)' })
      .option('for', { type: 'string', describe: 'stop after this long (30s, 5m, 2h)' })
      .option('demo', { type: 'boolean', describe: 'binance: demo trading (the futures testnet)' })
      .option('live', { type: 'boolean', describe: 'binance: live trading (also needs QT_LIVE_CONFIRM)' })
      .option('metrics-port', { type: 'string', describe: 'serve Prometheus metrics on this port (/metrics)' })
      .option('metrics-host', { type: 'string', describe: 'address the metrics server listens on (default 127.0.0.1)' })
      .option('console', { type: 'boolean', describe: 'open the console in this terminal (q stops the engine); starts a private Redis under .qt/ when none answers' }),
  async run(argv) {
    const overrides: Record<string, string> = {};
    if (argv.exchange) overrides.QT_EXCHANGE = argv.exchange;
    if (argv.market) overrides.QT_MARKET = argv.market;
    if (argv['replay-file'] !== undefined) overrides.QT_REPLAY_FILE = argv['replay-file'];
    if (argv['replay-symbol'] !== undefined) overrides.QT_REPLAY_SYMBOL = argv['replay-symbol'];
    if (argv.speed !== undefined) overrides.QT_REPLAY_SPEED = String(argv.speed);
    if (argv.seed !== undefined) overrides.QT_REPLAY_SEED = String(argv.seed);
    if (argv['replay-from'] !== undefined) overrides.QT_REPLAY_FROM = argv['replay-from'];
    if (argv['replay-to'] !== undefined) overrides.QT_REPLAY_TO = argv['replay-to'];
    if ((argv['replay-file'] !== undefined || argv['replay-symbol'] !== undefined || argv.speed !== undefined) && (argv.market ?? process.env.QT_MARKET) !== 'replay') {
      overrides.QT_MARKET = 'replay';
    }
    if (argv.demo && argv.live) throw new UsageError('--demo and --live exclude each other');
    if (argv.live) overrides.QT_BINANCE_MODE = 'live';
    if (argv.demo) overrides.QT_BINANCE_MODE = 'demo';
    const forMs = argv.for !== undefined ? parseDuration(argv.for, '--for') : undefined;
    if (forMs !== undefined && forMs < 1) {
      throw new UsageError(`--for: expected a duration longer than 0, like 30s or 5m (got ${JSON.stringify(argv.for)}); leave --for out to run until stopped`);
    }
    const mp = intFlag(argv['metrics-port'], '--metrics-port', 1, 65535, 'a port from 1 to 65535');
    const metrics = { metricsPort: mp, metricsHost: argv['metrics-host'] };
    let config = await configFrom(argv, overrides, UP_FLAGS);
    // The same checks as `qt config show` (one function), before anything connects.
    const { checkBeforeConnect } = await import('../config/preconnect.js');
    const { flagsOf } = await import('./command.js');
    await checkBeforeConnect(config, flagsOf(overrides, UP_FLAGS));
    const { runDaemon, modeOf } = await import('../engine/daemon.js');
    if (config.market === 'replay' && !argv.console) {
      const { runReplay } = await import('../engine/replay-daemon.js');
      return runReplay(config, { stages: argv.stages, forMs, ...metrics }, runDaemon);
    }
    if (argv.console) {
      const { ensureRedis, privateRedisNotice, privateRedisRefusal } = await import('../engine/private-redis.js');
      const requested = config.redisUrl;
      const redis = await ensureRedis(requested, process.cwd(), privateRedisRefusal(requested, modeOf(config)));
      let notice: string[] | undefined;
      if (redis.url !== requested) {
        notice = privateRedisNotice(requested, redis);
        process.stderr.write(notice.map((l) => `qt: ${l}\n`).join(''));
        config = await configFrom(argv, { ...overrides, REDIS_URL: redis.url }, UP_FLAGS);
      }
      try {
        return await runDaemon(config, { stages: argv.stages, forMs, console: true, notice, ...metrics });
      } finally {
        await redis.stop();
      }
    }
    return runDaemon(config, { stages: argv.stages, forMs, ...metrics });
  },
};
