#!/usr/bin/env -S node --
/**
 * The `qt` entry. The only place that calls process.exit: commands return an exit code
 * or throw a QtError; a user mistake is one line and exit 2, never a stack.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { outcome, toModule } from './commands/command.js';
import { COMMANDS } from './commands/index.js';
import { QtError } from './errors.js';
import { guardStdio } from './stdio-guard.js';
import { VERSION } from './version.js';

/**
 * `--window -5m`: yargs reads a value that starts with `-` as flags (`-5`, `-m`) and
 * reports "Unknown arguments: 5, m". A `--flag` followed by a word that starts with
 * `-<digit>` is joined into `--flag=-5m`, so the flag's own check names it.
 */
function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    if (/^--[a-z][a-z0-9-]*$/.test(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * The exit code of a usage error: 2, except for `qt health`, whose 2 means CRIT to a
 * monitor; there a usage error is 3 (UNKNOWN), as the Nagios plugin guidelines say
 * (https://nagios-plugins.org/doc/guidelines.html#AEN78).
 */
function usageExitCode(args: string[]): number {
  const words = new Set(COMMANDS.map((c) => String(Array.isArray(c.command) ? c.command[0] : c.command).split(' ')[0]));
  return args.find((a) => words.has(a)) === 'health' ? 3 : 2;
}

/**
 * yargs renders the whole help text of a command right before running it (command.js,
 * handleValidationAndGetResult → usage.cacheHelpMessage), only so that a later showHelp
 * could print it: ~40 ms of string-width work on every `qt health`, `qt up`, … This CLI
 * never shows help after a command started (its .fail() prints one line of its own, and
 * `--help` renders the help itself), so that cache is skipped. When yargs's internals are
 * not as expected, nothing is changed.
 */
function skipHelpCache(parser: unknown): void {
  const usage = (parser as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: unknown } } })
    .getInternalMethods?.()?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

/** The command word the user typed (`health`, `up`, …), if any. */
function commandWord(args: string[]): string | undefined {
  const words = new Set(COMMANDS.map((c) => String(Array.isArray(c.command) ? c.command[0] : c.command).split(' ')[0]));
  return args.find((a) => words.has(a));
}

/**
 * yargs's usage messages in one line that names the flag, the value given and what
 * is allowed, plus where help is (`qt health --help`). yargs writes, for example,
 * `Invalid values:\n  Argument: format, Given: "xml", Choices: "text", "json"` and
 * `Unknown arguments: bogus, x`; other messages have their line breaks joined.
 */
export function oneLineUsage(msg: string, args: string[]): string {
  const cmd = commandWord(args);
  const help = `(qt ${cmd ? cmd + ' ' : ''}--help)`;
  const choice = /Argument: ([^,]+), Given: (.+?), Choices: (.+)$/m.exec(msg);
  if (/^Invalid values:/.test(msg) && choice) {
    const choices = choice[3]!.split(/,\s*/).map((c) => c.replace(/^"(.*)"$/, '$1'));
    return `--${choice[1]}: ${choice[2]} is not one of ${choices.join(', ')} ${help}`;
  }
  const unknown = /^Unknown arguments?: (.+)$/.exec(msg.trim());
  if (unknown) {
    const names = unknown[1]!.split(/,\s*/);
    const isFlag = (n: string) => args.some((a) => a === `--${n}` || a.startsWith(`--${n}=`) || a === `-${n}` || a.startsWith(`-${n}=`) || (n.length === 1 && /^-[a-zA-Z]+$/.test(a) && a.includes(n)));
    const flags = names.filter(isFlag).map((n) => (n.length === 1 ? `-${n}` : `--${n}`));
    const words = names.filter((n) => !isFlag(n)).map((n) => JSON.stringify(n));
    const parts: string[] = [];
    if (flags.length) parts.push(`unknown option${flags.length > 1 ? 's' : ''} ${flags.join(', ')}`);
    if (words.length) parts.push(cmd ? `unexpected argument${words.length > 1 ? 's' : ''} ${words.join(', ')}` : `unknown command ${words.join(', ')}`);
    return `${parts.join('; ')} ${help}`;
  }
  const mean = /^Did you mean (\S+)\?$/.exec(msg.trim());
  if (mean) {
    const typed = args.find((a) => !a.startsWith('-'));
    return `unknown command${typed ? ` ${JSON.stringify(typed)}` : ''}; did you mean ${mean[1]}? (qt --help)`;
  }
  const few = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(msg.trim());
  if (few) return `${cmd ? `${cmd}: ` : ''}missing ${Number(few[2]) - Number(few[1]) > 1 ? 'arguments' : 'an argument'} ${help}`;
  return `${msg.trim().split(/\s*\n\s*/).join('; ')} ${help}`;
}

async function main(): Promise<number> {
  guardStdio();
  const args = joinNegativeValues(hideBin(process.argv));
  const usageCode = usageExitCode(args);
  const parser = yargs(args)
    .scriptName('qt')
    .usage('qt — Quantum Trader: a Redis Streams trading-pipeline engine, console and diagnostics\n\nUsage: qt <command> [options]')
    .epilog('Redis: one server or a Redis Cluster. On a cluster the diagnostics, console and cleanup read every primary; the engine needs a prefix with a hash tag (QT_PREFIX={quantum}) so the whole pipeline shares one slot, on one primary (docs/redis-cluster.md).')
    .option('env-file', { type: 'string', describe: 'read KEY=value settings from this file (like /etc/quantum/*.env)', global: true })
    .option('redis-url', { type: 'string', describe: 'Redis URL (overrides REDIS_URL)', global: true })
    .option('prefix', { type: 'string', describe: 'key prefix (overrides QT_PREFIX); on a Redis Cluster one with a hash tag, e.g. {quantum}; health and diagnose take a comma list of several', global: true })
    .option('log-format', { choices: ['pretty', 'json'] as const, describe: 'log format', global: true })
    .strict()
    .demandCommand(1, 'name a command (qt --help lists them)')
    .recommendCommands()
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new QtError(oneLineUsage(msg, args), usageCode);
    });
  for (const c of COMMANDS) parser.command(toModule(c));
  skipHelpCache(parser);
  try {
    await parser.parseAsync();
    return outcome.exitCode;
  } catch (e) {
    if (e instanceof QtError) {
      process.stderr.write(`qt: ${e.message}\n`);
      for (const l of e.lines) process.stderr.write(`  - ${l}\n`);
      // A usage error of `qt health` is UNKNOWN (3), never CRIT (2).
      return e.exitCode === 2 && usageCode === 3 ? 3 : e.exitCode;
    }
    const { scrub } = await import('./config/redact.js');
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`qt: ${scrub(msg)}\n`);
    if (process.env.QT_DEBUG) process.stderr.write(scrub(String((e as Error)?.stack)) + '\n');
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
    // Exit once stdout and stderr have flushed (a pipe takes a large report in chunks;
    // exiting earlier would cut it); the command has closed its connections.
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  },
  () => process.exit(1),
);
