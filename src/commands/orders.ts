/**
 * `qt orders [--symbol S] [--json]`: what rests on the exchange (issue 18): every conditional
 * order (type, side, stop price, closePosition, age) and the engine position it protects, from
 * the `{prefix}:protect:{SYMBOL}` records. Paper: the paper exchange's state in Redis; binance:
 * the adapter's fetchOpenConditionalOrders (ccxt loaded only in that mode). An exchange that
 * cannot be asked is an unknown (exit 3), never an empty list.
 */
import { UnavailableError, UsageError, errorMessage } from '../errors.js';
import type { QtCommand } from './command.js';
import { configFrom } from './command.js';

interface Args {
  symbol?: string;
  json?: boolean;
}

/** One row of `qt orders` (prices USD, age ms). */
export interface OrderRow {
  symbol: string;
  type: string;
  side: string;
  stop_price: number;
  close_position: boolean;
  /** the reduce-only quantity (base asset) when close_position is false (a stop mid-way through gapless moves) */
  quantity?: number;
  working_type: string;
  status: string;
  client_algo_id: string;
  algo_id: string;
  age_ms: number;
  /** `LONG 0.01 @ 50010` when it is the engine's stop of that position; `stray (…)` when it is ours without one; `not the engine's` otherwise */
  protects: string;
}

const fmtAge = (ms: number) => (ms < 60_000 ? `${Math.round(ms / 1000)}s` : ms < 3_600_000 ? `${Math.round(ms / 60_000)}m` : `${(ms / 3_600_000).toFixed(1)}h`);

export const orders: QtCommand<Args> = {
  command: 'orders',
  describe: 'list the conditional orders resting on the exchange (protective stops) and the position each protects',
  builder: (y) =>
    y
      .option('symbol', { type: 'string', describe: 'only this symbol, e.g. BTCUSDT' })
      .option('json', { type: 'boolean', describe: 'print JSON' }),
  async run(argv) {
    const symbol = argv.symbol !== undefined ? String(argv.symbol).trim().toUpperCase() : undefined;
    if (symbol !== undefined && !/^[A-Z0-9]{2,30}$/.test(symbol)) throw new UsageError(`--symbol: expected a symbol like BTCUSDT (got ${JSON.stringify(argv.symbol)})`);
    const cfg = await configFrom(argv);
    const { connectRedis } = await import('../redis/connect.js');
    const redis = await connectRedis({ url: cfg.redisUrl, tls: cfg.redisTls, role: 'cli', name: 'qt:orders' });
    try {
      const { createExchange } = await import('../engine/exchange/index.js');
      const { createLogger } = await import('../log.js');
      const log = createLogger({ format: cfg.log.format, level: 'error' });
      const exchange = await createExchange(cfg, redis, log);
      if (typeof exchange.fetchOpenConditionalOrders !== 'function') {
        throw new UnavailableError(`${exchange.name}: this exchange adapter cannot list conditional orders (fetchOpenConditionalOrders): what rests there is unknown`);
      }
      let open;
      try {
        if (exchange.name !== 'paper') await exchange.start();
        open = await exchange.fetchOpenConditionalOrders(symbol);
      } catch (e) {
        throw new UnavailableError(`${exchange.name}: could not list the resting orders: ${errorMessage(e).slice(0, 300)}`);
      } finally {
        await exchange.stop().catch(() => undefined);
      }
      const { readProtect } = await import('../engine/protect/stops.js');
      const { readPosition } = await import('../contract/state.js');
      const syms = [...new Set(open.map((o) => o.symbol))];
      const p = redis.pipeline();
      for (const s of syms) p.hgetall(cfg.names.protect(s)).hgetall(cfg.names.position(s));
      const res = (await p.exec()) ?? [];
      const now = Date.now();
      const rows: OrderRow[] = open.map((o) => {
        const i = syms.indexOf(o.symbol);
        const rec = readProtect(o.symbol, (res[2 * i]?.[1] ?? {}) as Record<string, string>);
        const pos = readPosition(o.symbol, (res[2 * i + 1]?.[1] ?? {}) as Record<string, string>);
        const mine = rec && (rec.client_algo_id === o.clientAlgoId || rec.next_client_algo_id === o.clientAlgoId);
        const protects = mine && pos && `${pos.opened_at}|${pos.side}` === rec.position_ref
          ? `${pos.side} ${pos.qty} @ ${pos.entry_price}${rec.next_client_algo_id === o.clientAlgoId ? ' (replacing)' : ''}`
          : o.clientAlgoId.startsWith('qtp-') ? 'stray (the engine has no position for it: harvest_brain cancels it)' : "not the engine's";
        return {
          symbol: o.symbol, type: o.type, side: o.side, stop_price: o.stopPrice, close_position: o.closePosition, ...(o.closePosition ? {} : { quantity: o.quantity ?? 0 }), working_type: o.workingType,
          status: o.status, client_algo_id: o.clientAlgoId, algo_id: o.algoId, age_ms: Math.max(0, now - o.createdAt), protects,
        };
      });
      if (argv.json) {
        process.stdout.write(JSON.stringify({ exchange: exchange.name, orders: rows }) + '\n');
        return;
      }
      if (!rows.length) {
        process.stdout.write(`no conditional orders rest on the ${exchange.name} exchange${symbol ? ` for ${symbol}` : ''}\n`);
        return;
      }
      const table = [['SYMBOL', 'TYPE', 'SIDE', 'STOP', 'CLOSE_POS', 'AGE', 'CLIENT_ALGO_ID', 'PROTECTS'],
        ...rows.map((r) => [r.symbol, r.type, r.side, String(r.stop_price), r.close_position ? 'yes' : `no (qty ${r.quantity ?? '?'})`, fmtAge(r.age_ms), r.client_algo_id, r.protects])];
      const w = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
      process.stdout.write(table.map((row) => row.map((x, c) => (c === row.length - 1 ? x : x.padEnd(w[c]))).join('  ')).join('\n') + '\n');
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
  },
};
