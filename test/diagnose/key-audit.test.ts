/**
 * The key audit's two ways (a read-only script per SCAN page, or SCAN pages with pipelined
 * `qty` reads) must see the same keyspace the same way: the same non-position keys, the
 * same position and snapshot keys, the same ghost decisions (contract §2) and the same
 * `qty` of every key that is not a ghost, and the same ledger count.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ghostReason } from '../../src/contract/state.js';
import { auditKeys, type KeyAudit } from '../../src/diagnose/key-audit.js';
import { Reader } from '../../src/diagnose/redis-read.js';
import { closeAll, testNames, testRedis } from '../helpers/redis.js';

afterAll(closeAll);

/** key → how the audit sees it: `ghost: <reason>` or the qty it read. */
function view(a: KeyAudit, posP: string): Map<string, string> {
  const m = new Map<string, string>();
  a.posKeys.forEach((k, i) => {
    const q = a.qtys[i];
    const kind = k.startsWith(`${posP}snapshot:`) ? 'snapshot' : 'position';
    const why = ghostReason(kind, q === null ? {} : { qty: q });
    m.set(k, why ? `ghost: ${why}` : `qty ${q}`);
  });
  return m;
}

describe('key audit', () => {
  it('the script and the plain scan agree on every kind of key and qty', async () => {
    const r = testRedis();
    const names = testNames();
    const posP = `${names.prefix}:position:`;
    const qtys = ['0', '0.0', ' 0 ', '-0', '+0', '.0', '0.', '00', '0e0', '', 'abc', '1.5', '-2', '0.001', ' 3 '];
    const p = r.pipeline();
    qtys.forEach((q, i) => {
      p.hset(names.position(`P${i}USDT`), { symbol: `P${i}USDT`, qty: q, side: 'LONG' });
      p.hset(names.snapshot(`S${i}USDT`), { qty: q, side: 'LONG', ts: '1' });
    });
    p.hset(names.position('NOQTYUSDT'), { symbol: 'NOQTYUSDT', side: 'LONG' });
    p.hset(names.snapshot('NOQTYUSDT'), { side: 'LONG' });
    p.set(names.position('STRINGUSDT'), 'not a hash');
    p.hset(`${posP}odd:extra`, { qty: '0' }); // not a position key: neither ghost nor position
    for (let i = 0; i < 30; i++) p.hset(names.ledger(`L${i}USDT`), { realized_pnl: '1', trades: '1' });
    // enough zero snapshots to take several script pages
    for (let i = 0; i < 12000; i++) p.hset(names.snapshot(`Z${i}USDT`), { qty: '0', ts: '1' });
    p.xadd(names.stream('trade.intent'), '*', 'a', '1');
    p.set(names.service('intent_bridge'), 'x');
    await p.exec();

    const byScript = await auditKeys(new Reader(r), names);
    const byScan = await auditKeys(new Reader(r), names, { via: 'scan' });
    expect(byScript.via).toBe('script');
    expect(byScan.via).toBe('scan');

    expect(new Set(byScript.others)).toEqual(new Set(byScan.others));
    expect(new Set(byScript.others)).toEqual(new Set([`${posP}odd:extra`, names.stream('trade.intent'), names.service('intent_bridge')]));
    expect(byScript.ledgerCount).toBe(30);
    expect(byScan.ledgerCount).toBe(30);

    const a = view(byScript, posP);
    const b = view(byScan, posP);
    expect(a.size).toBe(2 * qtys.length + 2 + 1 + 12000);
    expect(a).toEqual(b);
    // spot checks against the contract
    expect(a.get(names.position('P0USDT'))).toBe('ghost: qty is 0');
    expect(a.get(names.position('P2USDT'))).toBe('ghost: qty is 0'); // ' 0 '
    expect(a.get(names.position('P8USDT'))).toBe('ghost: qty is 0'); // '0e0', decided by the client
    expect(a.get(names.position('P10USDT'))).toMatch(/^ghost: qty is not a number/);
    expect(a.get(names.position('P11USDT'))).toBe('qty 1.5');
    expect(a.get(names.snapshot('S9USDT'))).toBe('qty '); // empty snapshot qty: not a ghost
    expect(a.get(names.snapshot('S13USDT'))).toBe('qty 0.001');
    expect(a.get(names.position('NOQTYUSDT'))).toBe('ghost: qty missing');
    expect(a.get(names.position('STRINGUSDT'))).toBe('ghost: qty missing'); // not a hash: no qty
    expect(a.get(names.snapshot('Z11999USDT'))).toBe('ghost: snapshot qty is 0');
  });
});
