/**
 * systemd units and example env files for running `qt` the way the seed deployment ran
 * its services: one unit per stage (`qt-<stage>.service`), grouped by `qt.target`,
 * configured by `/etc/quantum/*.env`, logging JSON to journald. Pure functions: the
 * command (`qt systemd generate`) prints or writes what these return.
 */
import { EXCHANGE_STAGES } from '../contract/names.js';
import { UsageError } from '../errors.js';

/** One variable as documented in an env file: name, default ('' = unset), description. */
export interface VarDoc {
  name: string;
  dflt: string;
  describe: string;
}

export interface SystemdOptions {
  /** Stages to make units for (validated against `available`). */
  stages: string[];
  /** Every stage `qt up` can run (STAGE_FACTORIES keys), in pipeline order. */
  available: string[];
  /** Every setting with its default (from config.ts VARIABLES), plus per-stream overrides. */
  variables: VarDoc[];
  user?: string;
  group?: string;
  /** Absolute path of the `qt` executable. */
  bin?: string;
  /** Where the env files and credentials live. */
  etcDir?: string;
  /** Emit LoadCredential= for the stages that talk to the exchange (default true). */
  credentials?: boolean;
  /** When set, stage i (in `available` order) gets `--metrics-port base+i`. */
  metricsBasePort?: number;
}

export interface GeneratedFile {
  /** File name (no directory). */
  name: string;
  content: string;
  /** Suggested permissions. */
  mode: number;
  kind: 'unit' | 'env';
}

/**
 * Stages whose process opens the exchange adapter (markets, orders, positions), so with
 * QT_EXCHANGE=binance they need the API key. The list lives in contract/names.ts.
 */
export { EXCHANGE_STAGES };

/** Settings worth overriding per service (documented again in that service's env file). */
const STAGE_VARS: Record<string, string[]> = {
  market: ['QT_MARKET', 'QT_SYMBOLS', 'QT_MARKET_TICK_MS', 'QT_MARKET_SEED'],
  ai_engine: ['QT_SIGNAL_INTERVAL_MS', 'QT_SYMBOLS'],
  autonomous_trader: ['QT_MIN_CONFIDENCE', 'QT_MIN_POSITION_USD', 'QT_MAX_POSITION_USD', 'QT_MAX_LEVERAGE', 'QT_TRADER_COOLDOWN_MS', 'QT_TP_PCT', 'QT_SL_PCT'],
  intent_bridge: ['QT_MARKETS_FILE', 'QT_ALLOW_UPSIZE', 'QT_MAX_LEVERAGE'],
  apply_layer: ['QT_MAX_OPEN_POSITIONS', 'QT_MAX_POSITION_USD', 'QT_MAX_LEVERAGE'],
  intent_executor: ['QT_MARKETS_FILE', 'QT_PAPER_BALANCE', 'QT_PAPER_SLIPPAGE_BPS', 'QT_PAPER_TAKER_FEE'],
  harvest_brain: ['QT_TP_PCT', 'QT_SL_PCT'],
  risk_guard: [],
  reconciler: ['QT_RECONCILE_POLICY', 'QT_RECONCILE_MS'],
};
const CONSUMER_VARS = ['QT_BATCH_SIZE', 'QT_BLOCK_MS', 'QT_RECLAIM_IDLE_MS', 'QT_RECLAIM_EVERY_MS', 'QT_MAX_DELIVERIES'];
const EVERY_STAGE_VARS = ['QT_LOG_LEVEL', 'QT_HEARTBEAT_MS'];
/** Stages that read a stream through a consumer group (get the runtime knobs). */
const CONSUMERS = ['autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor', 'rl_agent'];
/** Never given a value in an env file: they come from systemd credentials. */
const SECRET_VARS = ['BINANCE_API_KEY', 'BINANCE_API_SECRET'];

/** `intent_executor` → `intent-executor` (unit and env file spelling, as the seeds had it). */
export const dashed = (stage: string): string => stage.replace(/_/g, '-');
export const unitName = (stage: string): string => `qt-${dashed(stage)}.service`;
export const envFileName = (stage: string): string => `${dashed(stage)}.env`;

interface Resolved {
  stages: string[];
  user: string;
  group: string;
  bin: string;
  etc: string;
  credentials: boolean;
}

