/**
 * The one configuration loader: environment variables plus an optional env file,
 * validated by the checks of check.ts; every problem is reported at once, each naming the variable,
 * what is wrong, and the expected form (exit code 2).
 */
import { readFileSync } from 'node:fs';
import * as C from './check.js';
import { STREAMS, streamEnvVar, Names, type StreamName } from '../contract/names.js';
import { configError, UsageError } from '../errors.js';
import { readEnvFile } from './env-file.js';
import { redactUrl, registerSecret } from './redact.js';
import { isSentinelUrl, parseSentinelList, parseSentinelUrl, sentinelUrl } from '../redis/sentinel.js';

export const DEFAULT_SYMBOLS = [
  'BTCUSDT', 'ETHUSDT', 'SOLUSDT', 'XRPUSDT', 'BNBUSDT', 'ADAUSDT',
  'SUIUSDT', 'LINKUSDT', 'AVAXUSDT', 'LTCUSDT', 'DOTUSDT', 'NEARUSDT',
];

/** Every variable: name → [schema, default, description]. Documented in docs/configuration.md. */
export const VARIABLES = {
  REDIS_URL: [C.redisUrl(), 'redis://127.0.0.1:6379', 'Redis endpoint; rediss:// for TLS; user:password@ for ACL users; redis+sentinel://host:port[,host:port…]/master_name[/db] for a primary found through Redis Sentinel'],
  QT_REDIS_SENTINELS: [C.sentinelList(), '', 'Redis Sentinel: host:port[,host:port…] of the sentinels; the primary is the one they name for QT_REDIS_MASTER_NAME (REDIS_URL then gives only user:password and /db)'],
  QT_REDIS_MASTER_NAME: [C.matching(/^[^\s,/?#@]{1,200}$/, 'expected the master group name of `sentinel monitor <name> …` (no spaces, commas or slashes)'), 'mymaster', 'Redis Sentinel: the master group name'],
  QT_REDIS_SENTINEL_PASSWORD: [C.text(true), '', 'Redis Sentinel: the sentinels\' own password (requirepass in sentinel.conf), when they have one (secret)'],
  QT_REDIS_WAIT_REPLICAS: [C.int(0, 16), '', 'replicas that must acknowledge an order record (WAIT) before the order is sent; default 1 with Redis Sentinel, 0 otherwise (docs/operations.md, "Redis failover")'],
  QT_REDIS_WAIT_MS: [C.int(10, 60000), '1000', 'how long WAIT waits for QT_REDIS_WAIT_REPLICAS; past it the order is not sent and the plan is retried'],
  REDIS_TLS_CA_FILE: [C.text(true), '', 'CA certificate file for rediss:// with a private CA'],
  REDIS_TLS_INSECURE: [C.bool(), 'false', 'skip TLS certificate verification (testing only)'],
  QT_PREFIX: [C.matching(/^(?=.{1,64}$)[A-Za-z0-9_.-]*(\{[A-Za-z0-9_.-]+\})?[A-Za-z0-9_.-]*$/, 'expected letters, digits, _ . - (1-64), with at most one {hash tag} such as {quantum} (Redis Cluster)'), 'quantum', 'key prefix of every Redis name; on a Redis Cluster it must hold a hash tag, e.g. {quantum} (docs/redis-cluster.md)'],
  QT_EXCHANGE: [C.oneOf(['paper', 'binance'] as const), 'paper', 'exchange adapter: paper (embedded) or binance (ccxt binanceusdm)'],
  QT_BINANCE_MODE: [C.oneOf(['demo', 'live'] as const), 'demo', 'binance: demo (testnet demo trading) or live'],
  QT_LIVE_CONFIRM: [C.text(), '', 'must be I_UNDERSTAND_THIS_TRADES_REAL_MONEY, together with --live, for live trading'],
  QT_MARKET: [C.oneOf(['paper', 'binance', 'replay'] as const), 'paper', 'price feed: paper (seeded random walk), binance (public market data) or replay (recorded candles, QT_REPLAY_FILE)'],
  QT_REPLAY_FILE: [C.text(true), '', 'replay: recorded candle files, comma list, one per symbol (ccxt OHLCV JSON or Binance klines CSV)'],
  QT_REPLAY_SYMBOL: [C.symbols(), '', 'replay: the symbol of each QT_REPLAY_FILE, comma list in the same order (when a file name does not say it, e.g. data/candles.json); upper-cased'],
  QT_REPLAY_SPEED: [C.dec(0.001, 10000000), '1', 'replay: at most this many times real time (1 = real time; 2000 plays a 5-minute candle in 0.15 s at most)'],
  QT_REPLAY_FROM: [C.matching(/^(\d{10,13}|\d{4}-\d\d-\d\d(T[\d:.]+Z?)?)$/, 'expected epoch ms or an ISO time like 2021-11-16T06:00Z'), '', 'replay: first candle replayed (open time, UTC)'],
  QT_REPLAY_SEED: [C.int(0, 2147483647), '1', 'replay: seed of everything random in a replay (ids); printed in the run report'],
  QT_REPLAY_TO: [C.matching(/^(\d{10,13}|\d{4}-\d\d-\d\d(T[\d:.]+Z?)?)$/, 'expected epoch ms or an ISO time like 2021-11-16T14:00Z'), '', 'replay: replay candles opening before this time (UTC)'],
  QT_SYMBOLS: [C.symbols(), DEFAULT_SYMBOLS.join(','), 'symbols traded (comma list)'],
  QT_BATCH_SIZE: [C.int(1, 10000), '100', 'XREADGROUP COUNT per batch'],
  QT_BLOCK_MS: [C.int(1, 60000), '1000', 'XREADGROUP BLOCK milliseconds'],
  QT_RECLAIM_IDLE_MS: [C.int(100, 86400000), '30000', 'min idle before a dead consumer\'s pending entries are reclaimed'],
  QT_RECLAIM_EVERY_MS: [C.int(100, 86400000), '15000', 'how often pending entries are checked for reclaim'],
  QT_MAX_DELIVERIES: [C.int(1, 1000), '5', 'deliveries after which an entry is dead-lettered (poison message)'],
  QT_HEARTBEAT_MS: [C.int(100, 600000), '5000', 'heartbeat period; the heartbeat key lives 3 beats'],
  QT_LEASE_TTL_MS: [C.int(1000, 600000), '4000', 'TTL of a singleton stage\'s lease ({prefix}:lease:{stage}); renewed every quarter of it, a standby takes over within about this long'],
  QT_STOP_TIMEOUT_MS: [C.int(1000, 600000), '10000', 'a stop (SIGTERM, SIGINT, SIGHUP, --for) ends within this long whatever Redis does; what could not be committed stays pending'],
  QT_STREAM_MAXLEN: [C.int(100, 100000000), '100000', 'approximate MAXLEN cap of pipeline streams'],
  QT_TOOL_STREAM_MAXLEN: [C.int(100, 100000000), '10000', 'approximate MAXLEN cap of stage.rejected and dead.letter'],
  QT_MIN_CONFIDENCE: [C.dec(0, 1), '0.55', 'signals under this confidence are dropped (initial policy)'],
  QT_MAX_POSITION_USD: [C.dec(1, 10000000), '500', 'largest margin per position in USD (initial policy)'],
  QT_MIN_POSITION_USD: [C.dec(1, 10000000), '50', 'smallest margin per entry in USD'],
  QT_MAX_LEVERAGE: [C.int(1, 125), '10', 'largest leverage (initial policy)'],
  QT_MAX_OPEN_POSITIONS: [C.int(1, 1000), '10', 'open-position limit (initial policy)'],
  QT_ALLOW_UPSIZE: [C.bool(), 'true', 'upsize to the smallest valid quantity when under min notional (initial policy)'],
  QT_ENTRY_MAX_AGE_MS: [C.int(1000, 604800000), '60000', 'entries older than this are rejected intent_expired; exits never expire (initial policy)'],
  QT_TP_PCT: [C.dec(0.01, 100), '2', 'take profit distance in % of entry'],
  QT_SL_PCT: [C.dec(0.01, 100), '1', 'stop loss distance in % of entry'],
  QT_TRADER_COOLDOWN_MS: [C.int(0, 86400000), '60000', 'autonomous_trader: min time between entries on one symbol'],
  QT_SIGNAL_INTERVAL_MS: [C.int(100, 3600000), '5000', 'ai_engine: evaluation period'],
  QT_MARKET_TICK_MS: [C.int(10, 60000), '1000', 'market: price tick period'],
  QT_MARKET_SEED: [C.int(0, 2147483647), '42', 'market: random walk seed'],
  QT_PAPER_BALANCE: [C.dec(0, 1e12), '10000', 'paper exchange starting USDT balance'],
  QT_PAPER_SLIPPAGE_BPS: [C.dec(0, 1000), '2', 'paper exchange market-order slippage in basis points'],
  QT_PAPER_TAKER_FEE: [C.dec(0, 0.1), '0.0004', 'paper exchange taker fee rate'],
  QT_MARKETS_FILE: [C.text(true), '', 'exchangeInfo JSON to use instead of the shipped snapshot'],
  QT_HARVEST_LADDER: [
    C.matching(/^(\s*\d+(\.\d+)?\s*:\s*(0?\.\d+|1(\.0+)?)\s*)(,\s*\d+(\.\d+)?\s*:\s*(0?\.\d+|1(\.0+)?)\s*)*$/, 'expected R:fraction steps like 1:0.25,2:0.25'),
    '1:0.25,2:0.25',
    'harvest_brain: partial exits at these R multiples (then a trailing stop on the rest)',
  ],
  QT_HARVEST_TRAIL_R: [C.dec(0.1, 100), '1', 'harvest_brain: trailing stop distance in R behind the best price, after the ladder'],
  QT_HARVEST_EMERGENCY_R: [C.matching(/^-\d+(\.\d+)?$/, 'expected a negative R like -1.5'), '-1.5', 'harvest_brain: close everything at this adverse R'],
  QT_STOP_ON_EXCHANGE: [C.bool(), 'true', 'every open position keeps a protective STOP_MARKET (closePosition, mark price) resting on the exchange at its stop price (docs/exits-and-risk.md); false: exits live in harvest_brain only'],
  QT_STOP_GRACE_MS: [C.int(0, 3600000), '10000', 'POSITION_UNPROTECTED: an open position may be without a resting stop this long (placement in progress)'],
  QT_RECONCILE_POLICY: [C.oneOf(['report', 'adopt', 'close'] as const), 'report', 'reconciler: what to do about drift'],
  QT_RECONCILE_MS: [C.int(500, 3600000), '10000', 'reconciler: poll period'],
  QT_LOG_FORMAT: [C.oneOf(['pretty', 'json'] as const), 'pretty', 'log format: pretty (terminal) or json (journald)'],
  QT_LOG_LEVEL: [C.oneOf(['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const), 'info', 'log level'],
  BINANCE_API_KEY: [C.text(true), '', 'Binance API key (secret)'],
  BINANCE_API_SECRET: [C.text(true), '', 'Binance API secret (secret)'],
  BINANCE_API_KEY_FILE: [C.text(true), '', 'file holding the Binance API key (systemd LoadCredential=)'],
  BINANCE_API_SECRET_FILE: [C.text(true), '', 'file holding the Binance API secret'],
  QT_BINANCE_BASE_URL: [
    C.matching(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?\/?$/, 'expected http(s)://host[:port] with no path (paths stay /fapi/v1/…)'),
    '',
    'binance: replaces the host of every fapi endpoint (a proxy, a Binance-compatible venue, a conformance server); empty: Binance\'s own',
  ],
  QT_BINANCE_BASE_URL_CONFIRM: [C.text(), '', 'LIVE through a non-Binance QT_BINANCE_BASE_URL host: must be I_UNDERSTAND_THIS_TRADES_REAL_MONEY as well'],
  QT_ORDER_LOOKUP_MS: [C.int(0, 600000), '15000', 'after an unknown order outcome: how long the order must stay "does not exist" (-2013) before it is sent again'],
} as const satisfies Record<string, readonly [C.Check<unknown>, string, string]>;

export type VarName = keyof typeof VARIABLES;
export const SECRET_VARS: VarName[] = ['BINANCE_API_KEY', 'BINANCE_API_SECRET', 'QT_REDIS_SENTINEL_PASSWORD'];
type Values = { [K in VarName]: (typeof VARIABLES)[K][0] extends C.Check<infer T> ? T : never };

export interface Config {
  /** Where Redis is: a redis:// / rediss:// URL, or a redis+sentinel:// URL (QT_REDIS_SENTINELS builds one; src/redis/sentinel.ts). */
  redisUrl: string;
  /**
   * Replication before an order leaves (WAIT, src/redis/replication.ts): replicas that must
   * hold the order record first (0: no WAIT), and how long to wait for them (ms).
   */
  redisWait: { replicas: number; timeoutMs: number };
  redisTls: { caFile?: string; insecure: boolean };
  prefix: string;
  streamOverrides: Partial<Record<StreamName, string>>;
  names: Names;
  exchange: 'paper' | 'binance';
  binanceMode: 'demo' | 'live';
  liveConfirmed: boolean;
  market: 'paper' | 'binance' | 'replay';
  /** QT_MARKET=replay: the files (one per symbol), speed (× real time) and window (epoch ms). */
  replay: { files: string[]; symbols?: string[]; speed: number; from?: number; to?: number; seed: number };
  symbols: string[];
  runtime: {
    batchSize: number;
    blockMs: number;
    reclaimIdleMs: number;
    reclaimEveryMs: number;
    maxDeliveries: number;
    heartbeatMs: number;
    /** Singleton lease TTL in ms (QT_LEASE_TTL_MS). */
    leaseTtlMs: number;
    /** Upper bound of a stop in ms (QT_STOP_TIMEOUT_MS). */
    stopTimeoutMs: number;
    streamMaxLen: number;
    toolStreamMaxLen: number;
  };
  trading: {
    minConfidence: number;
    maxPositionUsd: number;
    minPositionUsd: number;
    maxLeverage: number;
    maxOpenPositions: number;
    allowUpsize: boolean;
    /** Initial policy `entry_max_age_ms` (ms). */
    entryMaxAgeMs: number;
    tpPct: number;
    slPct: number;
    cooldownMs: number;
    signalIntervalMs: number;
  };
  market_: { tickMs: number; seed: number };
  paper: { balance: number; slippageBps: number; takerFee: number; marketsFile?: string };
  reconcile: { policy: 'report' | 'adopt' | 'close'; everyMs: number };
  harvest: { ladder: string; trailR: number; emergencyR: number };
  /** Protective stops on the exchange (QT_STOP_ON_EXCHANGE, QT_STOP_GRACE_MS ms). */
  protect: { enabled: boolean; graceMs: number };
  log: { format: 'pretty' | 'json'; level: string };
  /** Credentials; never printed (see redactedConfig). */
  binance: { apiKey?: string; apiSecret?: string };
  /** QT_BINANCE_BASE_URL (no trailing slash), undefined for Binance's own hosts. */
  binanceBaseUrl?: string;
  /** QT_BINANCE_BASE_URL_CONFIRM is the live phrase. */
  baseUrlConfirmed: boolean;
  /** QT_ORDER_LOOKUP_MS: the window of "does not exist" answers before a resend, ms. */
  orderLookupMs: number;
  /** Where each value came from, for `qt config show`. */
  sources: Record<string, 'default' | 'env' | 'file'>;
  /** The effective value of every variable as text, secrets masked. */
  effective: Record<string, string>;
}

export const LIVE_CONFIRM_PHRASE = 'I_UNDERSTAND_THIS_TRADES_REAL_MONEY';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  envFile?: string;
  /** Overrides from CLI flags (applied last). */
  overrides?: Partial<Record<VarName, string>>;
  /**
   * The flag each override came from (`QT_REPLAY_SPEED` → `--speed`): a problem with an
   * override names the flag the user typed, not the variable.
   */
  overrideFlags?: Partial<Record<VarName, string>>;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const fileLines: Record<string, number> = {};
  const file = opts.envFile ? readEnvFile(opts.envFile, fileLines) : {};
  const problems: string[] = [];
  const sources: Record<string, 'default' | 'env' | 'file'> = {};
  const raw = (name: string): string | undefined => {
    const o = opts.overrides?.[name as VarName];
    if (o !== undefined) {
      sources[name] = 'env';
      return o;
    }
    // A value equal to the file's came from the file (Node 20 loads `--env-file` into the
    // environment itself under `npx qt`; systemd's EnvironmentFile= does the same).
    if (env[name] !== undefined && env[name] !== '' && env[name] !== file[name]) {
      sources[name] = 'env';
      return env[name];
    }
    if (file[name] !== undefined && file[name] !== '') {
      sources[name] = 'file';
      return file[name];
    }
    return undefined;
  };

  const v = {} as Record<string, unknown>;
  const effective: Record<string, string> = {};
  for (const [name, [schema, dflt]] of Object.entries(VARIABLES) as [VarName, readonly [C.Check<unknown>, string, string]][]) {
    const given = raw(name);
    effective[name] = SECRET_VARS.includes(name) ? (given ? '***' : '') : name === 'REDIS_URL' ? redactUrl(given ?? dflt) : (given ?? dflt);
    if (name === 'QT_REDIS_WAIT_REPLICAS' && given === undefined) effective[name] = '(1 with Redis Sentinel, else 0)';
    if (given === undefined) {
      sources[name] = 'default';
      if (dflt === '') {
        v[name] = undefined;
        continue;
      }
    }
    const r = schema(given ?? dflt);
    if (r.ok) {
      v[name] = r.value;
      // Shown as used: symbols upper-cased (Binance symbols are upper case).
      if (Array.isArray(r.value) && (name === 'QT_SYMBOLS' || name === 'QT_REPLAY_SYMBOL')) effective[name] = r.value.join(',');
    }
    else {
      const shown = SECRET_VARS.includes(name) || name === 'REDIS_URL' ? redactUrl(String(given)) : JSON.stringify(given);
      const at = sources[name] === 'file' && fileLines[name] ? `${opts.envFile}:${fileLines[name]}: ` : '';
      const flag = opts.overrides?.[name] !== undefined ? opts.overrideFlags?.[name] : undefined;
      problems.push(`${at}${flag ?? name}: ${r.message} (got ${SECRET_VARS.includes(name) ? '***' : shown})`);
    }
  }

  const streamOverrides: Partial<Record<StreamName, string>> = {};
  for (const s of STREAMS) {
    const g = raw(streamEnvVar(s));
    if (g === undefined) continue;
    if (!/^[A-Za-z0-9_.:-]{1,200}$/.test(g)) problems.push(`${streamEnvVar(s)}: expected a stream name like ${s} (got ${JSON.stringify(g)})`);
    else {
      streamOverrides[s] = g;
      effective[streamEnvVar(s)] = g;
    }
  }
  for (const k of Object.keys({ ...file, ...env })) {
    if (k.startsWith('QT_STREAM_') && k !== 'QT_STREAM_MAXLEN' && !STREAMS.some((s) => streamEnvVar(s) === k)) {
      problems.push(`${k}: not a stream of the contract (expected one of ${STREAMS.map(streamEnvVar).join(', ')})`);
    }
  }

  const values = v as Values;
  // Credentials from files (systemd credentials, secrets managers).
  let apiKey = values.BINANCE_API_KEY as string | undefined;
  let apiSecret = values.BINANCE_API_SECRET as string | undefined;
  const fromFile = (varName: string, path: string | undefined): string | undefined => {
    if (!path) return undefined;
    try {
      return readFileSync(path, 'utf8').trim();
    } catch (e) {
      problems.push(`${varName}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  };
  apiKey = apiKey ?? fromFile('BINANCE_API_KEY_FILE', values.BINANCE_API_KEY_FILE as string | undefined);
  apiSecret = apiSecret ?? fromFile('BINANCE_API_SECRET_FILE', values.BINANCE_API_SECRET_FILE as string | undefined);
  registerSecret(apiKey);
  registerSecret(apiSecret);
  if (values.REDIS_URL) {
    try {
      const url = values.REDIS_URL as string;
      if (isSentinelUrl(url)) {
        const t = parseSentinelUrl(url);
        registerSecret(t.password);
        registerSecret(t.sentinelPassword);
      } else registerSecret(decodeURIComponent(new URL(url).password));
    } catch {
      /* reported above */
    }
  }
  registerSecret(values.QT_REDIS_SENTINEL_PASSWORD as string | undefined);
  const redisUrl = sentinelTarget(values, sources, problems);
  // What is used: the sentinel URL QT_REDIS_SENTINELS built (REDIS_URL's host:port is not).
  if (redisUrl !== values.REDIS_URL) effective.REDIS_URL = redactUrl(redisUrl);

  if (values.QT_MARKET === 'replay' && !String(values.QT_REPLAY_FILE ?? '').trim()) {
    problems.push('QT_REPLAY_FILE: required with QT_MARKET=replay (a candle file per symbol, e.g. data/XRPUSDT-perp-5m-2021-11.ohlcv.json)');
  }
  const replayFiles = String(values.QT_REPLAY_FILE ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  const replaySymbols = values.QT_REPLAY_SYMBOL as string[] | undefined;
  if (replaySymbols && replayFiles.length && replaySymbols.length !== replayFiles.length) {
    const flag = (n: VarName) => (opts.overrides?.[n] !== undefined ? opts.overrideFlags?.[n] : undefined) ?? n;
    problems.push(`${flag('QT_REPLAY_SYMBOL')}: ${replaySymbols.length} symbol${replaySymbols.length > 1 ? 's' : ''} for ${replayFiles.length} replay file${replayFiles.length > 1 ? 's' : ''} (one symbol per file, in the order of ${flag('QT_REPLAY_FILE')})`);
  }
  if (problems.length) throw configError(problems);

  const prefix = values.QT_PREFIX as string;
  return {
    redisUrl,
    redisWait: {
      replicas: (values.QT_REDIS_WAIT_REPLICAS as number | undefined) ?? (isSentinelUrl(redisUrl) ? 1 : 0),
      timeoutMs: values.QT_REDIS_WAIT_MS as number,
    },
    redisTls: { caFile: values.REDIS_TLS_CA_FILE as string | undefined, insecure: values.REDIS_TLS_INSECURE as boolean },
    prefix,
    streamOverrides,
    names: new Names({ prefix, streamOverrides }),
    exchange: values.QT_EXCHANGE as 'paper' | 'binance',
    binanceMode: values.QT_BINANCE_MODE as 'demo' | 'live',
    liveConfirmed: values.QT_LIVE_CONFIRM === LIVE_CONFIRM_PHRASE,
    market: values.QT_MARKET as 'paper' | 'binance' | 'replay',
    replay: {
      files: replayFiles,
      symbols: replaySymbols,
      speed: values.QT_REPLAY_SPEED as number,
      from: parseTime(values.QT_REPLAY_FROM as string | undefined),
      to: parseTime(values.QT_REPLAY_TO as string | undefined),
      seed: values.QT_REPLAY_SEED as number,
    },
    symbols: values.QT_SYMBOLS as string[],
    runtime: {
      batchSize: values.QT_BATCH_SIZE as number,
      blockMs: values.QT_BLOCK_MS as number,
      reclaimIdleMs: values.QT_RECLAIM_IDLE_MS as number,
      reclaimEveryMs: values.QT_RECLAIM_EVERY_MS as number,
      maxDeliveries: values.QT_MAX_DELIVERIES as number,
      heartbeatMs: values.QT_HEARTBEAT_MS as number,
      leaseTtlMs: values.QT_LEASE_TTL_MS as number,
      stopTimeoutMs: values.QT_STOP_TIMEOUT_MS as number,
      streamMaxLen: values.QT_STREAM_MAXLEN as number,
      toolStreamMaxLen: values.QT_TOOL_STREAM_MAXLEN as number,
    },
    trading: {
      minConfidence: values.QT_MIN_CONFIDENCE as number,
      maxPositionUsd: values.QT_MAX_POSITION_USD as number,
      minPositionUsd: values.QT_MIN_POSITION_USD as number,
      maxLeverage: values.QT_MAX_LEVERAGE as number,
      maxOpenPositions: values.QT_MAX_OPEN_POSITIONS as number,
      allowUpsize: values.QT_ALLOW_UPSIZE as boolean,
      entryMaxAgeMs: values.QT_ENTRY_MAX_AGE_MS as number,
      tpPct: values.QT_TP_PCT as number,
      slPct: values.QT_SL_PCT as number,
      cooldownMs: values.QT_TRADER_COOLDOWN_MS as number,
      signalIntervalMs: values.QT_SIGNAL_INTERVAL_MS as number,
    },
    market_: { tickMs: values.QT_MARKET_TICK_MS as number, seed: values.QT_MARKET_SEED as number },
    paper: {
      balance: values.QT_PAPER_BALANCE as number,
      slippageBps: values.QT_PAPER_SLIPPAGE_BPS as number,
      takerFee: values.QT_PAPER_TAKER_FEE as number,
      marketsFile: values.QT_MARKETS_FILE as string | undefined,
    },
    reconcile: { policy: values.QT_RECONCILE_POLICY as 'report' | 'adopt' | 'close', everyMs: values.QT_RECONCILE_MS as number },
    protect: { enabled: values.QT_STOP_ON_EXCHANGE as boolean, graceMs: values.QT_STOP_GRACE_MS as number },
    harvest: { ladder: values.QT_HARVEST_LADDER as string, trailR: values.QT_HARVEST_TRAIL_R as number, emergencyR: Number(values.QT_HARVEST_EMERGENCY_R) },
    log: { format: values.QT_LOG_FORMAT as 'pretty' | 'json', level: values.QT_LOG_LEVEL as string },
    binance: { apiKey, apiSecret },
    binanceBaseUrl: (values.QT_BINANCE_BASE_URL as string | undefined)?.replace(/\/+$/, '') || undefined,
    baseUrlConfirmed: values.QT_BINANCE_BASE_URL_CONFIRM === LIVE_CONFIRM_PHRASE,
    orderLookupMs: values.QT_ORDER_LOOKUP_MS as number,
    sources,
    effective,
  };
}

/**
 * The Redis URL to use: REDIS_URL as given, or, with QT_REDIS_SENTINELS, a redis+sentinel://
 * URL of those sentinels and QT_REDIS_MASTER_NAME carrying REDIS_URL's user:password and
 * database (its host:port is not used: the sentinels name the primary). QT_REDIS_SENTINEL_PASSWORD
 * goes into the URL's `sentinel_password`. A conflict is a problem naming the variable.
 */
function sentinelTarget(values: Record<string, unknown>, sources: Record<string, string>, problems: string[]): string {
  const url = String(values.REDIS_URL ?? '');
  const list = values.QT_REDIS_SENTINELS as string | undefined;
  const masterName = values.QT_REDIS_MASTER_NAME as string;
  const sentinelPassword = values.QT_REDIS_SENTINEL_PASSWORD as string | undefined;
  if (isSentinelUrl(url)) {
    let t;
    try {
      t = parseSentinelUrl(url);
    } catch {
      return url; // reported by the REDIS_URL check
    }
    if (list) problems.push('QT_REDIS_SENTINELS: set either it or a redis+sentinel:// REDIS_URL, not both');
    if (sources.QT_REDIS_MASTER_NAME !== 'default' && masterName !== t.masterName) {
      problems.push(`QT_REDIS_MASTER_NAME: ${JSON.stringify(masterName)} differs from the master name in REDIS_URL (${JSON.stringify(t.masterName)}); set one of them`);
    }
    if (sentinelPassword && t.sentinelPassword && sentinelPassword !== t.sentinelPassword) {
      problems.push('QT_REDIS_SENTINEL_PASSWORD: differs from sentinel_password in REDIS_URL; set one of them');
    }
    return sentinelPassword && !t.sentinelPassword ? sentinelUrl({ ...t, sentinelPassword }) : url;
  }
  if (!list) {
    if (sentinelPassword) problems.push('QT_REDIS_SENTINEL_PASSWORD: set without QT_REDIS_SENTINELS (or a redis+sentinel:// REDIS_URL)');
    return url;
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url; // reported by the REDIS_URL check
  }
  let sentinels;
  try {
    sentinels = parseSentinelList(list);
  } catch {
    return url; // reported by the QT_REDIS_SENTINELS check
  }
  const db = u.pathname.replace(/^\//, '');
  return sentinelUrl({
    tls: u.protocol === 'rediss:',
    sentinels,
    masterName,
    db: db ? Number(db) : 0,
    username: decodeURIComponent(u.username) || undefined,
    password: decodeURIComponent(u.password) || undefined,
    sentinelPassword,
  });
}

/** Epoch ms from `1637042400000` or an ISO time (`2021-11-16T06:00Z`, UTC when no zone); undefined when empty. */
function parseTime(v: string | undefined): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const iso = /T/.test(v) && !/(Z|[+-]\d\d:?\d\d)$/.test(v) ? `${v}Z` : v;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

/** The effective configuration with every secret redacted (`qt config show`). */
export function redactedConfig(c: Config): Record<string, unknown> {
  const { names: _n, binance, redisUrl, ...rest } = c;
  return {
    ...rest,
    redisUrl: redactUrl(redisUrl),
    binance: { apiKey: binance.apiKey ? '***' : null, apiSecret: binance.apiSecret ? '***' : null },
  };
}
