import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, redactedConfig } from '../src/config/config.js';
import { parseEnvFile } from '../src/config/env-file.js';
import { UsageError } from '../src/errors.js';

describe('configuration', () => {
  it('uses the documented defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.prefix).toBe('quantum');
    expect(c.names.stream('trade.intent')).toBe('quantum:stream:trade.intent');
    expect(c.symbols).toHaveLength(12);
    expect(c.exchange).toBe('paper');
  });

  it('reads an env file in the seed deployment format, with the environment taking precedence', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-env-'));
    const f = join(dir, 'intent-executor.env');
    writeFileSync(f, '# executor\nexport QT_PREFIX=seed\nQT_STREAM_APPLY_APPROVED=apply.plan.manual\nQT_MAX_LEVERAGE="20" # comment\nQT_BATCH_SIZE=50\n');
    const c = loadConfig({ env: { QT_BATCH_SIZE: '7' }, envFile: f });
    expect(c.prefix).toBe('seed');
    expect(c.names.stream('apply.approved')).toBe('seed:stream:apply.plan.manual');
    expect(c.trading.maxLeverage).toBe(20);
    expect(c.runtime.batchSize).toBe(7);
    expect(c.sources.QT_PREFIX).toBe('file');
  });

  it('reports every problem at once, each naming the variable and the expected form', () => {
    try {
      loadConfig({ env: { QT_BATCH_SIZE: '0', QT_EXCHANGE: 'kraken', QT_STREAM_NOPE: 'x', QT_SYMBOLS: 'btc usdt' } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      // The first problem is the message itself (one line), the rest follow as lines.
      const lines = [(e as UsageError).message, ...(e as UsageError).lines].join('\n');
      expect(lines).toMatch(/QT_BATCH_SIZE: expected a whole number from 1 to 10000/);
      expect(lines).toMatch(/QT_EXCHANGE: .*paper.*binance/);
      expect(lines).toMatch(/QT_STREAM_NOPE: not a stream of the contract/);
      expect(lines).toMatch(/QT_SYMBOLS: expected a comma list of symbols/);
      expect((e as UsageError).exitCode).toBe(2);
    }
  });

  it('rejects a malformed env file line with its line number', () => {
    expect(() => parseEnvFile('A=1\nthis is not a setting\n', 'x.env')).toThrow(UsageError);
    try {
      parseEnvFile('A=1\nthis is not a setting\n', 'x.env');
    } catch (e) {
      expect((e as UsageError).lines[0]).toMatch(/^x.env:2: expected KEY=value/);
    }
  });

  it('redacts secrets in the effective configuration', () => {
    const c = loadConfig({ env: { REDIS_URL: 'rediss://user:pw1234@host:6380', BINANCE_API_KEY: 'k-123456', BINANCE_API_SECRET: 's-654321' } });
    const text = JSON.stringify(redactedConfig(c)) + JSON.stringify(c.effective);
    expect(text).not.toContain('pw1234');
    expect(text).not.toContain('k-123456');
    expect(text).not.toContain('s-654321');
  });
});

describe('configuration docs', () => {
  it('document every variable the loader accepts', async () => {
    const { readFileSync } = await import('node:fs');
    const { VARIABLES } = await import('../src/config/config.js');
    const doc = readFileSync('docs/configuration.md', 'utf8');
    const missing = Object.keys(VARIABLES).filter((k) => !doc.includes('`' + k + '`'));
    expect(missing).toEqual([]);
  });
});