function resolve(o: SystemdOptions): Resolved {
  const unknown = o.stages.filter((s) => !o.available.includes(s));
  if (unknown.length) {
    throw new UsageError(`--stages: unknown stage ${unknown.join(', ')} (expected some of ${o.available.join(', ')})`);
  }
  if (o.stages.length === 0) throw new UsageError('--stages: name at least one stage');
  const bin = o.bin ?? '/usr/local/bin/qt';
  if (!bin.startsWith('/')) throw new UsageError(`--bin: systemd needs an absolute path (got ${JSON.stringify(bin)})`);
  const user = o.user ?? 'quantum';
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(user)) throw new UsageError(`--user: not a valid user name (got ${JSON.stringify(user)})`);
  const etc = (o.etcDir ?? '/etc/quantum').replace(/\/+$/, '');
  if (!etc.startsWith('/')) throw new UsageError(`--etc-dir: expected an absolute path (got ${JSON.stringify(etc)})`);
  // Each stage once, in pipeline order.
  const stages = o.available.filter((s) => o.stages.includes(s));
  return { stages, user, group: o.group ?? user, bin, etc, credentials: o.credentials ?? true };
}

function stageUnit(stage: string, r: Resolved, metricsPort: number | undefined): string {
  const env = `${r.etc}/${envFileName(stage)}`;
  const creds = r.credentials && (EXCHANGE_STAGES as readonly string[]).includes(stage);
  const exec = [r.bin, 'up', '--stages', stage, '--log-format', 'json', '--env-file', env];
  if (metricsPort !== undefined) exec.push('--metrics-port', String(metricsPort));
  const lines = [
    '# Generated by `qt systemd generate`. Edit the env files, not this unit; re-generate to change it.',
    '[Unit]',
    `Description=Quantum Trader stage ${stage}`,
    'Documentation=file:///usr/share/doc/qt/operations.md',
    'PartOf=qt.target',
    'Wants=network-online.target',
    'After=network-online.target redis-server.service redis.service',
    // At most 5 starts in 5 minutes: a crash loop stops and stays visible as `failed`.
    'StartLimitIntervalSec=300',
    'StartLimitBurst=5',
    '',
    '[Service]',
    // exec: the start fails visibly when the binary cannot run (the seeds' 203/EXEC).
    'Type=exec',
    `ExecStart=${exec.join(' ')}`,
    // Later files win in systemd; the stage file also via --env-file (same values).
    `EnvironmentFile=${r.etc}/common.env`,
    `EnvironmentFile=${env}`,
    'Environment=NODE_ENV=production',
  ];
  if (creds) {
    lines.push(
      `LoadCredential=binance_api_key:${r.etc}/credentials/binance_api_key`,
      `LoadCredential=binance_api_secret:${r.etc}/credentials/binance_api_secret`,
      'Environment=BINANCE_API_KEY_FILE=%d/binance_api_key',
      'Environment=BINANCE_API_SECRET_FILE=%d/binance_api_secret',
    );
  }
  lines.push(
    'Restart=on-failure',
    'RestartSec=5s',
    // SIGTERM: the runner finishes and acknowledges the batch in hand (exchange calls
    // included), writes a `stopping` heartbeat and exits; only then SIGKILL.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=60s',
    'TimeoutStartSec=60s',
    `User=${r.user}`,
    `Group=${r.group}`,
    `SyslogIdentifier=qt-${dashed(stage)}`,
    // Hardening. No ReadWritePaths: the engine writes only to Redis and journald.
    // (MemoryDenyWriteExecute is left out: V8's JIT needs writable executable memory.)
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'SystemCallArchitectures=native',
    'CapabilityBoundingSet=',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    'UMask=0077',
    '',
    '[Install]',
    'WantedBy=qt.target',
    '',
  );
  return lines.join('\n');
}

