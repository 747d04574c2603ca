import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { render } from 'ink';
import { cleanup } from 'ink-testing-library';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { App } from '../../src/tui/App.js';
import { RedisSource } from '../../src/tui/redis-source.js';
import { busyReport } from './fixtures.js';
import { MemorySource } from './memory-source.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';
import { KEYS, renderTui, strip } from './render.js';
import { seedPipeline } from './seed.js';

const sources: RedisSource[] = [];
afterEach(() => cleanup());
afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await closeAll();
});

function setup(backupDir?: string) {
  const prefix = uniquePrefix('tui');
  const config = loadConfig({ env: {}, overrides: { REDIS_URL: testRedisUrl(), QT_PREFIX: prefix } });
  const source = new RedisSource(config, { windowMs: 15 * 60_000, backupDir });
  sources.push(source);
  return { config, source, redis: testRedis() };
}

describe('the console over the test Redis', () => {
  it('shows the seeded pipeline: stages, a starving group, drift and a ghost', async () => {
    const { config, source, redis } = setup();
    await seedPipeline(redis, config.names);
    const t = renderTui({ source, prefix: config.prefix, size: { columns: 120, rows: 40 } });
    let f = await t.until((f) => f.includes('intent_bridge'), 'pipeline');
    expect(f).toContain('PAPER');
    expect(f).toMatch(/intent_bridge.*80%.*invalid_quantity ×8/);
    f = await t.press('2', 'stream / group');
    expect(f).toMatch(/intent_executor.*STARVING/);
    f = await t.press('4', 'symbol');
    expect(f).toMatch(/BTCUSDT\s+LONG.*DRIFT/);
    expect(f).toMatch(/ghosts 1/);
  });

  it('kill switch on via the console sets the key, only after y', async () => {
    const { config, source, redis } = setup();
    const t = renderTui({ source, prefix: config.prefix });
    await t.until((f) => f.includes('kill: off'), 'first report');
    await t.press('K', 'currently OFF');
    await t.press(KEYS.enter, 'turn ON?');
    expect(await redis.get(config.names.killSwitch())).toBeNull();
    await t.press('y', 'kill switch is ON');
    expect(await redis.get(config.names.killSwitch())).toBe('operator: operator via qt tui');
    await t.press('x');
    await t.until((f) => f.includes('KILL SWITCH ON'), 'header shows the switch');
    await t.press('K', 'turn OFF?');
    await t.press('y', 'kill switch is OFF');
    expect(await redis.get(config.names.killSwitch())).toBeNull();
  });

  it('ghost cleanup previews, then deletes with a backup after y', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-tui-ghosts-'));
    const { config, source, redis } = setup(dir);
    await seedPipeline(redis, config.names);
    const t = renderTui({ source, prefix: config.prefix });
    await t.until((f) => f.includes('Funnel'), 'first report');
    const f = await t.press('G', 'will be deleted');
    expect(f).toContain(`${config.prefix}:position:DOGEUSDT`);
    expect(await redis.exists(config.names.position('DOGEUSDT'))).toBe(1);
    await t.press('y', 'deleted 1 ghost key');
    expect(await redis.exists(config.names.position('DOGEUSDT'))).toBe(0);
    expect(await redis.exists(config.names.position('BTCUSDT'))).toBe(1);
    expect(readdirSync(dir).some((n) => n.startsWith('qt-ghosts-'))).toBe(true);
  });
});

describe('stdin that is not a terminal', () => {
  it('renders without input handling instead of throwing', async () => {
    const stdin = new PassThrough() as unknown as NodeJS.ReadStream; // isTTY undefined: raw mode unsupported
    const out = new PassThrough() as unknown as NodeJS.WriteStream & { columns: number; rows: number };
    out.columns = 100;
    out.rows = 30;
    let text = '';
    (out as unknown as PassThrough).on('data', (d: Buffer) => (text += d.toString()));
    const inst = render(<App source={new MemorySource(busyReport())} prefix="qt" refreshMs={60_000} />, { stdin, stdout: out, debug: true, patchConsole: false });
    try {
      await waitFor(() => strip(text).includes('Funnel'), 5000, 'a frame');
      expect(strip(text)).toContain('stdin is not a terminal: display only');
    } finally {
      inst.unmount();
    }
  });
});
