/** Writes a small pipeline state into Redis (streams, groups, a heartbeat, metrics, positions, a rejection). */
import type { Redis } from 'ioredis';
import { Names } from '../../src/contract/names.js';

export async function seedPipeline(redis: Redis, names: Names, now = Date.now()): Promise<void> {
  const minute = Names.minuteOf(now);
  const p = redis.pipeline();
  for (let i = 0; i < 5; i++) {
    p.xadd(names.stream('ai.signal_generated'), '*', 'signal_id', `s-${i}`, 'ts', String(now), 'symbol', 'BTCUSDT', 'side', 'BUY', 'confidence', '0.8', 'price', '60000', 'models', '{}', 'model_version', '1');
  }
  p.xadd(names.stream('trade.intent'), '*', 'intent_id', 'i-1', 'ts', String(now), 'intent_type', 'AUTONOMOUS_ENTRY', 'symbol', 'BTCUSDT', 'action', 'BUY', 'source', 'autonomous_trader', 'position_usd', '100', 'leverage', '5');
  p.xgroup('CREATE', names.stream('ai.signal_generated'), 'autonomous_trader', '0', 'MKSTREAM');
  p.xgroup('CREATE', names.stream('trade.intent'), 'intent_bridge', '0', 'MKSTREAM');
  // the executor's group waits on a stream nothing writes to: starving
  p.xgroup('CREATE', names.stream('apply.approved'), 'intent_executor', '$', 'MKSTREAM');
  p.xadd(names.stream('stage.rejected'), '*', 'stage', 'intent_bridge', 'reason', 'invalid_quantity', 'symbol', 'BTCUSDT', 'ref_id', 'i-9', 'detail', 'qty 0 after rounding', 'payload', '{"intent_id":"i-9","qty":"0"}', 'ts', String(now));
  p.sadd(names.registry(), 'ai_engine', 'intent_bridge');
  p.hset(names.service('ai_engine'), { service: 'ai_engine', pid: '4242', host: 'box', version: '0.1.0', started_at: String(now - 60000), beat_at: String(now), status: 'running', last_msg_at: String(now), processed: '5', errors: '0', last_error: '', mode: 'PAPER' });
  p.pexpire(names.service('ai_engine'), 600000);
  p.hset(names.metrics('autonomous_trader', minute), { in: '5', out: '1', rejected: '4', 'rej:cooldown': '4' });
  p.hset(names.metrics('intent_bridge', minute), { in: '10', out: '2', rejected: '8', 'rej:invalid_quantity': '8' });
  p.hset(names.position('BTCUSDT'), { symbol: 'BTCUSDT', side: 'LONG', qty: '0.01', entry_price: '60000', leverage: '5', sl_price: '59000', tp_price: '62000', initial_risk_usd: '10', opened_at: String(now), updated_at: String(now), plan_id: 'p-1' });
  p.hset(names.snapshot('BTCUSDT'), { qty: '0.02', side: 'LONG', entry_price: '60000', mark_price: '61000', unrealized_pnl: '20', ts: String(now) });
  p.hset(names.position('DOGEUSDT'), { symbol: 'DOGEUSDT', qty: '0' });
  await p.exec();
}