function targetUnit(r: Resolved): string {
  return [
    '# Generated by `qt systemd generate`: `systemctl start qt.target` starts every stage.',
    '[Unit]',
    'Description=Quantum Trader (all stages)',
    `Wants=${r.stages.map(unitName).join(' ')} qt-health.timer`,
    'After=network-online.target',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** `qt health --quiet` once a minute: prints nothing and exits 0 when all is well. */
function healthService(r: Resolved): string {
  return [
    '# Generated by `qt systemd generate`. Fails (exit 1 warn, 2 crit, 3 unknown) when',
    '# `qt health` finds a problem: see `systemctl --failed` and `journalctl -u qt-health`.',
    '# Hook your alerting with OnFailure= (e.g. OnFailure=notify-oncall@%n.service).',
    '[Unit]',
    'Description=Quantum Trader heartbeat and pipeline health check',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${r.bin} health --quiet --env-file ${r.etc}/common.env`,
    `EnvironmentFile=${r.etc}/common.env`,
    'TimeoutStartSec=30s',
    `User=${r.user}`,
    `Group=${r.group}`,
    'SyslogIdentifier=qt-health',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'CapabilityBoundingSet=',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    // No [Install]: started by qt-health.timer only.
    '',
  ].join('\n');
}

function healthTimer(): string {
  return [
    '# Generated by `qt systemd generate`.',
    '[Unit]',
    'Description=Run the Quantum Trader health check every minute',
    'PartOf=qt.target',
    '',
    '[Timer]',
    'OnBootSec=2min',
    'OnUnitActiveSec=1min',
    'AccuracySec=5s',
    'Unit=qt-health.service',
    '',
    '[Install]',
    'WantedBy=timers.target qt.target',
    '',
  ].join('\n');
}

/** Every unit: one per stage, qt.target, qt-health.service and qt-health.timer. */
export function generateUnits(o: SystemdOptions): GeneratedFile[] {
  const r = resolve(o);
  const files: GeneratedFile[] = r.stages.map((s) => ({
    name: unitName(s),
    content: stageUnit(s, r, o.metricsBasePort === undefined ? undefined : o.metricsBasePort + o.available.indexOf(s)),
    mode: 0o644,
    kind: 'unit' as const,
  }));
  files.push({ name: 'qt.target', content: targetUnit(r), mode: 0o644, kind: 'unit' });
  files.push({ name: 'qt-health.service', content: healthService(r), mode: 0o644, kind: 'unit' });
  files.push({ name: 'qt-health.timer', content: healthTimer(), mode: 0o644, kind: 'unit' });
  return files;
}

function commented(v: VarDoc): string[] {
  const shown = v.dflt === '' ? '' : /[\s#"']/.test(v.dflt) ? JSON.stringify(v.dflt) : v.dflt;
  return [`# ${v.describe}${v.dflt === '' ? ' (default: unset)' : ''}`, `#${v.name}=${shown}`];
}

function commonEnv(r: Resolved, vars: VarDoc[]): string {
  const out = [
    '# /etc/quantum/common.env: settings shared by every qt service (generated by `qt systemd generate`).',
    '# Each setting is shown commented out with its default; uncomment to change it.',
    `# A service's own file (${r.etc}/<stage>.env) overrides this one.`,
    '# Check the result with: qt config show --env-file ' + `${r.etc}/common.env`,
    '#',
    '# Secrets: do NOT put BINANCE_API_KEY / BINANCE_API_SECRET here. Store them as',
    `#   ${r.etc}/credentials/binance_api_key and binance_api_secret (root:root, mode 0600);`,
    '# the units pass them with LoadCredential= and set BINANCE_API_KEY_FILE/_SECRET_FILE.',
    '',
  ];
  for (const v of vars) {
    if (SECRET_VARS.includes(v.name)) {
      out.push(`# ${v.describe}: never here; use ${r.etc}/credentials (see above)`, `#${v.name}=`, '');
      continue;
    }
    out.push(...commented(v), '');
  }
  return out.join('\n');
}

function stageEnv(stage: string, r: Resolved, vars: VarDoc[]): string {
  const wanted = [...EVERY_STAGE_VARS, ...(CONSUMERS.includes(stage) ? CONSUMER_VARS : []), ...(STAGE_VARS[stage] ?? [])];
  const out = [
    `# ${r.etc}/${envFileName(stage)}: settings for qt-${dashed(stage)}.service only (generated by \`qt systemd generate\`).`,
    `# Overrides ${r.etc}/common.env. Keep QT_EXCHANGE, QT_PREFIX, REDIS_URL (and QT_REDIS_SENTINELS) and stream names in`,
    '# common.env so every stage agrees on them (a stream name set in one file only is how',
    '# the seed deployment left its executor reading `apply.plan.manual`, which nothing wrote).',
    `# Check with: qt config show --env-file ${r.etc}/${envFileName(stage)}`,
    '',
  ];
  for (const name of [...new Set(wanted)]) {
    const v = vars.find((x) => x.name === name);
    if (v) out.push(...commented(v), '');
  }
  return out.join('\n');
}

/** common.env (every setting, commented, with its default) and one file per stage. */
export function generateEnvFiles(o: SystemdOptions): GeneratedFile[] {
  const r = resolve(o);
  const files: GeneratedFile[] = [{ name: 'common.env', content: commonEnv(r, o.variables), mode: 0o640, kind: 'env' }];
  for (const s of r.stages) files.push({ name: envFileName(s), content: stageEnv(s, r, o.variables), mode: 0o640, kind: 'env' });
  return files;
}

export function generateAll(o: SystemdOptions): GeneratedFile[] {
  return [...generateUnits(o), ...generateEnvFiles(o)];
}

/** Splits a unit file into sections → key → values (repeated keys keep every value). */
export function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let cur: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      cur = sections.get(sec[1]) ?? new Map();
      sections.set(sec[1], cur);
      continue;
    }
    const eq = line.indexOf('=');
    if (!cur || eq < 1) throw new Error(`not a unit line: ${line}`);
    const k = line.slice(0, eq).trim();
    cur.set(k, [...(cur.get(k) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}
