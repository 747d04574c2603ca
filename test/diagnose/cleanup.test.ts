import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';
import { cleanupGhosts, restoreGhosts } from '../../src/diagnose/ghosts.js';
import { cleanupConsumers } from '../../src/diagnose/consumers.js';
import * as S from './scenarios/index.js';
import { MAX_CONSUMERS_LISTED } from '../../src/diagnose/streams.js';

afterAll(closeAll);
const dir = mkdtempSync(join(tmpdir(), 'qt-ghosts-'));

async function setup() {
  const redis = testRedis();
  const names = testNames(uniquePrefix('clean'));
  await S.ghosts72({ redis, names, now: Date.now() });
  return { redis, names };
}

describe('qt cleanup ghosts', () => {
  it('dry run lists every ghost with why and deletes nothing', async () => {
    const { redis, names } = await setup();
    const r = await cleanupGhosts(redis, names, { dryRun: true });
    expect(r).toMatchObject({ dry_run: true, deleted: 0, backup: null });
    expect(r.ghosts).toHaveLength(72);
    expect(r.scanned).toBe(10 + 26 + 46 + 20);
    expect(await redis.exists(names.position('G0USDT'))).toBe(1);
  });

  it('deletes ghosts after writing a backup; real positions and ledger keys untouched', async () => {
    const { redis, names } = await setup();
    const backupPath = join(dir, 'a.json');
    const r = await cleanupGhosts(redis, names, { dryRun: false, backupPath });
    expect(r.deleted).toBe(72);
    expect(r.backup).toBe(backupPath);
    expect(JSON.parse(readFileSync(backupPath, 'utf8')).keys).toHaveLength(72);
    expect(await redis.exists(names.position('G1USDT'), names.snapshot('G5USDT'))).toBe(0);
    expect(await redis.hget(names.position('R3USDT'), 'qty')).toBe('1');
    expect(await redis.exists(...Array.from({ length: 20 }, (_, i) => names.ledger(`G${i}USDT`)))).toBe(20);
  });

  it('keeps a ghost that becomes a real position between listing and deletion (atomic re-check)', async () => {
    const { redis, names } = await setup();
    const r = await cleanupGhosts(redis, names, {
      dryRun: false, backupPath: join(dir, 'b.json'),
      beforeDelete: async () => {
        await redis.hset(names.position('G1USDT'), { qty: '2', side: 'LONG' });
        await redis.hset(names.snapshot('G7USDT'), { qty: '0.5' });
      },
    });
    expect(r.deleted).toBe(70);
    expect(r.kept).toEqual(expect.arrayContaining([names.position('G1USDT'), names.snapshot('G7USDT')]));
    expect(await redis.hget(names.position('G1USDT'), 'qty')).toBe('2');
  });

  it('restore puts the backup back, never over a key that exists again', async () => {
    const { redis, names } = await setup();
    await redis.pexpire(names.snapshot('G3USDT'), 600_000);
    const backupPath = join(dir, 'c.json');
    await cleanupGhosts(redis, names, { dryRun: false, backupPath });
    await redis.hset(names.position('G2USDT'), { qty: '9', side: 'SHORT' });
    const r = await restoreGhosts(redis, names, backupPath);
    expect(r.restored).toHaveLength(71);
    expect(r.skipped).toEqual([names.position('G2USDT')]);
    expect(await redis.hgetall(names.position('G1USDT'))).toEqual({ symbol: 'G1USDT', qty: '0' });
    expect(await redis.hget(names.position('G2USDT'), 'qty')).toBe('9');
    expect(await redis.pttl(names.snapshot('G3USDT'))).toBeGreaterThan(0);
  });
});

describe('qt cleanup consumers', () => {
  it('deletes idle consumers with nothing pending and keeps those holding entries', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('clean'));
    await S.deadConsumers({ redis, names, now: Date.now() });
    await waitFor(async () => (await cleanupConsumers(redis, names, { dryRun: true, idleMs: 100 })).consumers.length === 18, 5000, 'idle consumers');
    const r = await cleanupConsumers(redis, names, { dryRun: false, idleMs: 100 });
    expect(r.deleted).toBe(18);
    const left = (await redis.xinfo('CONSUMERS', `${names.prefix}:stream:apply.plan`, 'apply_layer_entry')) as unknown[];
    expect(left).toHaveLength(5);
  });
});

describe('qt cleanup consumers on a leaked group (issue 15)', () => {
  it('removes the consumers of a group too large for diagnostics to list', async () => {
    const redis = testRedis();
    const names = testNames(uniquePrefix('leak'));
    const n = MAX_CONSUMERS_LISTED + 50;
    await S.consumerLeak(n)({ redis, names, now: Date.now() });
    const k = names.stream('apply.plan');
    const dry = await waitFor(async () => {
      const r = await cleanupConsumers(redis, names, { dryRun: true, idleMs: 100 });
      return r.consumers.length === n ? r : null;
    }, 10_000, 'leaked consumers idle past 100 ms');
    expect(dry.consumers[0]).toMatchObject({ stream: 'apply.plan', group: 'apply_layer' });
    const r = await cleanupConsumers(redis, names, { dryRun: false, idleMs: 100 });
    expect(r.deleted).toBe(n);
    expect(Number(((await redis.xinfo('GROUPS', k)) as unknown[][])[0]![3])).toBe(0);
  });
});
