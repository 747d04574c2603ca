import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { variableDocs } from '../../src/commands/systemd.js';
import { loadConfig, VARIABLES } from '../../src/config/config.js';
import { parseEnvFile } from '../../src/config/env-file.js';
import { STAGE_FACTORIES } from '../../src/engine/stages/index.js';
import { UsageError } from '../../src/errors.js';
import { EXCHANGE_STAGES, generateAll, generateEnvFiles, generateUnits, parseUnit, unitName, type SystemdOptions } from '../../src/ops/systemd.js';

const available = Object.keys(STAGE_FACTORIES);
const base = async (over: Partial<SystemdOptions> = {}): Promise<SystemdOptions> => ({
  stages: available,
  available,
  variables: await variableDocs(),
  ...over,
});
const tmp: string[] = [];
afterAll(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});
const get = (u: ReturnType<typeof parseUnit>, sec: string, key: string) => u.get(sec)?.get(key) ?? [];

describe('qt systemd generate: units', () => {
  it('makes one hardened, restartable unit per stage, each stage exactly once', async () => {
    const files = generateUnits(await base());
    const stageUnits = files.filter((f) => f.name.endsWith('.service') && f.name !== 'qt-health.service');
    expect(stageUnits.map((f) => f.name).sort()).toEqual(available.map(unitName).sort());
    const seen: string[] = [];
    for (const f of stageUnits) {
      const u = parseUnit(f.content);
      expect([...u.keys()]).toEqual(['Unit', 'Service', 'Install']);
      const [exec] = get(u, 'Service', 'ExecStart');
      expect(exec).toMatch(/^\/\S+ up --stages [a-z_]+ --log-format json --env-file \/etc\/quantum\/[a-z-]+\.env$/);
      const stage = /--stages (\S+)/.exec(exec)![1];
      seen.push(stage);
      expect(f.name).toBe(unitName(stage));
      expect(get(u, 'Service', 'EnvironmentFile')).toEqual(['/etc/quantum/common.env', `/etc/quantum/${stage.replace(/_/g, '-')}.env`]);
      for (const [k, v] of [['Restart', 'on-failure'], ['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['User', 'quantum'], ['Group', 'quantum']]) {
        expect(get(u, 'Service', k), `${f.name} ${k}`).toEqual([v]);
      }
      expect(get(u, 'Service', 'RestartSec')).toHaveLength(1);
      expect(Number.parseInt(get(u, 'Service', 'TimeoutStopSec')[0], 10)).toBeGreaterThanOrEqual(30);
      expect(get(u, 'Unit', 'StartLimitBurst')).toHaveLength(1);
      expect(get(u, 'Service', 'ReadWritePaths')).toEqual([]);
      expect(get(u, 'Install', 'WantedBy')).toEqual(['qt.target']);
      const creds = get(u, 'Service', 'LoadCredential');
      if (EXCHANGE_STAGES.includes(stage)) {
        expect(creds).toEqual([
          'binance_api_key:/etc/quantum/credentials/binance_api_key',
          'binance_api_secret:/etc/quantum/credentials/binance_api_secret',
        ]);
        expect(get(u, 'Service', 'Environment')).toContain('BINANCE_API_KEY_FILE=%d/binance_api_key');
        expect(get(u, 'Service', 'Environment')).toContain('BINANCE_API_SECRET_FILE=%d/binance_api_secret');
      } else {
        expect(creds, `${stage} must not get the API key`).toEqual([]);
        expect(f.content).not.toContain('BINANCE');
      }
    }
    expect(seen.sort()).toEqual([...available].sort());
  });

  it('groups the stages in qt.target and checks health with a timer running qt health --quiet', async () => {
    const files = generateUnits(await base({ stages: ['apply_layer', 'intent_executor'] }));
    const target = parseUnit(files.find((f) => f.name === 'qt.target')!.content);
    expect(get(target, 'Unit', 'Wants')[0].split(' ').sort()).toEqual(['qt-apply-layer.service', 'qt-health.timer', 'qt-intent-executor.service']);
    expect(get(target, 'Install', 'WantedBy')).toEqual(['multi-user.target']);
    const health = parseUnit(files.find((f) => f.name === 'qt-health.service')!.content);
    expect(get(health, 'Service', 'Type')).toEqual(['oneshot']);
    expect(get(health, 'Service', 'ExecStart')[0]).toMatch(/^\/usr\/local\/bin\/qt health --quiet /);
    const timer = parseUnit(files.find((f) => f.name === 'qt-health.timer')!.content);
    expect(get(timer, 'Timer', 'Unit')).toEqual(['qt-health.service']);
    expect(get(timer, 'Timer', 'OnUnitActiveSec')).toEqual(['1min']);
    // No watchdog is claimed: the engine does not implement sd_notify.
    for (const f of files) expect(f.content).not.toMatch(/WatchdogSec|Type=notify/);
  });

  it('honours --user, --bin, --no-credentials and --metrics-base-port', async () => {
    const files = generateUnits(await base({ user: 'qt', bin: '/opt/qt/bin/qt', credentials: false, metricsBasePort: 9400 }));
    const exec = parseUnit(files.find((f) => f.name === 'qt-intent-executor.service')!.content);
    expect(get(exec, 'Service', 'User')).toEqual(['qt']);
    expect(get(exec, 'Service', 'LoadCredential')).toEqual([]);
    expect(get(exec, 'Service', 'ExecStart')[0]).toBe(
      `/opt/qt/bin/qt up --stages intent_executor --log-format json --env-file /etc/quantum/intent-executor.env --metrics-port ${9400 + available.indexOf('intent_executor')}`,
    );
  });

  it('refuses an unknown stage by name, and a relative --bin (usage errors, exit 2)', async () => {
    const err = (() => {
      try {
        generateAll({ stages: ['intent_executor', 'intent_exector'], available, variables: [] });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    expect((err as UsageError).message).toContain('intent_exector');
    expect(() => generateAll({ stages: available, available, variables: [], bin: 'qt' })).toThrow(/absolute/);
  });

  it('passes systemd-analyze verify where it is installed', async () => {
    const has = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).status === 0;
    if (!has) return; // parsed checks above still apply
    const dir = mkdtempSync(join(tmpdir(), 'qt-units-'));
    tmp.push(dir);
    const files = generateUnits(await base({ bin: '/bin/sh' }));
    for (const f of files) writeFileSync(join(dir, f.name), f.content);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files.map((f) => join(dir, f.name))], { encoding: 'utf8' });
    expect(r.stderr.trim()).toBe('');
    expect(r.status).toBe(0);
    // …and it does catch a broken unit (so the check above can fail).
    writeFileSync(join(dir, 'qt-broken.service'), files[0].content.replace('/bin/sh', '/nonexistent/qt'));
    const bad = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'qt-broken.service')], { encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
  });
});

describe('qt systemd generate: env files', () => {
  it('common.env documents every setting with its default, commented out, and no secret value', async () => {
    const [common] = generateEnvFiles(await base());
    expect(common.name).toBe('common.env');
    for (const [name, [, dflt]] of Object.entries(VARIABLES)) {
      expect(common.content, name).toMatch(new RegExp(`^#${name}=`, 'm'));
      if (dflt && !/[\s#"']/.test(dflt)) expect(common.content).toContain(`#${name}=${dflt}\n`);
    }
    for (const v of await variableDocs()) expect(common.content).toContain(`#${v.name}=`);
    expect(parseEnvFile(common.content)).toEqual({}); // all commented: defaults apply
    expect(common.content).toMatch(/^#BINANCE_API_KEY=$/m);
  });

  it('the documented defaults, uncommented, load as a valid configuration equal to the defaults', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-env-'));
    tmp.push(dir);
    const files = generateEnvFiles(await base());
    for (const f of files) {
      const path = join(dir, f.name);
      writeFileSync(path, f.content.replace(/^#([A-Z][A-Z0-9_]*=)/gm, '$1'));
      const c = loadConfig({ env: {}, envFile: path });
      const d = loadConfig({ env: {} });
      expect(c.effective, f.name).toEqual(expect.objectContaining(d.effective));
      expect(c.names.stream('apply.approved')).toBe(d.names.stream('apply.approved'));
    }
    expect(files.map((f) => f.name)).toEqual(['common.env', ...available.map((s) => `${s.replace(/_/g, '-')}.env`)]);
  });
});

describe('qt systemd generate (CLI)', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'systemd', 'generate', ...args], {
      encoding: 'utf8', cwd: process.cwd(), env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QT_'))),
    });

  it('writes the files with --out and lists them; exits 2 naming a bad stage', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-out-'));
    tmp.push(dir);
    const ok = cli(['--out', dir, '--stages', 'intent_bridge,apply_layer', '--json']);
    expect(ok.status, ok.stderr).toBe(0);
    const listed = (JSON.parse(ok.stdout) as { files: { name: string }[] }).files.map((f) => f.name).sort();
    expect(listed).toEqual(readdirSync(dir).sort());
    expect(listed).toEqual(['apply-layer.env', 'common.env', 'intent-bridge.env', 'qt-apply-layer.service', 'qt-health.service', 'qt-health.timer', 'qt-intent-bridge.service', 'qt.target']);
    // paper (the default exchange): no credential lines, or systemd would refuse to start the unit
    expect(readFileSync(join(dir, 'qt-intent-bridge.service'), 'utf8')).not.toContain('LoadCredential');
    expect(readFileSync(join(dir, 'qt-intent-bridge.service'), 'utf8')).not.toContain('BINANCE_API');
    const bin = cli(['--stages', 'intent_bridge', '--exchange', 'binance']);
    expect(bin.status, bin.stderr).toBe(0);
    expect(bin.stdout).toContain('LoadCredential=binance_api_key:');
    expect(bin.stdout).toContain('Environment=BINANCE_API_SECRET_FILE=%d/binance_api_secret');
    const forced = cli(['--stages', 'intent_bridge', '--credentials']);
    expect(forced.stdout).toContain('LoadCredential=binance_api_key:');
    const bad = cli(['--stages', 'intent_bridge,nope']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('nope');
    expect(bad.stdout).toBe('');
  });
});
