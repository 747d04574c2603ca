/** A healthy pipeline produced by running our engine (paper exchange) must diagnose ok, but for having stopped cleanly. */
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';

afterAll(closeAll);

describe('engine on the paper exchange', () => {
  it('diagnoses ok with no finding above info', async () => {
    const names = testNames(uniquePrefix('eng'));
    const env: NodeJS.ProcessEnv = { ...process.env, QT_LOG_LEVEL: 'warn', QT_MAX_OPEN_POSITIONS: '100', NO_COLOR: '1' };
    delete env.REDIS_URL;
    const code = await new Promise<number>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'up', '--redis-url', testRedisUrl(), '--prefix', names.prefix, '--for', '8s'], { env, stdio: 'ignore' });
      p.on('error', reject);
      p.on('close', (c) => resolve(c ?? -1));
    });
    expect(code).toBe(0);
    const redis = testRedis();
    const r = buildReport(await collectSnapshot(redis, names, { windowMs: 600_000 }));
    expect(r.streams.find((s) => s.stream === 'ai.signal_generated')?.length).toBeGreaterThan(0);
    expect(r.stages.some((s) => s.source === 'metrics')).toBe(true);
    // `qt up --for` has stopped: one SERVICE_DOWN "stopped cleanly at T" for all its stages, and nothing else
    const stopped = r.findings.filter((f) => f.code === 'SERVICE_DOWN' && f.subject === 'services' && f.message.includes('stopped cleanly'));
    expect(stopped).toHaveLength(1);
    expect(r.findings.filter((f) => f.severity !== 'info' && !stopped.includes(f))).toEqual([]);
    expect(r.status).toBe(stopped[0]!.severity);
  }, 60_000);
});
