/**
 * Settings typed by hand: unknown symbols, `--env-file` mistakes (also through the
 * README's `npx --no-install` form), misspelt QT_* variables. Through dist/cli.js.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nearest } from '../../src/config/suggest.js';
import { unknownQtVariables } from '../../src/config/unknown-vars.js';
import { testRedisUrl, uniquePrefix } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'qt-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', REDIS_URL: 'redis://127.0.0.1:1', ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
// `node -- dist/cli.js`, as the installed `qt` (its shebang): Node 20 reads no --env-file after `--`.
const qt = (args: string[], env: Record<string, string> = {}) => run(process.execPath, ['--', 'dist/cli.js', ...args], env);
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe('nearest names', () => {
  it('finds the nearest known name within a few edits, or none', () => {
    expect(nearest('QT_MAX_LEVRAGE', ['QT_MAX_LEVERAGE', 'QT_MIN_CONFIDENCE'])).toBe('QT_MAX_LEVERAGE');
    expect(nearest('ETHUSD', ['BTCUSDT', 'ETHUSDT'])).toBe('ETHUSDT');
    expect(nearest('BTCSUDT', ['BTCUSDT', 'ETHUSDT'])).toBe('BTCUSDT'); // a swap is one edit
    expect(nearest('COMPLETELYDIFFERENT', ['BTCUSDT'])).toBeUndefined();
    expect(unknownQtVariables({ QT_MAX_LEVRAGE: 'environment', QT_MAX_LEVERAGE: 'environment', QT_DIAG_STALE: 'environment', HOME: 'environment' }))
      .toEqual(['QT_MAX_LEVRAGE (environment) is not a qt setting and is ignored; did you mean QT_MAX_LEVERAGE? (docs/configuration.md lists them)']);
  });
});

describe.runIf(existsSync('dist/cli.js'))('settings typed by hand (CLI)', () => {
  it('QT_SYMBOLS with unknown symbols is refused, naming each with the nearest known symbol', () => {
    const r = qt(['config', 'show'], { QT_SYMBOLS: 'BTCUSDT,FOOUSDT,ETHUSD' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/QT_SYMBOLS: FOOUSDT is not a symbol of the market snapshot data\/binance-usdm-exchangeInfo\.[0-9-]+\.json \(nearest: \w+USDT\)/);
    expect(r.stderr).toMatch(/QT_SYMBOLS: ETHUSD is not a symbol of .* \(nearest: ETHUSDT\)/);
    expect(r.stderr).not.toMatch(/BTCUSDT is not/);
    noStack(r.stderr);
    expect(qt(['config', 'show'], { QT_SYMBOLS: 'BTCUSDT,ETHUSDT' }).code).toBe(0);
    // a markets file of one's own decides instead of the snapshot
    const markets = join(dir, 'markets.json');
    writeFileSync(markets, JSON.stringify({ symbols: [{ symbol: 'FOOUSDT', status: 'TRADING', baseAsset: 'FOO', quoteAsset: 'USDT', filters: [
      { filterType: 'PRICE_FILTER', minPrice: '0.01', maxPrice: '100000', tickSize: '0.01' },
      { filterType: 'LOT_SIZE', minQty: '1', maxQty: '100000', stepSize: '1' },
      { filterType: 'MARKET_LOT_SIZE', minQty: '1', maxQty: '100000', stepSize: '1' },
      { filterType: 'MIN_NOTIONAL', notional: '5' },
    ] }] }));
    const own = qt(['config', 'show'], { QT_SYMBOLS: 'FOOUSDT', QT_MARKETS_FILE: markets });
    expect(own.code, own.stderr).toBe(0);
  });

  it('qt policy set allowlist=foo is refused before anything changes, naming the nearest symbol', () => {
    const prefix = uniquePrefix('allow');
    const r = qt(['policy', 'set', 'allowlist=foo,BTCUSDT,SOLUSD', '--redis-url', testRedisUrl(), '--prefix', prefix]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/policy set: 2 unknown symbols; nothing changed/);
    expect(r.stderr).toMatch(/allowlist: FOO is not a symbol of .*\(nearest: \w+\)/);
    expect(r.stderr).toMatch(/allowlist: SOLUSD is not a symbol of .*\(nearest: SOLUSDT\)/);
    const show = qt(['policy', 'show', '--json', '--redis-url', testRedisUrl(), '--prefix', prefix]);
    expect(show.code, show.stderr).toBe(0);
    expect((JSON.parse(show.stdout) as { allowlist: string[] }).allowlist).not.toContain('FOO');
    const ok = qt(['policy', 'set', 'allowlist=btcusdt,ethusdt', '--redis-url', testRedisUrl(), '--prefix', prefix]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('--env-file with no value is refused; a bad value from the file names file and line', () => {
    for (const args of [['config', 'show', '--env-file'], ['config', 'show', '--env-file', '']]) {
      const r = qt(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('qt: --env-file: name a file');
    }
    const f = join(dir, 'values.env');
    writeFileSync(f, '# settings\nQT_EXCHANGE=paper\n\nQT_MAX_OPEN_POSITIONS=-3\n');
    const r = qt(['config', 'show', '--env-file', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:4: QT_MAX_OPEN_POSITIONS: expected a whole number from 1 to 1000 (got "-3")`);
    // the same value already in the environment (Node 20 under npx, systemd's EnvironmentFile=) is still the file's
    const again = qt(['config', 'show', '--env-file', f], { QT_MAX_OPEN_POSITIONS: '-3' });
    expect(again.stderr).toContain(`${f}:4: QT_MAX_OPEN_POSITIONS`);
    // a different environment value wins and is named as the environment's
    const env = qt(['config', 'show', '--env-file', f], { QT_MAX_OPEN_POSITIONS: '0' });
    // (one problem is one line: `qt: QT_…: …`, with no file:line since the value is the environment's)
    expect(env.stderr).toMatch(/^qt: QT_MAX_OPEN_POSITIONS: expected/m);
  });

  it('misspelt QT_* variables are warned about with the nearest known name', () => {
    const f = join(dir, 'typo.env');
    writeFileSync(f, 'QT_EXCHANGE=paper\nQT_MAX_LEVRAGE=5\n');
    const r = qt(['config', 'show', '--env-file', f], { QT_SYMBOLZ: 'BTCUSDT' });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`qt: warning: QT_MAX_LEVRAGE (${f}:2) is not a qt setting and is ignored; did you mean QT_MAX_LEVERAGE?`);
    expect(r.stderr).toContain('qt: warning: QT_SYMBOLZ (environment) is not a qt setting and is ignored; did you mean QT_SYMBOLS?');
    expect(qt(['config', 'show'], { QT_MAX_LEVERAGE: '5', QT_DIAG_STALE: '10m' }).stderr).toBe('');
  });

  // Node 20's npx reads `--env-file` from its own command line (it stops at `--` only), so
  // the README's form puts `--` before qt: then qt reads the file and names its problems.
  const npx = run('npx', ['--no-install', '--', 'qt', '--version']);
  it.skipIf(npx.code !== 0)(`through npx --no-install -- qt: a missing env file is qt's one line and exit 2${npx.code !== 0 ? ' (skipped: npx cannot run this project\'s qt here)' : ''}`, () => {
    const missing = join(dir, 'missing.env');
    const r = run('npx', ['--no-install', '--', 'qt', 'config', 'show', '--env-file', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`qt: --env-file ${missing}: cannot read it (ENOENT)`);
    const f = join(dir, 'npx.env');
    writeFileSync(f, 'QT_PREFIX=ok\nQT_MAX_LEVERAGE=500\n');
    const bad = run('npx', ['--no-install', 'qt', 'config', 'show', '--env-file', f]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${f}:2: QT_MAX_LEVERAGE: expected a whole number from 1 to 125 (got "500")`);
  });
});

describe.runIf(existsSync('dist/cli.js'))('qt config show: the policy in force', () => {
  it('shows the policy from Redis beside the configured defaults, after qt policy set', () => {
    const prefix = uniquePrefix('cfgpol');
    const redis = ['--redis-url', testRedisUrl(), '--prefix', prefix];
    const before = qt(['config', 'show', ...redis]);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/policy: none stored yet in .*policy:current/);
    expect(qt(['policy', 'set', 'max_leverage=3', 'min_confidence=0.7', ...redis]).code).toBe(0);
    const after = qt(['config', 'show', ...redis]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/policy: in force: .*policy:current version 2/);
    expect(after.stdout).toMatch(/max_leverage +3 +10 +\(changed by qt policy set\)/);
    expect(after.stdout).toMatch(/min_confidence +0\.7 +0\.55 +\(changed by qt policy set\)/);
    expect(after.stdout).toMatch(/max_open_positions +10 +\(same\)/);
    const json = JSON.parse(qt(['config', 'show', '--json', ...redis]).stdout) as { policy: { in_force: { max_leverage: number }; configured: { max_leverage: number } } };
    expect(json.policy.in_force.max_leverage).toBe(3);
    expect(json.policy.configured.max_leverage).toBe(10);
    // without Redis: the configuration still shows, and the policy says it is unknown
    const off = qt(['config', 'show']);
    expect(off.code).toBe(0);
    expect(off.stdout).toMatch(/policy: in force unknown: cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  });
});
