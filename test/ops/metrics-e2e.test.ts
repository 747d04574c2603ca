/** A running engine (`qt up --metrics-port`) scraped over HTTP: the series are there with values that match Redis. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Names } from '../../src/contract/names.js';
import { freePort } from '../helpers/redis-server.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

afterAll(closeAll);
const procs: ChildProcess[] = [];
afterAll(() => procs.forEach((p) => p.kill('SIGKILL')));

const series = (text: string, name: string, labels: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

describe.runIf(existsSync('dist/cli.js'))('qt up --metrics-port', () => {
  it('serves Prometheus series of the running stages whose counts match the metrics in Redis', async () => {
    const r = testRedis();
    const prefix = uniquePrefix('metrics');
    const names = new Names({ prefix });
    const port = await freePort();
    const p = spawn(process.execPath, ['dist/cli.js', 'up', '--stages', 'market', '--prefix', prefix, '--redis-url', testRedisUrl(), '--metrics-port', String(port)], {
      env: { ...process.env, QT_MARKET_TICK_MS: '100', QT_LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    procs.push(p);
    const text = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null);
      if (!res?.ok) return null;
      const t = await res.text();
      return (series(t, 'qt_stage_messages_total', 'stage="market",outcome="out"') ?? 0) >= 5 ? t : null;
    }, 20000, 'market series with 5 ticks');
    expect(text).toMatch(/qt_engine_info\{[^}]*mode="PAPER"/);
    p.kill('SIGTERM');
    await new Promise((res) => p.once('exit', res));
    const scraped = series(text, 'qt_stage_messages_total', 'stage="market",outcome="in"')!;
    // Redis holds at least what was scraped (the engine kept ticking until it stopped).
    let inRedis = 0;
    const m = Names.minuteOf(Date.now());
    for (const k of [names.metrics('market', m - 1), names.metrics('market', m)]) inRedis += Number((await r.hget(k, 'in')) ?? 0);
    expect(scraped).toBeGreaterThanOrEqual(5);
    expect(inRedis).toBeGreaterThanOrEqual(scraped);
  });
});
