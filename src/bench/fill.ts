/** Fills a Redis with a large deployment: stream entries over the contract's streams and position/ledger/snapshot keys. */
import type { Redis } from 'ioredis';
import { Names, STAGE_INPUT, type StreamName } from '../contract/names.js';
import { intentFields } from './pipeline.js';

const FILLED: StreamName[] = ['ai.signal_generated', 'trade.intent', 'apply.plan', 'apply.approved', 'apply.result', 'execution.result', 'risk.proposal', 'stage.rejected', 'dead.letter', 'policy.updated'];

export async function fillLarge(r: Redis, names: Names, entries: number, keys: number): Promise<void> {
  const per = Math.floor(entries / FILLED.length);
  for (const s of FILLED) {
    const key = names.stream(s);
    for (let i = 0; i < per; i += 10000) {
      const p = r.pipeline();
      for (let j = i; j < Math.min(per, i + 10000); j++) p.xadd(key, '*', ...Object.entries(intentFields(j)).flat());
      await p.exec();
    }
  }
  // Groups as the engine has them, partly read, some pending.
  for (const [stage, stream] of Object.entries(STAGE_INPUT)) {
    await r.xgroup('CREATE', names.stream(stream), stage, '0', 'MKSTREAM').catch(() => undefined);
    await r.xreadgroup('GROUP', stage, 'benchhost:1', 'COUNT', 50, 'STREAMS', names.stream(stream), '>');
  }
  // A long-lived deployment's keys: a few open positions (with their exchange snapshots),
  // a ledger for every symbol ever traded, stale zero snapshots (the seeds' ghosts), and
  // some zero-qty position ghosts.
  const open = Math.min(50, Math.floor(keys / 100));
  const ghosts = open;
  const ledgers = Math.floor((keys - 2 * open - ghosts) / 2);
  const zeroSnapshots = keys - 2 * open - ghosts - ledgers;
  const plan: ((p: ReturnType<Redis['pipeline']>, j: number) => void)[] = [];
  for (let j = 0; j < open; j++) plan.push((p) => {
    const sym = `OPEN${j}USDT`;
    p.hset(names.position(sym), { symbol: sym, side: 'LONG', qty: '1', entry_price: '1', leverage: '5', initial_risk_usd: '0.01', updated_at: '1' });
    p.hset(names.snapshot(sym), { qty: '1', side: 'LONG', entry_price: '1', mark_price: '1.01', unrealized_pnl: '0.01', ts: String(Date.now()) });
  });
  for (let j = 0; j < ghosts; j++) plan.push((p) => void p.hset(names.position(`GHOST${j}USDT`), { symbol: `GHOST${j}USDT`, qty: '0' }));
  for (let j = 0; j < ledgers; j++) plan.push((p) => void p.hset(names.ledger(`S${j}USDT`), { realized_pnl: '0', fees: '0', trades: '1' }));
  for (let j = 0; j < zeroSnapshots; j++) plan.push((p) => void p.hset(names.snapshot(`Z${j}USDT`), { qty: '0', side: 'LONG', entry_price: '0', mark_price: '1', ts: '1' }));
  for (let i = 0; i < plan.length; i += 10000) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(plan.length, i + 10000); j++) plan[j](p, j);
    await p.exec();
  }
  await r.sadd(names.registry(), ...Object.keys(STAGE_INPUT));
}
