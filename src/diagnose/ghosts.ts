/**
 * `qt cleanup ghosts`: lists ghost keys (CONTRACT.md §2), writes a backup, then deletes
 * each one with a Lua script that re-checks, atomically, that it is still a ghost (a
 * position that became real meanwhile is kept). Ledger keys are never listed nor touched.
 * `restore` puts a backup back, never over a key that exists again.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Names } from '../contract/names.js';
import { ghostReason } from '../contract/state.js';
import type { GhostKey } from './read-model.js';
import { Reader, type ReadTarget } from './redis-read.js';
import { UnavailableError } from '../errors.js';

export interface GhostsResult {
  dry_run: boolean;
  scanned: number;
  ghosts: GhostKey[];
  deleted: number;
  backup: string | null;
  /** ghosts that were real (or gone) at deletion and so were kept */
  kept?: string[];
}

/** Deletes KEYS[1] only if it is still a ghost of kind ARGV[1]; returns 1 when deleted. */
export const DELETE_IF_GHOST = `
local t = redis.call('TYPE', KEYS[1])
if type(t) == 'table' then t = t.ok end
if t ~= 'hash' then return 0 end
local q = redis.call('HGET', KEYS[1], 'qty')
if ARGV[1] == 'snapshot' then
  if not q then return 0 end
  local s = string.gsub(q, '^%s+', '')
  local n = tonumber(s)
  if s ~= '' and n ~= nil and n == 0 then redis.call('DEL', KEYS[1]) return 1 end
  return 0
end
if not q then redis.call('DEL', KEYS[1]) return 1 end
local n = tonumber(q)
if n == nil or n ~= n or n == 0 or n == math.huge or n == -math.huge then redis.call('DEL', KEYS[1]) return 1 end
return 0
`;

/** Puts a hash back only if the key does not exist; ARGV = pttl, then field/value pairs. */
export const RESTORE_IF_ABSENT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local ttl = tonumber(ARGV[1])
if ttl and ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

export interface BackupFile {
  format: 'qt-ghost-backup';
  version: 1;
  prefix: string;
  created_at: string;
  keys: { key: string; kind: 'position' | 'snapshot'; reason: string; fields: Record<string, string>; pttl: number }[];
}

/**
 * Ghost position and snapshot keys under the prefix (CONTRACT.md §2), on one server or on
 * every primary of a cluster. Throws when a cluster node could not be scanned or read: a
 * partial list is never presented as the whole.
 */
export async function listGhosts(redis: ReadTarget, names: Names): Promise<{ scanned: number; ghosts: GhostKey[]; hashes: Map<string, Record<string, string>> }> {
  const rd = new Reader(redis);
  const keys = await rd.scan(names.positionPattern());
  const classified = keys.map((k) => ({ k, c: names.classifyPositionKey(k) })).filter((x) => x.c && x.c.kind !== 'ledger');
  const res = await rd.batch(classified.map((x) => ['hgetall', x.k]));
  const ghosts: GhostKey[] = [];
  const hashes = new Map<string, Record<string, string>>();
  classified.forEach((x, i) => {
    const h = res[i]!.val as Record<string, string> | null;
    if (res[i]!.err || !h || Object.keys(h).length === 0) return;
    const kind = x.c!.kind as 'position' | 'snapshot';
    const why = ghostReason(kind, h);
    if (why) {
      ghosts.push({ key: x.k, kind, reason: why });
      hashes.set(x.k, h);
    }
  });
  if (rd.unreachable.size) throw new UnavailableError(`part of the Redis cluster could not be read (${[...rd.unreachable].slice(0, 3).join('; ')}): ghosts there are unknown`);
  ghosts.sort((a, b) => a.key.localeCompare(b.key));
  return { scanned: keys.length, ghosts, hashes };
}

export async function cleanupGhosts(
  redis: ReadTarget, names: Names, opts: { dryRun: boolean; backupPath?: string; now?: number; beforeDelete?: () => Promise<void> },
): Promise<GhostsResult> {
  const { scanned, ghosts, hashes } = await listGhosts(redis, names);
  if (opts.dryRun || ghosts.length === 0) return { dry_run: opts.dryRun, scanned, ghosts, deleted: 0, backup: null };
  const ttls = await new Reader(redis).batch(ghosts.map((g) => ['pttl', g.key]));
  const backup: BackupFile = {
    format: 'qt-ghost-backup', version: 1, prefix: names.prefix, created_at: new Date(opts.now ?? Date.now()).toISOString(),
    keys: ghosts.map((g, i) => ({ ...g, fields: hashes.get(g.key)!, pttl: Number(ttls[i]!.val) > 0 ? Number(ttls[i]!.val) : -1 })),
  };
  const path = opts.backupPath ?? `qt-ghosts-${names.prefix}-${backup.created_at.replace(/[:.]/g, '-')}.json`;
  writeFileSync(path, JSON.stringify(backup, null, 2) + '\n', { mode: 0o600 });
  await opts.beforeDelete?.();
  // one single-key script per ghost (on a cluster each goes to the node owning its key)
  const client = new Reader(redis).redis;
  const res = await Promise.all(ghosts.map((g) => client.eval(DELETE_IF_GHOST, 1, g.key, g.kind)));
  const kept: string[] = [];
  let deleted = 0;
  res.forEach((v, i) => {
    if (Number(v) === 1) deleted++;
    else kept.push(ghosts[i]!.key);
  });
  return { dry_run: false, scanned, ghosts, deleted, backup: path, kept };
}

export async function restoreGhosts(target: ReadTarget, names: Names, file: string): Promise<{ file: string; restored: string[]; skipped: string[] }> {
  const redis = new Reader(target).redis;
  const data = JSON.parse(readFileSync(file, 'utf8')) as BackupFile;
  if (data.format !== 'qt-ghost-backup' || !Array.isArray(data.keys)) throw new Error(`${file} is not a qt ghost backup`);
  const restored: string[] = [];
  const skipped: string[] = [];
  for (const k of data.keys) {
    const c = names.classifyPositionKey(k.key);
    if (!c || c.kind === 'ledger') {
      skipped.push(k.key);
      continue;
    }
    const args = [String(k.pttl ?? -1), ...Object.entries(k.fields).flat()];
    const r = await redis.eval(RESTORE_IF_ABSENT, 1, k.key, ...args);
    (Number(r) === 1 ? restored : skipped).push(k.key);
  }
  return { file, restored, skipped };
}
