/**
 * Streams, their consumer groups and consumers: XINFO STREAM (never FULL), XINFO GROUPS,
 * XINFO CONSUMERS (only for groups with at most MAX_CONSUMERS_LISTED consumers), MEMORY
 * USAGE per stream, a bounded PEL sample per group with pending entries
 * (`XPENDING key group - + PENDING_SAMPLE`), and, only where Redis's lag fails its
 * invariants (lag.ts), two range reads of at most LAG_RANGE_COUNT entries. Three pipelined
 * rounds; the cost grows with streams, groups and the bounded samples, never with stream
 * length or consumer count. Tolerates Redis 6.2 (no lag/entries-read), 7.0 and 7.2/Valkey
 * (`inactive`) and unknown fields.
 */
import type { GroupInfo, PendingSample, StreamInfo } from './read-model.js';
import { idMs, num, str, replyMap, type Reader, type Cmd } from './redis-read.js';
import { cmpId, judgeLag, LAG_RANGE_COUNT, needsRange, type LagInput, type RangeCount } from './lag.js';
import { orphansOf, ORPHAN_CHECKS, PENDING_SAMPLE, sampleOf, type PelRow } from './pending.js';

/**
 * Groups with more consumers than this are not listed (XINFO CONSUMERS has no COUNT, and
 * on 200,000 consumers it blocked Redis ~30 ms per call, redis#8635): their count comes
 * from XINFO GROUPS.
 */
export const MAX_CONSUMERS_LISTED = 1000;

export interface OldestPending {
  id: string;
  consumer: string;
  idle_ms: number;
  deliveries: number;
}

export interface StreamsResult {
  streams: StreamInfo[];
  /** oldest pending entry per `stream key \u0000 group` */
  oldest: Map<string, OldestPending>;
  unknowns: string[];
}

function lagInput(s: StreamInfo, g: GroupInfo, hasLag: boolean, lag: number | null, read: number | null): LagInput {
  return {
    length: s.length, entries_added: s.entries_added, last_generated_id: s.last_generated_id ?? '', first_entry_id: s.first_entry_id ?? '',
    max_deleted_entry_id: s.max_deleted_entry_id ?? '', last_delivered_id: g.last_delivered_id, lag, entries_read: read, has_lag_field: hasLag,
  };
}

