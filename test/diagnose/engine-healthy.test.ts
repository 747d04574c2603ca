/** A healthy pipeline produced by running our engine (paper exchange) must diagnose ok, but for having stopped cleanly. */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';

afterAll(closeAll);

describe('engine on the paper exchange', () => {
  it('diagnoses ok with no finding above info', async () => {
    const names = testNames(uniquePrefix('eng'));
    const env: NodeJS.ProcessEnv = { ...process.env, QT_LOG_LEVEL: 'warn', QT_MAX_OPEN_POSITIONS: '100', NO_COLOR: '1' };
    delete env.REDIS_URL;
    const redis = testRedis();
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'up', '--redis-url', testRedisUrl(), '--prefix', names.prefix], { env, stdio: 'ignore' });
    const exited = new Promise<number>((resolve, reject) => {
      p.on('error', reject);
      p.on('close', (c) => resolve(c ?? -1));
    });
    try {
      // Runs until a signal went all the way through (an apply.result exists) and every group
      // has caught up: a settled pipeline, whatever the machine's speed (no fixed run time).
      await waitFor(async () => {
        const snap = await collectSnapshot(redis, names, { windowMs: 600_000 });
        const len = (s: string) => snap.streams.find((x) => x.stream === s)?.length ?? 0;
        if (len('ai.signal_generated') === 0 || len('apply.result') === 0) return false;
        return snap.streams.every((s) => s.groups.every((g) => g.pending === 0 && (g.lag ?? 0) === 0));
      }, 120_000, 'a signal carried through to apply.result, every group caught up');
    } finally {
      p.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const r = buildReport(await collectSnapshot(redis, names, { windowMs: 600_000 }));
    expect(r.streams.find((s) => s.stream === 'ai.signal_generated')?.length).toBeGreaterThan(0);
    expect(r.stages.some((s) => s.source === 'metrics')).toBe(true);
    // `qt up --for` has stopped: one SERVICE_DOWN "stopped cleanly at T" for all its stages, and nothing else
    const stopped = r.findings.filter((f) => f.code === 'SERVICE_DOWN' && f.subject === 'services' && f.message.includes('stopped cleanly'));
    expect(stopped).toHaveLength(1);
    expect(r.findings.filter((f) => f.severity !== 'info' && !stopped.includes(f))).toEqual([]);
    expect(r.status).toBe(stopped[0]!.severity);
  });
});
