/**
 * A fresh start is not an alarm: from the engine's first heartbeat until its first trade
 * round trip, every report says ok — no GROUP_STARVING for streams whose producer is
 * running and has not written yet, no SERVICE_SILENT for consumers that have handled
 * nothing since they started, and no finding about the contract's optional streams.
 * Stage success rates are n/a for stages not meant to produce one output per input.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';
import { NO_OUTPUT_PER_INPUT, successRate, stagesFromMetrics } from '../../src/diagnose/metrics.js';
import { Renderer } from '../../src/diagnose/render.js';
import { closeAll, testNames, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

afterAll(closeAll);

describe('success rates', () => {
  it('are n/a for stages that write only when something calls for it', () => {
    expect(successRate('reconciler', 120, 0)).toBeNull();
    expect(successRate('verify_ensemble', 50, 0)).toBeNull();
    expect(successRate('intent_bridge', 10, 9)).toBe(0.9);
    expect(successRate('intent_bridge', 0, 0)).toBeNull();
    const stats = stagesFromMetrics(new Map([['reconciler', [{ in: '40', out: '0' }]], ['apply_layer', [{ in: '10', out: '4' }]]]), [1], []);
    expect(stats.find((s) => s.stage === 'reconciler')?.success_rate).toBeNull();
    expect(stats.find((s) => s.stage === 'apply_layer')?.success_rate).toBe(0.4);
    const table = new Renderer(false).stages({ stages: stats } as never);
    const row = table.split('\n').find((l) => l.includes('reconciler'))!;
    expect(row).toContain('n/a');
    expect(row).not.toContain('0.0%');
    expect([...NO_OUTPUT_PER_INPUT]).toEqual(expect.arrayContaining(['reconciler', 'verify_ensemble']));
  });
});

describe.runIf(existsSync('dist/cli.js'))('a fresh start', () => {
  it('reports ok from the first heartbeat to the first trade, with no finding about optional streams', async () => {
    const names = testNames(uniquePrefix('fresh'));
    const env: NodeJS.ProcessEnv = { ...process.env, QT_LOG_LEVEL: 'warn', QT_MAX_OPEN_POSITIONS: '100', NO_COLOR: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('QT_') && !['QT_LOG_LEVEL', 'QT_MAX_OPEN_POSITIONS'].includes(k)) delete env[k];
    delete env.REDIS_URL;
    const p = spawn(process.execPath, ['dist/cli.js', 'up', '--redis-url', testRedisUrl(), '--prefix', names.prefix, '--for', '5m'], { env, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => p.on('close', () => resolve()));
    const redis = testRedis();
    const seen: string[] = [];
    let samples = 0;
    try {
      await waitFor(async () => {
        const r = buildReport(await collectSnapshot(redis, names, { windowMs: 600_000 }));
        if (!r.services.some((s) => s.status === 'running')) return false; // not up yet
        samples++;
        for (const f of r.findings) {
          if (f.severity !== 'info' || f.code === 'STREAM_UNCONSUMED') seen.push(`${Math.round((Date.now() - r.generated_at) / 1000)}s ${f.severity} ${f.code} ${f.subject}: ${f.message}`);
        }
        // done after one round trip: an entry went through the executor and the RL agent read it
        const result = r.streams.find((s) => s.stream === 'apply.result');
        return (result?.length ?? 0) > 0 && (result?.groups[0]?.entries_read ?? 0) > 0;
      }, 120_000, 'the first apply.result read by rl_agent');
    } finally {
      p.kill('SIGTERM');
      await exited;
    }
    expect(samples).toBeGreaterThan(1);
    expect(seen).toEqual([]);
  });
});