export async function collectStreams(
  rd: Reader,
  keys: { key: string; name: string; known: boolean }[],
  now: number,
  staleMs: number,
): Promise<StreamsResult> {
  const unknowns: string[] = [];
  const r1 = await rd.batch(keys.flatMap((k): Cmd[] => [['xinfo', 'STREAM', k.key], ['xinfo', 'GROUPS', k.key]]));
  const streams: StreamInfo[] = [];
  /** Redis's raw lag figures per group, for the judgement after the range reads */
  const raw = new Map<GroupInfo, LagInput>();
  keys.forEach((k, i) => {
    const s = r1[2 * i]!;
    const g = r1[2 * i + 1]!;
    if (s.err) {
      if (/no such key/i.test(s.err.message)) return; // a contract stream that does not exist
      if (!/WRONGTYPE/i.test(s.err.message)) unknowns.push(`XINFO STREAM ${k.name}: ${s.err.message}`);
      return;
    }
    const m = replyMap(s.val);
    const length = num(m['length']) ?? 0;
    const first = Array.isArray(m['first-entry']) ? str((m['first-entry'] as unknown[])[0]) : '';
    const lastEntry = Array.isArray(m['last-entry']) ? str((m['last-entry'] as unknown[])[0]) : '';
    const lastId = lastEntry || (length > 0 ? str(m['last-generated-id']) : '');
    const last = length > 0 ? idMs(lastId, now) : null;
    const age = last === null ? null : Math.max(0, Math.round((now - last) / 1000));
    const info: StreamInfo = {
      stream: k.name,
      key: k.key,
      length,
      last_entry_ms: last,
      age_s: age,
      entries_added: num(m['entries-added']),
      last_id: lastId,
      groups: [],
      known: k.known,
      stale: age !== null && age * 1000 > staleMs,
      ...(rd.nodeOf(k.key) ? { node: rd.nodeOf(k.key) } : {}),
      first_entry_id: first,
      last_generated_id: str(m['last-generated-id']),
      max_deleted_entry_id: str(m['max-deleted-entry-id']),
      recorded_first_entry_id: str(m['recorded-first-entry-id']),
      memory_bytes: null,
    };
    if (g.err) unknowns.push(`XINFO GROUPS ${k.name}: ${g.err.message}`);
    else if (Array.isArray(g.val)) {
      for (const rawG of g.val) {
        const gm = replyMap(rawG);
        const group: GroupInfo = {
          group: str(gm['name']),
          consumers: num(gm['consumers']) ?? 0,
          pending: num(gm['pending']) ?? 0,
          lag: num(gm['lag']),
          entries_read: num(gm['entries-read']),
          last_delivered_id: str(gm['last-delivered-id']),
          consumer_details: [],
          oldest_pending_idle_ms: null,
          pending_sample: null,
          consumers_listed: (num(gm['consumers']) ?? 0) === 0,
        };
        raw.set(group, lagInput(info, group, 'lag' in gm, group.lag, group.entries_read));
        info.groups.push(group);
      }
    }
    streams.push(info);
  });

  // Round 2: memory of every stream; consumers of groups small enough to list; the oldest
  // PEL_SAMPLE pending entries of groups with pending; range counts where lag is in doubt.
  const cmds: Cmd[] = [];
  type Slot = { s: StreamInfo; g?: GroupInfo; kind: 'memory' | 'consumers' | 'pending' | 'after' | 'before' };
  const slots: Slot[] = [];
  for (const s of streams) {
    cmds.push(['memory', 'USAGE', s.key]);
    slots.push({ s, kind: 'memory' });
    for (const g of s.groups) {
      if (g.consumers > 0 && g.consumers <= MAX_CONSUMERS_LISTED) {
        cmds.push(['xinfo', 'CONSUMERS', s.key, g.group]);
        slots.push({ s, g, kind: 'consumers' });
      }
      if (g.pending > 0) {
        cmds.push(['xpending', s.key, g.group, '-', '+', PENDING_SAMPLE]);
        slots.push({ s, g, kind: 'pending' });
      }
      if (needsRange(raw.get(g)!)) {
        cmds.push(['xrange', s.key, `(${g.last_delivered_id}`, '+', 'COUNT', LAG_RANGE_COUNT]);
        slots.push({ s, g, kind: 'after' });
        cmds.push(['xrevrange', s.key, g.last_delivered_id, '-', 'COUNT', LAG_RANGE_COUNT]);
        slots.push({ s, g, kind: 'before' });
      }
    }
  }
  // MEMORY USAGE may be denied or renamed away: its own unknown, not the ACL's
  const memAt = new Set(slots.map((x, i) => (x.kind === 'memory' ? i : -1)).filter((i) => i >= 0));
  const r2 = await batchSplit(rd, cmds, memAt);
  const oldest = new Map<string, OldestPending>();
  const ranges = new Map<GroupInfo, RangeCount>();
  const pel = new Map<GroupInfo, PelRow[]>();
  slots.forEach(({ s, g, kind }, i) => {
    const r = r2[i]!;
    if (kind === 'memory') {
      if (r.err) unknowns.push(`stream memory: MEMORY USAGE ${s.stream}: ${r.err.message.split('\n')[0]}`);
      else s.memory_bytes = num(r.val);
      return;
    }
    if (r.err) {
      const what = kind === 'consumers' ? 'XINFO CONSUMERS' : kind === 'pending' ? 'XPENDING' : kind === 'after' ? 'XRANGE' : 'XREVRANGE';
      unknowns.push(`${what} ${s.stream} ${g!.group}: ${r.err.message}`);
      return;
    }
    if (kind === 'consumers' && Array.isArray(r.val)) {
      g!.consumers_listed = true;
      for (const rawC of r.val) {
        const cm = replyMap(rawC);
        g!.consumer_details.push({
          name: str(cm['name']),
          pending: num(cm['pending']) ?? 0,
          idle_ms: num(cm['idle']) ?? 0,
          inactive_ms: num(cm['inactive']),
        });
      }
    } else if (kind === 'pending' && Array.isArray(r.val)) {
      const rows: PelRow[] = (r.val as unknown[][]).filter(Array.isArray).map(([id, consumer, idle, deliveries]) => ({
        id: str(id), consumer: str(consumer), idle_ms: num(idle) ?? 0, deliveries: num(deliveries) ?? 0,
      }));
      pel.set(g!, rows);
      const o = rows[0];
      if (o) {
        g!.oldest_pending_idle_ms = o.idle_ms;
        g!.oldest_pending = { ...o };
        oldest.set(`${s.key}\u0000${g!.group}`, { ...o });
      }
    } else if (kind === 'after' || kind === 'before') {
      const rc = ranges.get(g!) ?? { after: null, before: null, bound: LAG_RANGE_COUNT };
      rc[kind] = Array.isArray(r.val) ? r.val.length : null;
      ranges.set(g!, rc);
    }
  });

  // Round 3: orphaned pending entries. Ids before the first entry are gone (trimmed);
  // the PEL's live part is counted with `XPENDING key group <first> + N`, and sampled ids a
  // tombstone may have hit (≤ max-deleted-entry-id) are looked up with `XRANGE id id`.
  const c3: Cmd[] = [];
  const s3: { s: StreamInfo; g: GroupInfo; kind: 'live' | 'check'; id?: string }[] = [];
  for (const s of streams) {
    for (const g of s.groups) {
      const rows = pel.get(g);
      if (!rows?.length || s.length === 0) continue;
      const first = s.first_entry_id ?? '';
      if (first && rows.length < g.pending && cmpId(rows[0]!.id, first) < 0) {
        c3.push(['xpending', s.key, g.group, first, '+', PENDING_SAMPLE]);
        s3.push({ s, g, kind: 'live' });
      }
      const maxDel = s.max_deleted_entry_id ?? '';
      if (maxDel && maxDel !== '0-0') {
        for (const row of rows.filter((x) => (!first || cmpId(x.id, first) >= 0) && cmpId(x.id, maxDel) <= 0).slice(0, ORPHAN_CHECKS)) {
          c3.push(['xrange', s.key, row.id, row.id]);
          s3.push({ s, g, kind: 'check', id: row.id });
        }
      }
    }
  }
  const r3 = await rd.batch(c3);
  const live = new Map<GroupInfo, number>();
  const checked = new Map<GroupInfo, { id: string; gone: boolean }[]>();
  s3.forEach(({ s, g, kind, id }, i) => {
    const r = r3[i]!;
    if (r.err) {
      unknowns.push(`${kind === 'live' ? 'XPENDING' : 'XRANGE'} ${s.stream} ${g.group}: ${r.err.message}`);
      return;
    }
    if (kind === 'live') live.set(g, Array.isArray(r.val) ? r.val.length : 0);
    else {
      const l = checked.get(g) ?? [];
      l.push({ id: id!, gone: !Array.isArray(r.val) || r.val.length === 0 });
      checked.set(g, l);
    }
  });

  for (const s of streams) {
    for (const g of s.groups) {
      const lc = judgeLag(raw.get(g)!, ranges.get(g) ?? null);
      g.lag_check = lc;
      g.lag = lc.value;
      if (lc.corrupt) g.entries_read = null; // never used for stage numbers or graphs
      const rows = pel.get(g);
      if (rows) {
        const sample: PendingSample = sampleOf(rows, g.pending, now);
        sample.orphaned = orphansOf(s, g.pending, rows, live.get(g) ?? null, checked.get(g) ?? []);
        g.pending_sample = sample;
      }
    }
  }
  const unknownLag = streams.flatMap((s) => s.groups.filter((g) => g.lag === null).map((g) => `${s.stream} ${g.group}`));
  if (unknownLag.length) {
    unknowns.push(`group lag unknown for ${unknownLag.slice(0, 5).join(', ')}${unknownLag.length > 5 ? ` and ${unknownLag.length - 5} more` : ''}: see LAG_UNRELIABLE (bounds given where known)`);
  }
  return { streams, oldest, unknowns };
}

