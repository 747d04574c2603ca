import type { QtCommand } from './command.js';
import { configFrom, parseDuration } from './command.js';
import { UsageError } from '../errors.js';

interface Args {
  what: 'ghosts' | 'consumers';
  'dry-run'?: boolean;
  yes?: boolean;
  restore?: string;
  backup?: string;
  idle: string;
  json?: boolean;
}

export const cleanup: QtCommand<Args> = {
  command: 'cleanup <what>',
  describe: 'remove ghost position keys (ghosts) or dead consumers with nothing pending (consumers)',
  builder: (y) =>
    y
      .positional('what', { choices: ['ghosts', 'consumers'] as const, describe: 'what to clean up' })
      .option('dry-run', { type: 'boolean', describe: 'list only' })
      .option('yes', { type: 'boolean', describe: 'delete (ghosts: a backup file is written first)' })
      .option('restore', { type: 'string', describe: 'ghosts: put back the keys of this backup file' })
      .option('backup', { type: 'string', describe: 'ghosts: path of the backup file (default ./qt-ghosts-{prefix}-{time}.json)' })
      .option('idle', { type: 'string', default: '1h', describe: 'consumers: idle at least this long' })
      .option('json', { type: 'boolean', describe: 'print JSON' }),
  async run(argv) {
    const modes = [argv['dry-run'], argv.yes, argv.restore !== undefined].filter(Boolean).length;
    if (modes === 0) throw new UsageError(`qt cleanup ${argv.what} needs a mode: --dry-run to list what would be removed, or --yes to remove it${argv.what === 'ghosts' ? ' (a backup is written first; --restore FILE puts it back)' : ''}`);
    if (modes > 1) throw new UsageError('choose one of --dry-run, --yes' + (argv.what === 'ghosts' ? ', --restore FILE' : ''));
    if (argv.restore !== undefined && argv.what !== 'ghosts') throw new UsageError('--restore applies to qt cleanup ghosts');
    const idleMs = parseDuration(argv.idle, '--idle');
    const cfg = await configFrom(argv);
    const { withReadTarget } = await import('../diagnose/session.js');
    const out = (o: unknown, text: string) => process.stdout.write((argv.json ? JSON.stringify(o, null, 2) : text) + '\n');
    return withReadTarget(cfg, async (redis) => {
      if (argv.what === 'consumers') {
        const { cleanupConsumers } = await import('../diagnose/consumers.js');
        const r = await cleanupConsumers(redis, cfg.names, { dryRun: !!argv['dry-run'], idleMs });
        const lines = r.consumers.map((c) => `  ${c.stream} ${c.group} ${c.consumer} (idle ${Math.round(c.idle_ms / 60000)} min)`);
        out(r, `${r.consumers.length} consumer(s) idle ≥ ${argv.idle} with nothing pending${lines.length ? ':\n' + lines.join('\n') : ''}\n` +
          (r.dry_run ? 'dry run: nothing deleted (use --yes)' : `deleted ${r.deleted}` + (r.kept.length ? `, kept ${r.kept.length} that took entries meanwhile` : '')));
        return 0;
      }
      const g = await import('../diagnose/ghosts.js');
      if (argv.restore !== undefined) {
        let r;
        try {
          r = await g.restoreGhosts(redis, cfg.names, argv.restore);
        } catch (e) {
          throw new UsageError(`cannot restore from ${argv.restore}: ${(e as Error).message}`);
        }
        out(r, `restored ${r.restored.length} key(s) from ${r.file}` + (r.skipped.length ? `; skipped ${r.skipped.length} that exist again (or are not position/snapshot keys)` : ''));
        return 0;
      }
      const r = await g.cleanupGhosts(redis, cfg.names, { dryRun: !!argv['dry-run'], backupPath: argv.backup });
      const { kept: _k, ...json } = r;
      const lines = r.ghosts.map((x) => `  ${x.key} (${x.kind}: ${x.reason})`);
      out(argv.json ? json : r, `scanned ${r.scanned} position keys; ${r.ghosts.length} ghost(s)${lines.length ? ':\n' + lines.join('\n') : ''}\n` +
        (r.dry_run ? 'dry run: nothing deleted (use --yes; a backup is written first)' : r.ghosts.length === 0 ? 'nothing to delete'
          : `deleted ${r.deleted}; backup: ${r.backup} (qt cleanup ghosts --restore ${r.backup})` + (r.kept?.length ? `; kept ${r.kept.length} that became real meanwhile` : '')));
      return 0;
    });
  },
};
