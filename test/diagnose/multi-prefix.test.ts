/**
 * Several pipelines at once (`--prefix '{a},{b}'`, docs/scaling.md): qt health and qt diagnose
 * read each prefix and give one verdict; an unread prefix is never OK.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { combinedExitCode, mergePromTexts, splitPrefixes } from '../../src/diagnose/multi-prefix.js';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import * as S from './scenarios/index.js';
import { qt } from '../helpers/cli.js';
import type { Ctx } from './scenarios/build.js';

afterAll(closeAll);

async function prefixWith(build: (c: Ctx) => Promise<void>): Promise<string> {
  const names = testNames(uniquePrefix('multi'));
  await build({ redis: testRedis(), names, now: Date.now() });
  return names.prefix;
}

describe('several prefixes: the rules', () => {
  it('a crit pipeline is crit even beside an unread one; otherwise an unread one makes the whole unknown; else the worst', () => {
    expect(combinedExitCode([0, 2, 3])).toBe(2);
    expect(combinedExitCode([0, 1, 3])).toBe(3);
    expect(combinedExitCode([0, 1, 0])).toBe(1);
    expect(combinedExitCode([0, 0])).toBe(0);
  });

  it('splits, trims and de-duplicates; an empty element is reported', () => {
    expect(splitPrefixes('{a}, {b},{a}')).toEqual({ prefixes: ['{a}', '{b}'], empty: false });
    expect(splitPrefixes('{a},,{b}').empty).toBe(true);
  });

  it('merges expositions: one HELP/TYPE per family, every sample kept, families together', () => {
    const a = '# HELP m x\n# TYPE m gauge\nm{prefix="a"} 1\n# HELP n y\n# TYPE n gauge\nn{prefix="a"} 2\n';
    const b = '# HELP m x\n# TYPE m gauge\nm{prefix="b"} 3\n# HELP n y\n# TYPE n gauge\nn{prefix="b"} 4\n';
    expect(mergePromTexts([a, b])).toBe('# HELP m x\n# TYPE m gauge\nm{prefix="a"} 1\nm{prefix="b"} 3\n# HELP n y\n# TYPE n gauge\nn{prefix="a"} 2\nn{prefix="b"} 4\n');
  });
});

describe('qt health / diagnose --prefix a,b (real Redis, real CLI)', () => {
  it('health: a healthy and a critical pipeline give CRITICAL naming both; json and prom carry both prefixes', async () => {
    const ok = await prefixWith(S.healthy);
    const bad = await prefixWith(S.starvingExecutor);
    const both = `${ok},${bad}`;
    const text = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', both]);
    expect(text.code).toBe(2);
    expect(text.stdout.split('\n')[0]).toBe(`qt health: CRITICAL over 2 prefixes (${ok}, ${bad})`);
    expect(text.stdout).toContain(`qt health: OK (${ok})`);
    expect(text.stdout).toContain(`qt health: CRITICAL (${bad})`);

    const json = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', both, '--format', 'json']);
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as { status: string; exit_code: number; prefixes: { prefix: string; status: string }[] };
    expect(doc).toMatchObject({ status: 'crit', exit_code: 2 });
    expect(doc.prefixes.map((p) => [p.prefix, p.status])).toEqual([[ok, 'ok'], [bad, 'crit']]);

    const prom = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', both, '--format', 'prom']);
    expect(prom.stdout).toContain(`qt_health_status{prefix="${ok}"} 0`);
    expect(prom.stdout).toContain(`qt_health_status{prefix="${bad}"} 2`);
    expect(prom.stdout.match(/^# TYPE qt_health_status /gm)).toHaveLength(1);

    const nagios = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', both, '--format', 'nagios']);
    expect(nagios.stdout.trim().split('\n')).toHaveLength(1);
    expect(nagios.stdout).toMatch(new RegExp(`^QT CRITICAL - ${ok}: OK .*; ${bad}: CRITICAL GROUP_STARVING`));
    expect(nagios.stdout).toContain(`'${bad} crit_findings'=`);
  });

  it('health: a healthy pipeline beside a prefix that holds nothing (a typo) is UNKNOWN, exit 3, never OK', async () => {
    const ok = await prefixWith(S.healthy);
    const r = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', `${ok},${ok}-typo`]);
    expect(r.code).toBe(3);
    expect(r.stdout.split('\n')[0]).toContain('UNKNOWN over 2 prefixes');
  });

  it('diagnose pipeline: one report per prefix and a combined verdict; --json has them all', async () => {
    const ok = await prefixWith(S.healthy);
    const bad = await prefixWith(S.starvingExecutor);
    const r = await qt(['diagnose', 'pipeline', '--redis-url', testRedisUrl(), '--prefix', `${ok},${bad}`]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`== prefix ${ok} ==`);
    expect(r.stdout).toContain(`== prefix ${bad} ==`);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('qt diagnose: CRIT over 2 prefixes');
    const j = await qt(['diagnose', 'streams', '--json', '--redis-url', testRedisUrl(), '--prefix', `${ok},${bad}`]);
    const doc = JSON.parse(j.stdout) as { exit_code: number; prefixes: { prefix: string }[] };
    expect(doc.exit_code).toBe(2);
    expect(doc.prefixes.map((p) => p.prefix)).toEqual([ok, bad]);
  });

  it('an empty element is one line naming --prefix, exit 3 for health', async () => {
    const r = await qt(['health', '--redis-url', testRedisUrl(), '--prefix', 'a,,b']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toMatch(/^qt: --prefix: an empty prefix in the list "a,,b"/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