/** One round trip; commands at `quietAt` have their own fallback and do not count as denied. */
async function batchSplit(rd: Reader, cmds: Cmd[], quietAt: Set<number>) {
  const loud = cmds.filter((_, i) => !quietAt.has(i));
  const quiet = cmds.filter((_, i) => quietAt.has(i));
  const [a, b] = await Promise.all([rd.batch(loud), rd.batch(quiet, { quiet: true })]);
  let li = 0;
  let qi = 0;
  return cmds.map((_, i) => (quietAt.has(i) ? b[qi++]! : a[li++]!));
}

/** Splits a stream name into its tokens: `apply.plan.manual` → [apply, plan, manual]. */
export function tokens(name: string): string[] {
  return name.toLowerCase().split(/[.:_\-]+/).filter(Boolean);
}

export function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/**
 * The streams whose names are closest to `name`, best first: those that share leading
 * tokens (one a token-prefix of the other is the strongest: apply.plan.manual → apply.plan),
 * then typos (small edit distance). `strong` says whether the best one is a near-certain match.
 */
export function closestStreams<T extends { stream: string }>(name: string, candidates: T[], max = 3): { matches: T[]; strong: boolean } {
  const a = tokens(name);
  const scored = candidates
    .filter((c) => c.stream !== name)
    .map((c) => {
      const b = tokens(c.stream);
      let shared = 0;
      while (shared < a.length && shared < b.length && a[shared] === b[shared]) shared++;
      const prefix = shared > 0 && shared === Math.min(a.length, b.length);
      const lev = levenshtein(name.toLowerCase(), c.stream.toLowerCase());
      const typo = lev <= Math.max(2, Math.floor(name.length / 6));
      return { c, shared, prefix, lev, typo };
    })
    .filter((x) => x.shared > 0 || x.typo)
    .sort((x, y) => Number(y.prefix || y.typo) - Number(x.prefix || x.typo) || y.shared - x.shared || x.lev - y.lev);
  const strong = scored.length > 0 && (scored[0]!.prefix || scored[0]!.typo);
  const kept = strong ? scored.filter((x) => x.prefix || x.typo) : scored;
  return { matches: kept.slice(0, max).map((x) => x.c), strong };
}
