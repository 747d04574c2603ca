/**
 * ENGINE_CONTENDED: what the singleton leases and the heartbeats say about engines
 * sharing one prefix, from a real Redis (the collector reads `{prefix}:lease:*`), and
 * the finding through `qt diagnose pipeline --json`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';
import { DEFAULT_THRESHOLDS } from '../../src/diagnose/thresholds.js';
import type { Finding, PipelineSnapshot } from '../../src/diagnose/read-model.js';
import { engineContendedFindings } from '../../src/diagnose/findings-leases.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

afterAll(closeAll);

async function seedBeat(names: Names, stage: string, f: Record<string, string>): Promise<void> {
  const r = testRedis();
  const now = Date.now();
  await r.hset(names.service(stage), { service: stage, host: 'h1', pid: '100', status: 'running', beat_at: String(now), started_at: String(now - 60_000), mode: 'PAPER', processed: '5', last_msg_at: String(now), ...f });
  await r.pexpire(names.service(stage), 60_000);
  await r.sadd(names.registry(), stage);
}

async function contended(names: Names): Promise<Finding[]> {
  const snap = await collectSnapshot(testRedis(), names, { windowMs: 15 * 60_000, thresholds: DEFAULT_THRESHOLDS });
  return buildReport(snap, DEFAULT_THRESHOLDS).findings.filter((f) => f.code === 'ENGINE_CONTENDED');
}

describe('ENGINE_CONTENDED', () => {
  it('nothing when each lease holder beats as the holder and nobody waits', async () => {
    const names = new Names({ prefix: uniquePrefix('ec') });
    const r = testRedis();
    await seedBeat(names, 'market', {});
    await r.set(names.lease('market'), 'h1:100', 'PX', 60_000);
    expect(await contended(names)).toEqual([]);
  });

  it('crit when a singleton beats as running from another process than its lease holder (two engines run it)', async () => {
    const names = new Names({ prefix: uniquePrefix('ec') });
    const r = testRedis();
    await seedBeat(names, 'ai_engine', { host: 'h2', pid: '200' });
    await r.set(names.lease('ai_engine'), 'h1:100', 'PX', 60_000);
    const [f] = await contended(names);
    expect(f).toMatchObject({ severity: 'crit', subject: 'ai_engine' });
    expect(f!.message).toContain('two engines run ai_engine at once');
    expect(f!.evidence).toMatchObject({ lease_holder: 'h1:100', heartbeat_owner: 'h2:200' });
  });

  it('warn when a lease holder stopped beating (no heartbeat, or only a standby one)', async () => {
    const names = new Names({ prefix: uniquePrefix('ec') });
    const r = testRedis();
    await r.set(names.lease('harvest_brain'), 'h9:900', 'PX', 60_000);
    await seedBeat(names, 'reconciler', { host: 'h2', pid: '200', status: 'standby' });
    await r.set(names.lease('reconciler'), 'h1:100', 'PX', 60_000);
    const fs = await contended(names);
    expect(fs.map((f) => [f.severity, f.subject]).sort()).toEqual([['warn', 'harvest_brain'], ['warn', 'reconciler']]);
    expect(fs.find((f) => f.subject === 'harvest_brain')!.message).toMatch(/held by h9:900, which does not beat as its holder \(no heartbeat\)/);
  });

  it('nothing when the holder\'s first beat came after the key scan (read again right after the lease)', () => {
    const snap = (beat_owner: string | null) => ({ prefix: 'p', services: [], leases: [{ stage: 'verify_ensemble', key: 'p:lease:verify_ensemble', holder: 'h1:100', pttl_ms: 3979, beat_owner }] }) as unknown as PipelineSnapshot;
    expect(engineContendedFindings(snap('h1:100'))).toEqual([]);
    expect(engineContendedFindings(snap(null)).map((f) => f.severity)).toEqual(['warn']);
    expect(engineContendedFindings(snap('h2:200')).map((f) => f.severity)).toEqual(['warn']);
  });

  it('info when a second engine waits as standby; a standby mark older than a minute is ignored', async () => {
    const names = new Names({ prefix: uniquePrefix('ec') });
    const r = testRedis();
    await seedBeat(names, 'market', { standby: 'h2:200', standby_at: String(Date.now()) });
    await r.set(names.lease('market'), 'h1:100', 'PX', 60_000);
    await seedBeat(names, 'risk_guard', { standby: 'h3:300', standby_at: String(Date.now() - 120_000) });
    await r.set(names.lease('risk_guard'), 'h1:100', 'PX', 60_000);
    const fs = await contended(names);
    expect(fs).toHaveLength(1);
    expect(fs[0]).toMatchObject({ severity: 'info', subject: 'engines' });
    expect(fs[0]!.message).toContain('a second engine (h2:200) waits as standby for market');
  });

  it.runIf(existsSync('dist/cli.js'))('qt diagnose pipeline --json reports it with the lease in the snapshot', async () => {
    const prefix = uniquePrefix('ec');
    const names = new Names({ prefix });
    const r = testRedis();
    await seedBeat(names, 'market', { host: 'h2', pid: '200' });
    await r.set(names.lease('market'), 'h1:100', 'PX', 60_000);
    const out = await new Promise<{ code: number | null; stdout: string }>((res) => {
      const env = { ...process.env };
      for (const k of Object.keys(env)) if (k.startsWith('QT_') || k === 'REDIS_URL') delete env[k];
      const p = spawn(process.execPath, ['dist/cli.js', 'diagnose', 'pipeline', '--json', '--prefix', prefix, '--redis-url', testRedisUrl()], { env });
      let stdout = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.on('close', (code) => res({ code, stdout }));
    });
    expect(out.code).toBe(2);
    const j = JSON.parse(out.stdout) as { leases: unknown[]; findings: Finding[] };
    expect(j.leases).toEqual([expect.objectContaining({ stage: 'market', holder: 'h1:100' })]);
    expect(j.findings.some((f) => f.code === 'ENGINE_CONTENDED' && f.severity === 'crit')).toBe(true);
  });
});
