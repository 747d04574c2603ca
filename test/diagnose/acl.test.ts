import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';
import * as S from './scenarios/index.js';

const user = `diag-${randomBytes(3).toString('hex')}`;
const admin = () => testRedis();
afterAll(async () => {
  await admin().call('ACL', 'DELUSER', user);
  await closeAll();
});

describe('read-only ACL user', () => {
  it('runs the collector and the report as a user limited to read commands', async () => {
    const a = admin();
    const names = testNames(uniquePrefix('acl'));
    await S.healthy({ redis: a, names, now: Date.now() });
    await S.starvingExecutor({ redis: a, names, now: Date.now() });
    await a.call('ACL', 'SETUSER', user, 'reset', 'on', '>pw-diag', '~*', '+@read', '+@connection', '+info', '-@write');
    const u = new URL(testRedisUrl());
    u.username = user;
    u.password = 'pw-diag';
    const ro = new Redis(u.toString(), { maxRetriesPerRequest: 1 });
    ro.on('error', () => undefined);
    try {
      await expect(ro.set(`${names.prefix}:x`, '1')).rejects.toThrow(/NOPERM/);
      const snap = await collectSnapshot(ro, names, { windowMs: 3600_000 });
      expect(snap.unknowns.filter((x) => /denied|NOPERM/.test(x))).toEqual([]);
      const r = buildReport(snap);
      expect(r.findings.find((f) => f.code === 'GROUP_STARVING' && f.subject === 'apply.plan.manual intent_executor_manual')?.severity).toBe('crit');
      expect(r.redis.version).not.toBe('unknown');
    } finally {
      ro.disconnect();
    }
  });
});
