/**
 * An operator's first hour through the built binary (dist/cli.js): every mistake is one
 * clear line naming what is wrong, and the right exit code.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeAll, testRedis, testRedisUrl, uniquePrefix } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'qt-op-'));
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await closeAll();
});

interface Run { code: number; stdout: string; stderr: string }

/** Runs dist/cli.js without the caller's QT_* and REDIS_URL (Redis unreachable unless given). */
function qt(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', NO_COLOR: '1', REDIS_URL: 'redis://127.0.0.1:1', ...env };
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['dist/cli.js', ...args], { env: base, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const noStack = (s: string) => expect(s, 'a stack trace').not.toMatch(/\n\s+at .+:\d+:\d+/);

async function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

describe.runIf(existsSync('dist/cli.js'))('operator first hour (CLI)', () => {
  it('qt health: a usage error exits 3 (UNKNOWN), never 2 (CRIT)', async () => {
    for (const args of [['health', '--format', 'xml'], ['health', '--bogus'], ['health', '--window', 'soon'], ['health', '--lag-warn', 'many']]) {
      const r = await qt(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(3);
      noStack(r.stderr);
    }
    // other commands keep exit 2 for a usage error
    expect((await qt(['diagnose', 'pipeline', '--window', 'soon'])).code).toBe(2);
  });

  it('--window -5m names the flag and the value instead of "Unknown arguments: 5, m"', async () => {
    for (const args of [['diagnose', 'pipeline', '--window', '-5m'], ['health', '--window', '-5m'], ['up', '--for', '-30s']]) {
      const r = await qt(args);
      expect(r.stderr).toMatch(/--(window|for): expected a duration .*\(got "-(5m|30s)"\)/);
      expect(r.stderr).not.toMatch(/Unknown arguments/);
      expect(r.code).toBe(args[0] === 'health' ? 3 : 2);
    }
  });

  it('qt policy with no action says which actions exist', async () => {
    const r = await qt(['policy']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/qt: policy: name an action: qt policy show .* or qt policy set key=value/);
    expect(r.stderr).not.toMatch(/Not enough non-option arguments/);
  });

  it('qt diagnose rejections --stage nonsense is a usage error naming the known stages', async () => {
    const r = await qt(['diagnose', 'rejections', '--stage', 'nonsense']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--stage: unknown stage "nonsense"; expected one of market, ai_engine, .*intent_executor/);
    const typo = await qt(['diagnose', 'rejections', '--stage', 'intent_bridg']);
    expect(typo.stderr).toMatch(/did you mean intent_bridge\?/);
    expect((await qt(['diagnose', 'streams', '--stage', 'apply_layer'])).stderr).toMatch(/apply to qt diagnose rejections only/);
  });

  it('REDIS_URL at an HTTP server or another TCP service: the server does not speak Redis (exit 3)', async () => {
    const http = createHttpServer((_q, res) => res.end('not redis'));
    const tcp = createServer((c) => c.on('data', () => c.write('dunno\r\n')));
    try {
      const httpPort = await listen(http);
      for (const port of [httpPort, await listen(tcp)]) {
        for (const args of [['health'], ['diagnose', 'pipeline'], ['policy', 'show']]) {
          const r = await qt(args, { REDIS_URL: `redis://127.0.0.1:${port}` });
          expect(r.code, `${args.join(' ')} → ${r.stderr}`).toBe(3);
          // Node's HTTP server answers 400 and resets the connection: the reset can reach the
          // client before the reply's bytes, so for HTTP either sentence is the truth.
          if (port === httpPort) expect(r.stderr).toMatch(new RegExp(`redis://127.0.0.1:${port}: the server (at that address does not speak Redis|closed the connection without a Redis reply)`));
          else expect(r.stderr).toContain(`redis://127.0.0.1:${port}: the server at that address does not speak Redis (its reply is not the Redis protocol: it begins with "d")`);
          expect(r.stderr).not.toMatch(/Please report this|Unknown RESP type/);
          noStack(r.stderr);
        }
      }
    } finally {
      http.close();
      tcp.close();
    }
  });

  it('a metrics port in use names --metrics-port and exits 2', async () => {
    const busy = createServer();
    const port = await listen(busy);
    try {
      const r = await qt(['up', '--stages', 'market', '--metrics-port', String(port), '--for', '2m', '--redis-url', testRedisUrl(), '--prefix', uniquePrefix('mp')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`qt: --metrics-port ${port}: 127.0.0.1:${port} is already in use by another process; choose another --metrics-port`);
      expect(r.stderr).not.toMatch(/EADDRINUSE/);
      noStack(r.stderr);
    } finally {
      busy.close();
    }
  });

  it('a headless run logs its summary with stderr not a terminal', async () => {
    const prefix = uniquePrefix('hl');
    const r = await qt(['up', '--stages', 'market,ai_engine', '--for', '3s', '--redis-url', testRedisUrl(), '--prefix', prefix]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[PAPER\] in\/out\/rejected: market \d+\/\d+\/\d+ · ai_engine \d+\/\d+\/\d+/);
    const json = await qt(['up', '--stages', 'market', '--for', '2s', '--log-format', 'json', '--redis-url', testRedisUrl(), '--prefix', prefix]);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stderr.trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
    expect(lines.some((l) => /in\/out\/rejected: market/.test(l.msg))).toBe(true);
    testRedis(); // (the helper's connection list is closed in afterAll)
  });
});

