/** End-to-end checks of the built `qt` binary: help, usage errors, unreachable Redis. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from './helpers/redis-server.js';
import { closeAll, testNames, testRedis, testRedisUrl } from './helpers/redis.js';

const bin = 'dist/cli.js';
const qt = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });

describe.runIf(existsSync(bin))('qt binary', () => {
  it('lists the commands with --help and exits 0', () => {
    const r = qt(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/qt up/);
    expect(r.stdout).toMatch(/qt config show/);
  });

  it('answers an unknown command with one line and exit code 2, not a stack', () => {
    const r = qt(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('qt: unknown command "frobnicate" (qt --help)\n');
  });

  // User errors are one line: the flag, the value as given, what is allowed, where help is.
  it.each([
    [['health', '--format', 'xml'], 3, 'qt: --format: "xml" is not one of text, json, nagios, prom (qt health --help)'],
    [['health', '--bogus'], 3, 'qt: unknown option --bogus (qt health --help)'],
    [['up', '--colour', 'x'], 2, 'qt: unknown option --colour (qt up --help)'],
    [['helth'], 2, 'qt: unknown command "helth"; did you mean health? (qt --help)'],
    [['trace'], 2, 'qt: trace: missing an argument (qt trace --help)'],
  ])('usage error of qt %j is one line naming the flag and value, exit %i', (args, code, line) => {
    const r = qt(args, { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.status).toBe(code);
    expect(r.stderr).toBe(line + '\n');
  });

  // Bad flag values: the value as typed (never NaN), under the flag the user typed.
  it.each([
    [['up', '--seed', 'x'], 2, /^qt: --seed: expected a whole number from 0 to 2147483647 \(got "x"\)$/],
    [['up', '--speed', 'fast', '--replay-file', 'data/none.json'], 2, /^qt: --speed: expected a number .* \(got "fast"\)/],
    [['up', '--metrics-port', '0x10'], 2, /^qt: --metrics-port: expected a port from 1 to 65535 \(got "0x10"\)$/],
    [['trace', 'foo', '--scan', 'abc'], 2, /^qt: --scan: expected a whole number from 1 to 1000000 \(got "abc"\)$/],
    [['close', 'BTCUSDT', '--pct', 'half'], 2, /^qt: --pct: expected one of 25, 50, 75, 100 \(got "half"\)$/],
    [['health', '--redis-url', 'redis://127.0.0.1:99999'], 3, /^qt: --redis-url: expected redis:\/\//],
  ])('a bad value of qt %j names the flag and quotes the value (exit %i)', (args, code, line) => {
    const r = qt(args);
    expect(r.status).toBe(code);
    expect(r.stderr.split('\n')[0]).toMatch(line);
    expect(r.stderr).not.toMatch(/NaN/);
  });

  it('a bad value from the environment names the variable', () => {
    const r = qt(['up'], { QT_REPLAY_SPEED: 'fast', QT_MARKET: 'replay', QT_REPLAY_FILE: 'data/none.json' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^qt: QT_REPLAY_SPEED: expected a number .* \(got "fast"\)/);
  });

  // config show runs every check qt up runs before it connects (src/config/preconnect.ts).
  it.each([
    [{ QT_SYMBOLS: 'BTCUSDT,FOOUSDT' }, /^qt: QT_SYMBOLS: FOOUSDT is not a symbol of the market snapshot/],
    [{ QT_EXCHANGE: 'binance', QT_BINANCE_MODE: 'live' }, /^qt: QT_LIVE_CONFIRM: live trading needs/],
    [{ QT_EXCHANGE: 'binance' }, /^qt: BINANCE_API_KEY: not set .* \(and 1 more problem:\)$/],
    [{ QT_EXCHANGE: 'binance', QT_BINANCE_MODE: 'live', QT_LIVE_CONFIRM: 'I_UNDERSTAND_THIS_TRADES_REAL_MONEY', QT_BINANCE_BASE_URL: 'https://venue.example', BINANCE_API_KEY: 'k', BINANCE_API_SECRET: 's' }, /^qt: QT_BINANCE_BASE_URL: live trading through venue.example/],
    [{ QT_MARKET: 'replay', QT_REPLAY_FILE: 'data/REAL-DATA.md' }, /^qt: replay file data\/REAL-DATA.md: cannot tell the symbol .*--replay-symbol/],
    [{ QT_MARKET: 'replay', QT_REPLAY_FILE: 'data/REAL-DATA.md', QT_REPLAY_SYMBOL: 'FOOUSDT' }, /^qt: QT_REPLAY_SYMBOL: FOOUSDT is not a symbol/],
  ])('config show and up refuse the same configuration %j before connecting (exit 2)', (env, line) => {
    const env2 = { ...env, REDIS_URL: 'redis://127.0.0.1:1' };
    const show = qt(['config', 'show'], env2);
    const up = qt(['up', '--for', '1s'], env2);
    expect(show.status).toBe(2);
    expect(show.stderr.split('\n')[0]).toMatch(line);
    expect(up.status).toBe(2);
    expect(up.stderr).toBe(show.stderr);
  });

  it('lower-case symbols are used upper-cased (Binance symbols are upper case)', () => {
    const r = qt(['config', 'show', '--json'], { QT_SYMBOLS: 'btcusdt,ethusdt', REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/"QT_SYMBOLS": "BTCUSDT,ETHUSDT"/);
  });

  it('--replay-symbol names the symbol of a file whose name does not say it; one per file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-rs-'));
    const f = join(dir, 'candles.json');
    copyFileSync('data/XRPUSDT-perp-5m-2021-11.ohlcv.json', f);
    const env = { REDIS_URL: 'redis://127.0.0.1:1' };
    expect(qt(['up', '--replay-file', f, '--for', '1s'], env).stderr).toMatch(/give --replay-symbol/);
    const two = qt(['up', '--replay-file', `${f},${f}`, '--replay-symbol', 'XRPUSDT', '--for', '1s'], env);
    expect(two.status).toBe(2);
    expect(two.stderr).toBe('qt: --replay-symbol: 1 symbol for 2 replay files (one symbol per file, in the order of --replay-file)\n');
    const unknown = qt(['up', '--replay-file', f, '--replay-symbol', 'FOOUSDT', '--for', '1s'], env);
    expect(unknown.stderr).toMatch(/^qt: --replay-symbol: FOOUSDT is not a symbol of/);
    // Accepted: it gets as far as connecting (Redis on port 1 does not answer: exit 3).
    const ok = qt(['up', '--replay-file', f, '--replay-symbol', 'xrpusdt', '--for', '1s'], env);
    expect(ok.stderr).not.toMatch(/replay-symbol|replay file/);
    expect(ok.status).toBe(3);
  });

  it('one configuration problem is one line naming the variable; several name the first on the first line', () => {
    const one = qt(['config', 'show'], { QT_MAX_LEVERAGE: '500' });
    expect(one.status).toBe(2);
    expect(one.stderr).toBe('qt: QT_MAX_LEVERAGE: expected a whole number from 1 to 125 (got "500")\n');
    const two = qt(['config', 'show'], { QT_MAX_LEVERAGE: '500', QT_MIN_CONFIDENCE: 'high' });
    expect(two.stderr.split('\n')[0]).toMatch(/^qt: QT_\w+: .* \(and 1 more problem:\)$/);
  });

  it('answers a bad flag value with exit code 2', () => {
    const r = qt(['up', '--for', 'soon']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--for: expected a duration/);
  });

  it('reports every configuration problem at once, naming each variable, exit code 2', () => {
    const r = qt(['config', 'show'], { QT_MAX_LEVERAGE: '500', QT_MIN_CONFIDENCE: 'high', REDIS_URL: 'http://x' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/\(and 2 more problems:\)/);
    expect(r.stderr).toMatch(/QT_MAX_LEVERAGE: expected a whole number from 1 to 125/);
    expect(r.stderr).toMatch(/QT_MIN_CONFIDENCE: expected a number from 0 to 1/);
    expect(r.stderr).toMatch(/REDIS_URL: expected redis:\/\//);
  });

  it('never prints a Redis password or API secret in config show', () => {
    const r = qt(['config', 'show'], { REDIS_URL: 'redis://ops:hunter2pw@127.0.0.1:6390/0', BINANCE_API_KEY: 'AKEYVALUE123', BINANCE_API_SECRET: 'SECRETVALUE456' });
    expect(r.status).toBe(0);
    const all = r.stdout + r.stderr;
    expect(all).not.toContain('hunter2pw');
    expect(all).not.toContain('AKEYVALUE123');
    expect(all).not.toContain('SECRETVALUE456');
    expect(all).toContain('redis://ops:***@127.0.0.1:6390/0');
  });

  it('delivers a report larger than a pipe buffer whole before exiting', async () => {
    const r = testRedis();
    const names = testNames();
    const p = r.pipeline();
    for (let i = 0; i < 3000; i++) p.hset(names.snapshot(`G${i}USDT`), { qty: '0', side: 'LONG', ts: '1' });
    await p.exec();
    const res = spawnSync(process.execPath, [bin, 'diagnose', 'pipeline', '--json', '--redis-url', testRedisUrl(), '--prefix', names.prefix], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
    expect(res.stdout.length).toBeGreaterThan(64 * 1024);
    const report = JSON.parse(res.stdout) as { positions: { ghosts: unknown[] } };
    expect(report.positions.ghosts).toHaveLength(3000);
    await closeAll();
  });

  it('names the unreachable Redis (password redacted) in one line and exits 3', async () => {
    const port = await freePort();
    const r = qt(['up', '--for', '1s'], { REDIS_URL: `redis://u:topsecret@127.0.0.1:${port}` });
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`cannot reach Redis at redis://u:\\*\\*\\*@127.0.0.1:${port}`));
    expect(r.stderr).not.toContain('topsecret');
  });
});
