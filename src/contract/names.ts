/**
 * The one module that builds every Redis name: streams, groups, consumers, keys.
 * Nothing else in the project concatenates a Redis key (STYLE.md: "one place builds
 * every Redis name"). Names follow CONTRACT.md §1 and §2.
 */
import { hostname } from 'node:os';

/** Every stream of the contract, by its contract name. */
export const STREAMS = [
  'ai.signal_generated',
  'trade.intent',
  'apply.plan',
  'apply.approved',
  'apply.result',
  'execution.result',
  'risk.proposal',
  'policy.updated',
  'stage.rejected',
  'dead.letter',
  // additions (compatible)
  'rl.proposal',
] as const;
export type StreamName = (typeof STREAMS)[number];

/** Every stage/service of the engine, in pipeline order. */
export const STAGES = [
  'market',
  'ai_engine',
  'autonomous_trader',
  'intent_bridge',
  'apply_layer',
  'intent_executor',
  'harvest_brain',
  'risk_guard',
  'reconciler',
  'rl_agent',
  'verify_ensemble',
] as const;
export type StageName = (typeof STAGES)[number];

/** Stages that need the exchange (market rules, orders, positions) and, on Binance, the API key. */
export const EXCHANGE_STAGES: readonly StageName[] = ['intent_bridge', 'intent_executor', 'harvest_brain', 'reconciler', 'risk_guard'];

/**
 * Stages that must run once per prefix (CONTRACT.md §2, `{prefix}:lease:{stage}`): every
 * stage that ticks on a timer, and the consumers whose state is one process's memory
 * (rl_agent). A second engine's copies wait as standby until the lease is free.
 */
export const SINGLETON_STAGES: readonly StageName[] = ['market', 'ai_engine', 'harvest_brain', 'risk_guard', 'reconciler', 'rl_agent', 'verify_ensemble'];

/** Which stream each consuming stage reads (its group is named after the stage). */
export const STAGE_INPUT: Partial<Record<StageName, StreamName>> = {
  autonomous_trader: 'ai.signal_generated',
  intent_bridge: 'trade.intent',
  apply_layer: 'apply.plan',
  intent_executor: 'apply.approved',
  rl_agent: 'apply.result',
};

/** Streams each stage writes. */
export const STAGE_OUTPUTS: Partial<Record<StageName, StreamName[]>> = {
  ai_engine: ['ai.signal_generated'],
  autonomous_trader: ['trade.intent'],
  intent_bridge: ['apply.plan'],
  apply_layer: ['apply.approved'],
  intent_executor: ['apply.result', 'execution.result'],
  harvest_brain: ['trade.intent'],
  risk_guard: ['risk.proposal'],
  reconciler: ['trade.intent'],
  rl_agent: ['rl.proposal'],
};

/** Streams that cap at MAXLEN ~ 10000 and are read by tools only. */
export const TOOL_STREAMS: StreamName[] = ['stage.rejected', 'dead.letter'];

