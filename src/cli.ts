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
import { VERSION } from './version.js';

async function main(): Promise<number> {
  let usageError: string | undefined;
  const parser = yargs(hideBin(process.argv))
    .scriptName('qt')
    .usage('qt — Quantum Trader: a Redis Streams trading-pipeline engine, console and diagnostics\n\nUsage: qt <command> [options]')
    .option('env-file', { type: 'string', describe: 'read KEY=value settings from this file (like /etc/quantum/*.env)', global: true })
    .option('redis-url', { type: 'string', describe: 'Redis URL (overrides REDIS_URL)', global: true })
    .option('prefix', { type: 'string', describe: 'key prefix (overrides QT_PREFIX)', global: true })
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
      usageError = msg;
      throw new QtError(msg, 2);
    });
  for (const c of COMMANDS) parser.command(toModule(c));
  try {
    await parser.parseAsync();
    return outcome.exitCode;
  } catch (e) {
    if (e instanceof QtError) {
      process.stderr.write(`qt: ${e.message}\n`);
      for (const l of e.lines) process.stderr.write(`  - ${l}\n`);
      if (usageError) process.stderr.write(`(qt --help lists the commands and options)\n`);
      return e.exitCode;
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
