/**
 * The shape of one `qt` command: a yargs module whose `run` returns an exit code (or
 * nothing for 0) and throws QtError for a user mistake. Command files stay light:
 * heavy modules (ccxt, Ink, the engine) are imported inside `run`.
 */
import type { Argv, CommandModule } from 'yargs';
import { configError, UsageError } from '../errors.js';

export interface GlobalArgs {
  'env-file'?: string;
  'redis-url'?: string;
  prefix?: string;
  'log-format'?: 'pretty' | 'json';
}

export interface QtCommand<A = Record<string, unknown>> {
  command: string | string[];
  describe: string;
  builder?: (y: Argv<GlobalArgs>) => Argv<any>;
  run: (argv: A & GlobalArgs) => Promise<number | void>;
}

/** Where the CLI entry picks up a command's exit code. */
export const outcome = { exitCode: 0 };

export function toModule<A>(c: QtCommand<A>): CommandModule<GlobalArgs, any> {
  return {
    command: c.command,
    describe: c.describe,
    builder: (c.builder ?? ((y) => y)) as CommandModule<GlobalArgs, any>['builder'],
    handler: async (argv) => {
      const code = await c.run(argv as unknown as A & GlobalArgs);
      outcome.exitCode = typeof code === 'number' ? code : 0;
    },
  };
}

/** Loads the configuration with the global flags applied (imports zod lazily). */
/** The flag of each variable that a flag set (for messages that name what the user typed). */
export function flagsOf(overrides: Record<string, string>, flags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(overrides).filter((k) => flags[k]).map((k) => [k, flags[k]!]));
}

/** The variable each global flag sets (a problem with its value names the flag). */
const GLOBAL_FLAGS: Record<string, string> = { REDIS_URL: '--redis-url', QT_PREFIX: '--prefix', QT_LOG_FORMAT: '--log-format' };

/**
 * Loads the configuration with the global flags and `extra` overrides applied.
 * `extraFlags` names the flag each extra override came from (`QT_REPLAY_SPEED: '--speed'`),
 * so a bad value is reported under the flag the user typed. Throws UsageError.
 */
export async function configFrom(argv: GlobalArgs, extra: Record<string, string> = {}, extraFlags: Record<string, string> = {}) {
  const { loadConfig } = await import('../config/config.js');
  const overrides: Record<string, string> = { ...extra };
  if (argv['redis-url']) overrides.REDIS_URL = argv['redis-url'];
  if (argv.prefix) overrides.QT_PREFIX = argv.prefix;
  if (argv['log-format']) overrides.QT_LOG_FORMAT = argv['log-format'];
  if (argv['env-file'] !== undefined && String(argv['env-file']).trim() === '') {
    throw new UsageError('--env-file: name a file (for example --env-file /etc/quantum/common.env)');
  }
  await warnUnknownVariables(argv['env-file']);
  const config = loadConfig({ envFile: argv['env-file'], overrides, overrideFlags: { ...GLOBAL_FLAGS, ...extraFlags } });
  const { symbolProblems } = await import('../config/preconnect.js');
  const bad = await symbolProblems(config, flagsOf(overrides, { ...GLOBAL_FLAGS, ...extraFlags }));
  if (bad.length) throw configError(bad);
  return config;
}

/**
 * The configurations of a read-only tool that may look at several pipelines:
 * `--prefix '{quantum-a},{quantum-b}'` (or QT_PREFIX with commas in the environment) gives
 * one configuration per prefix, each validated as a single one would be; a single prefix gives
 * one. Throws UsageError naming --prefix / QT_PREFIX for an empty element.
 */
export async function configsFrom(argv: GlobalArgs) {
  const raw = argv.prefix ?? process.env.QT_PREFIX;
  if (raw === undefined || !raw.includes(',')) return [await configFrom(argv)];
  const { splitPrefixes } = await import('../diagnose/multi-prefix.js');
  const { prefixes, empty } = splitPrefixes(raw);
  const flag = argv.prefix !== undefined ? '--prefix' : 'QT_PREFIX';
  if (empty || prefixes.length === 0) throw new UsageError(`${flag}: an empty prefix in the list ${JSON.stringify(raw)} (expected e.g. '{quantum-a},{quantum-b}')`);
  const out = [];
  for (const prefix of prefixes) out.push(await configFrom({ ...argv, prefix }));
  return out;
}

/** Warns (stderr, once per command) about QT_* variables qt does not read, naming the nearest known one. */
async function warnUnknownVariables(envFile: string | undefined): Promise<void> {
  const given: Record<string, string> = {};
  if (envFile) {
    const { readEnvFile } = await import('../config/env-file.js');
    const lines: Record<string, number> = {};
    for (const k of Object.keys(readEnvFile(envFile, lines))) given[k] = `${envFile}:${lines[k]}`;
  }
  for (const k of Object.keys(process.env)) if (!(k in given)) given[k] = 'environment';
  const { unknownQtVariables } = await import('../config/unknown-vars.js');
  for (const w of unknownQtVariables(given)) process.stderr.write(`qt: warning: ${w}\n`);
}

/**
 * A whole-number flag, taken as the text the user typed (yargs's `type: 'number'` turns
 * `abc` into NaN and the message would show NaN): `undefined` stays undefined; anything
 * but digits in [min, max] is a UsageError quoting the value as typed.
 */
export function intFlag(raw: unknown, flag: string, min: number, max: number, what = `a whole number from ${min} to ${max}`): number | undefined {
  if (raw === undefined) return undefined;
  const s = String(raw).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!(Number.isSafeInteger(n) && n >= min && n <= max)) throw new UsageError(`${flag}: expected ${what} (got ${JSON.stringify(String(raw))})`);
  return n;
}

/** Parses `30s`, `5m`, `3h`, `2d`, `1500ms` or plain milliseconds; a bad value is a UsageError naming the flag. */
export function parseDuration(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(String(s).trim());
  if (!m) throw new UsageError(`${flag}: expected a duration like 30s, 5m, 3h or 2d (got ${JSON.stringify(s)})`);
  const n = Number(m[1]);
  const mult = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 }[m[2] ?? 'ms']!;
  return Math.round(n * mult);
}