export function streamEnvVar(s: StreamName): string {
  return 'QT_STREAM_' + s.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export interface NamesOptions {
  prefix?: string;
  /** contract stream name → configured name (a bare name, or a full key containing ':'). */
  streamOverrides?: Partial<Record<StreamName, string>>;
}

/**
 * How long an order key (ours and the paper exchange's) is kept once the order is final
 * (FILLED / REJECTED): its entry is acknowledged in the same transaction, so it is never
 * delivered again; the key only answers look-ups (`qt trace`) and duplicates of the same
 * plan id, which the apply layer's permit (1 day) stops first.
 */
export const ORDER_TTL_S = 7 * 86400;
/** The paper exchange's order log keeps this many newest client order ids. */
export const PAPER_ORDER_LOG_MAX = 100_000;

export class Names {
  readonly prefix: string;
  private readonly streamKeys: Record<StreamName, string>;
  private readonly byKey = new Map<string, StreamName>();

  constructor(opts: NamesOptions = {}) {
    this.prefix = opts.prefix ?? 'quantum';
    const keys = {} as Record<StreamName, string>;
    for (const s of STREAMS) {
      const o = opts.streamOverrides?.[s];
      keys[s] = o ? (o.includes(':') ? o : `${this.prefix}:stream:${o}`) : `${this.prefix}:stream:${s}`;
      this.byKey.set(keys[s], s);
    }
    this.streamKeys = keys;
  }

  /** `{prefix}:stream:{name}` (or its configured override). */
  stream(s: StreamName): string {
    return this.streamKeys[s];
  }
  /** The contract name of a stream key, if it is one of ours. */
  streamNameOf(key: string): StreamName | undefined {
    return this.byKey.get(key);
  }
  /** The short name of any `{prefix}:stream:*` key (for streams not in the contract). */
  shortStreamName(key: string): string {
    const p = `${this.prefix}:stream:`;
    return key.startsWith(p) ? key.slice(p.length) : key;
  }
  /** A stream outside the contract under the same prefix (the benchmark's relay hops). */
  extraStream(name: string): string {
    return `${this.prefix}:stream:${name}`;
  }
  /** Is this key a stream key under the prefix (ours or not)? */
  isStreamKey(key: string): boolean {
    return key.startsWith(`${this.prefix}:stream:`);
  }
  /** Pattern matching every stream key under the prefix. */
  streamPattern(): string {
    return `${this.prefix}:stream:*`;
  }

  group(stage: StageName | string): string {
    return stage;
  }
  consumer(pid: number = process.pid, host: string = hostname()): string {
    return `${host}:${pid}`;
  }

  position(symbol: string): string {
    return `${this.prefix}:position:${symbol}`;
  }
  ledger(symbol: string): string {
    return `${this.prefix}:position:ledger:${symbol}`;
  }
  snapshot(symbol: string): string {
    return `${this.prefix}:position:snapshot:${symbol}`;
  }
  /** Pattern matching every key under the prefix (the diagnostics' key audit). */
  keyPattern(): string {
    return `${this.prefix}:*`;
  }
  positionPattern(): string {
    return `${this.prefix}:position:*`;
  }
  /** Classifies a `position:*` key: a position, a ledger, a snapshot, or not ours. */
  classifyPositionKey(key: string): { kind: 'position' | 'ledger' | 'snapshot'; symbol: string } | null {
    const p = `${this.prefix}:position:`;
    if (!key.startsWith(p)) return null;
    const rest = key.slice(p.length);
    if (rest.startsWith('ledger:')) return { kind: 'ledger', symbol: rest.slice(7) };
    if (rest.startsWith('snapshot:')) return { kind: 'snapshot', symbol: rest.slice(9) };
    if (rest.length === 0 || rest.includes(':')) return null;
    return { kind: 'position', symbol: rest };
  }

  service(name: string): string {
    return `${this.prefix}:svc:${name}`;
  }
  servicePattern(): string {
    return `${this.prefix}:svc:*`;
  }
  registry(): string {
    return `${this.prefix}:svc:registry`;
  }
  /** The service name of a `svc:*` key, or null for the registry / not ours. */
  serviceNameOf(key: string): string | null {
    const p = `${this.prefix}:svc:`;
    if (!key.startsWith(p) || key === this.registry()) return null;
    return key.slice(p.length);
  }

  metrics(stage: string, minute: number): string {
    return `${this.prefix}:metrics:${stage}:${minute}`;
  }
  /** Pattern of a stage's per-minute metrics hashes (all stages when omitted). */
  metricsPattern(stage = '*'): string {
    return `${this.prefix}:metrics:${stage}:*`;
  }
  /** Is this key a per-minute metrics hash under the prefix? */
  isMetricsKey(key: string): boolean {
    return key.startsWith(`${this.prefix}:metrics:`);
  }
  /** Pattern of every contract-shaped stream key under any prefix (`*:stream:*`): finding other prefixes. */
  static anyStreamPattern(): string {
    return '*:stream:*';
  }
  /** The prefix of a `{prefix}:stream:{name}` key, or null. */
  static prefixOfStreamKey(key: string): string | null {
    const at = key.indexOf(':stream:');
    return at > 0 ? key.slice(0, at) : null;
  }
  /** The ACL key rule that lets a user read every key under the prefix (`%R~` needs Redis 7.0). */
  readRule(): string {
    return `%R~${this.prefix}:*`;
  }
  static minuteOf(ms: number): number {
    return Math.floor(ms / 60000);
  }

  policy(): string {
    return `${this.prefix}:policy:current`;
  }
  killSwitch(): string {
    return `${this.prefix}:control:kill_switch`;
  }
  price(symbol: string): string {
    return `${this.prefix}:price:${symbol}`;
  }
  order(clientOrderId: string): string {
    return `${this.prefix}:order:${clientOrderId}`;
  }
  /** The singleton lease of a stage: a string `{host}:{pid}` with a TTL (CONTRACT.md §2). */
  lease(stage: string): string {
    return `${this.prefix}:lease:${stage}`;
  }
  /** Pattern matching every lease key under the prefix. */
  leasePattern(): string {
    return `${this.prefix}:lease:*`;
  }
  /** The stage of a `lease:*` key, or null when it is not one. */
  leaseStageOf(key: string): string | null {
    const p = `${this.prefix}:lease:`;
    return key.startsWith(p) && key.length > p.length ? key.slice(p.length) : null;
  }
  /** apply_layer's permit for a plan (duplicate-plan detection; value: the permit id; TTL a day). */
  permit(planId: string): string {
    return `${this.prefix}:permit:${planId}`;
  }

  // --- additions (compatible): keys of our own components ---
  /** The paper exchange's account state (balance, fees). */
  paperAccount(): string {
    return `${this.prefix}:paper:account`;
  }
  /** The paper exchange's position for a symbol (the "exchange side" of reconciliation). */
  paperPosition(symbol: string): string {
    return `${this.prefix}:paper:position:${symbol}`;
  }
  /** The paper exchange's record of an order, by client order id (idempotency). */
  paperOrder(clientOrderId: string): string {
    return `${this.prefix}:paper:order:${clientOrderId}`;
  }
  /** Every order the paper exchange accepted, in order (audit: no client id twice). */
  paperOrderLog(): string {
    return `${this.prefix}:paper:orders`;
  }
  /**
   * The engine's record of a position's protective stop resting on the exchange (issue 18,
   * docs/contract.md "Protective stops"): hash `position_ref`, `side`, `client_algo_id`,
   * `algo_id`, `stop_price`, `status` (PLACING | ACTIVE | REPLACING | LOST | TRIGGERED | FAILED), `seq`,
   * `opened_at`, `placed_at`, `rest_ms`, `prev_client_algo_id` / `next_*` (mid-move), `error`, `updated_at` (epoch ms).
   */
  protect(symbol: string): string {
    return `${this.prefix}:protect:${symbol}`;
  }
  /** Pattern matching every protective-stop record. */
  protectPattern(): string {
    return `${this.prefix}:protect:*`;
  }
  /** The symbol of a `protect:*` key, or null. */
  protectSymbolOf(key: string): string | null {
    const p = `${this.prefix}:protect:`;
    return key.startsWith(p) && key.length > p.length && !key.slice(p.length).includes(':') ? key.slice(p.length) : null;
  }
  /** The paper exchange's conditional (algo) order, by client algo id. */
  paperAlgo(clientAlgoId: string): string {
    return `${this.prefix}:paper:algo:${clientAlgoId}`;
  }
  /** The paper exchange's resting conditional orders (status NEW): a set of client algo ids. */
  paperAlgoOpen(): string {
    return `${this.prefix}:paper:algos:open`;
  }
  /** The paper exchange's algo id counter. */
  paperAlgoSeq(): string {
    return `${this.prefix}:paper:algos:seq`;
  }
  /** harvest_brain's exit state per position (ladder steps taken, trailing stop). */
  exitState(symbol: string): string {
    return `${this.prefix}:exit:${symbol}`;
  }
  /** risk_guard's daily realised PnL per UTC day (YYYY-MM-DD). */
  dailyPnl(day: string): string {
    return `${this.prefix}:risk:daily_pnl:${day}`;
  }
  /** rl_agent's learned trust per model. */
  rlState(): string {
    return `${this.prefix}:rl:state`;
  }
  /** candles the ai_engine keeps per symbol. */
  /** The last replay's run report (JSON string; `qt up --market replay`, docs/replay.md). */
  replayReport(): string {
    return `${this.prefix}:replay:report`;
  }
  candles(symbol: string): string {
    return `${this.prefix}:candles:${symbol}`;
  }
  /**
   * The exchange's rate-limit state shared by every process on the host (CONTRACT.md §2):
   * `used_weight_1m`, `ban_until`, `retry_after_until`, `updated_at` (epoch ms), plus our
   * `clock_offset_ms` / `clock_checked_at` (local − exchange clock, measured on GET /fapi/v1/time).
   */
  exchangeLimits(): string {
    return `${this.prefix}:exchange:limits`;
  }
  /** Positions the engine brought into line with the exchange (after -2022): field = symbol, value = JSON record. */
  exchangeResync(): string {
    return `${this.prefix}:exchange:resync`;
  }
}
