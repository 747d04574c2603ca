import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePairs, policySet } from '../../src/commands/policy.js';
import { DEFAULT_POLICY } from '../../src/contract/state.js';
import { PolicyCache } from '../../src/engine/state/policy.js';
import { UsageError } from '../../src/errors.js';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

const r = testRedis();
afterAll(closeAll);

const qt = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { encoding: 'utf8', env: { ...process.env, REDIS_URL: testRedisUrl() }, timeout: 120_000 });

describe('qt policy', () => {
  it('a policy change is seen by a running PolicyCache user within one second', async () => {
    const names = testNames();
    const cache = new PolicyCache(names, DEFAULT_POLICY);
    // the cache's clock is given, so "within one second" is checked on its logic, not the machine's speed
    const t0 = 1_000_000;
    expect((await cache.get(r, t0)).max_leverage).toBe(DEFAULT_POLICY.max_leverage);
    await policySet(r, names, ['max_leverage=3', 'allowlist=btcusdt,ethusdt'], DEFAULT_POLICY);
    expect((await cache.get(r, t0 + 100)).max_leverage).toBe(DEFAULT_POLICY.max_leverage); // cached
    const seen = await cache.get(r, t0 + 999);
    expect(seen.max_leverage).toBe(3);
    expect(seen.allowlist).toEqual(['BTCUSDT', 'ETHUSDT']);
    // and with the real clock, a running user sees it (waits on the condition)
    const live = new PolicyCache(names, DEFAULT_POLICY);
    await waitFor(async () => (await live.get(r)).max_leverage === 3, 20_000, 'new policy seen');
  });

  it('set bumps the version and announces the change on policy.updated', async () => {
    const names = testNames();
    const a = await policySet(r, names, ['daily_loss_limit_usd=250'], DEFAULT_POLICY);
    const b = await policySet(r, names, ['rl_influence=true'], DEFAULT_POLICY);
    expect(Number(b.version)).toBe(Number(a.version) + 1);
    expect(b.daily_loss_limit_usd).toBe(250);
    const ann = (await r.xrange(names.stream('policy.updated'), '-', '+')) as [string, string[]][];
    expect(ann.map(([, f]) => f[f.indexOf('changed') + 1])).toEqual(['{"daily_loss_limit_usd":"250"}', '{"rl_influence":"true"}']);
  });

  it('refuses an invalid value with the allowed range and changes nothing', async () => {
    const names = testNames();
    await policySet(r, names, ['max_leverage=5'], DEFAULT_POLICY);
    const err = await policySet(r, names, ['max_leverage=500', 'min_confidence=2'], DEFAULT_POLICY).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(2);
    expect(err.lines).toEqual(expect.arrayContaining([expect.stringMatching(/^max_leverage: expected a whole number from 1 to 125/), expect.stringMatching(/^min_confidence: expected a number from 0 to 1/)]));
    expect(await r.hget(names.policy(), 'max_leverage')).toBe('5');
  });

  it('refuses a word that is not key=value, naming it', () => {
    expect(() => parsePairs(['max_leverage'])).toThrow(UsageError);
    expect(() => parsePairs([])).toThrow(/at least one key=value/);
  });

  it('the CLI sets and shows the policy, and exits 2 on an out-of-range value', () => {
    const prefix = uniquePrefix('pol');
    const set = qt(['policy', 'set', 'max_open_positions=4', '--prefix', prefix]);
    expect(set.stderr).toBe('');
    expect(set.status).toBe(0);
    const show = qt(['policy', 'show', '--json', '--prefix', prefix]);
    expect(JSON.parse(show.stdout)).toMatchObject({ max_open_positions: 4 });
    const bad = qt(['policy', 'set', 'max_leverage=500', '--prefix', prefix]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/max_leverage: expected a whole number from 1 to 125/);
  });
});
