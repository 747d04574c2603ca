/**
 * Step 1 of the collector: every key under the prefix, and the `qty` of every position and
 * snapshot key (round 1 of the positions audit, contract §2). Ledger keys are counted,
 * never read: they are never positions or ghosts.
 *
 * Two ways, same result (test/diagnose/key-audit.test.ts holds them to that):
 * - script: one read-only script call per SCAN page (EVAL_RO, Redis >= 7) classifies the
 *   page's keys and reads `qty` on the server, and returns only what the client needs: the
 *   keys that are not position-family, the position/snapshot keys whose `qty` is anything
 *   but a plain zero (with it), the plain-zero ones (ghosts) by name, and a ledger count.
 *   With 100,000 position-family keys this spares the client parsing them all, sending them
 *   back, and parsing their `qty` (health: ~650 → ~450 ms).
 * - scan: where the server or the ACL refuses EVAL_RO (Redis 6.2, a user limited to
 *   `+@read`): SCAN pages, classified here, with the `qty` reads for each page pipelined
 *   behind the next page's SCAN.
 * SCAN can return a key twice while Redis rehashes; callers key what they build on the key,
 * and a ledger key seen twice is counted twice.
 */
import type { Names } from '../contract/names.js';
import type { Reader, Cmd } from './redis-read.js';

export interface KeyAudit {
  /** keys under the prefix that are not position, snapshot or ledger keys */
  others: string[];
  /** position and snapshot keys (not ledger), with `qty` beside each (null: no field, or not a hash) */
  posKeys: string[];
  qtys: (string | null)[];
  ledgerCount: number;
  via: 'script' | 'scan';
}

const PAGE = 5000;

/** A plain zero as Number() reads it (`0`, `0.0`, ` -0 `, `.0`); anything else goes to the client. */
const AUDIT_PAGE_RO = `local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local P = ARGV[4]
local n = #P
local find = string.find
local other, odd, zero = {}, {}, {}
local no, nd, nz, ledgers = 0, 0, 0, 0
for _, k in ipairs(r[2]) do
  if find(k, P, 1, true) == 1 then
    if find(k, 'ledger:', n + 1, true) == n + 1 then
      ledgers = ledgers + 1
    elseif find(k, 'snapshot:', n + 1, true) == n + 1 or (#k > n and not find(k, ':', n + 1, true)) then
      local v = redis.pcall('HGET', k, 'qty')
      if type(v) == 'string' and (find(v, '^%s*[+-]?0+%.?0*%s*$') or find(v, '^%s*[+-]?%.0+%s*$')) then
        nz = nz + 1
        zero[nz] = k
      else
        odd[nd + 1] = k
        if type(v) == 'string' then odd[nd + 2] = v else odd[nd + 2] = false end
        nd = nd + 2
      end
    else
      no = no + 1
      other[no] = k
    end
  else
    no = no + 1
    other[no] = k
  end
end
return {r[1], other, odd, zero, ledgers}`;

/** HGET qty of many keys in one read-only script call per chunk (EVAL_RO, Redis >= 7). */
const QTYS_RO = "local out = {} for i, k in ipairs(KEYS) do out[i] = redis.call('HGET', k, 'qty') or false end return out";

export async function auditKeys(rd: Reader, names: Names, o: { via?: 'script' | 'scan' } = {}): Promise<KeyAudit> {
  if (o.via !== 'scan' && rd.evalRo) {
    const viaScript = await byScript(rd, names.keyPattern(), names.positionPattern().slice(0, -1));
    if (viaScript) return viaScript;
    rd.evalRo = false;
  }
  return byScan(rd, names);
}

async function byScript(rd: Reader, pattern: string, posP: string): Promise<KeyAudit | null> {
  const a: KeyAudit = { others: [], posKeys: [], qtys: [], ledgerCount: 0, via: 'script' };
  let cursor = '0';
  do {
    const [res] = await rd.batch([['eval_ro', AUDIT_PAGE_RO, 0, cursor, pattern, PAGE, posP]], { quiet: true });
    if (res!.err || !Array.isArray(res!.val)) {
      if (cursor === '0') return null; // refused: the caller scans instead
      throw res!.err ?? new Error('unexpected reply to the key audit script');
    }
    const [next, other, odd, zero, ledgers] = res!.val as [string, string[], (string | null)[], string[], number];
    for (const k of other) a.others.push(k);
    for (let i = 0; i + 1 < odd.length; i += 2) {
      a.posKeys.push(odd[i]!);
      const v = odd[i + 1];
      a.qtys.push(v === null || v === undefined ? null : String(v));
    }
    for (const k of zero) {
      a.posKeys.push(k);
      a.qtys.push('0');
    }
    a.ledgerCount += Number(ledgers);
    cursor = String(next);
  } while (cursor !== '0');
  return a;
}

async function byScan(rd: Reader, names: Names): Promise<KeyAudit> {
  const a: KeyAudit = { others: [], posKeys: [], qtys: [], ledgerCount: 0, via: 'scan' };
  const parts: Promise<(string | null)[]>[] = [];
  await rd.scan(names.keyPattern(), 10000, (page) => {
    const pagePos: string[] = [];
    for (const k of page) {
      const kind = names.classifyPositionKey(k)?.kind;
      if (kind === 'ledger') a.ledgerCount++;
      else if (kind) pagePos.push(k);
      else a.others.push(k);
    }
    if (pagePos.length) {
      for (const k of pagePos) a.posKeys.push(k);
      parts.push(readQtys(rd, pagePos));
    }
  }, false);
  for (const q of await Promise.all(parts)) for (const v of q) a.qtys.push(v);
  return a;
}

/**
 * `qty` of every key: a few EVAL_RO calls where the server and the ACL allow them (cheap to
 * parse), else one pipelined HGET per key. Null where the field (or the key) is missing.
 */
async function readQtys(rd: Reader, keys: string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  const CHUNK = 5000;
  const chunks: string[][] = [];
  for (let i = 0; i < keys.length; i += CHUNK) chunks.push(keys.slice(i, i + CHUNK));
  if (rd.evalRo) {
    const viaScript = await rd.batch(chunks.map((c): Cmd => ['eval_ro', QTYS_RO, c.length, ...c]), { quiet: true });
    if (viaScript.every((x) => !x.err && Array.isArray(x.val))) {
      return viaScript.flatMap((x) => (x.val as (string | null)[]).map((v) => (v === null || v === undefined ? null : String(v))));
    }
    rd.evalRo = false;
  }
  const res = await rd.batch(keys.map((k): Cmd => ['hget', k, 'qty']));
  return res.map((x) => (x.val === null || x.val === undefined ? null : String(x.val)));
}
