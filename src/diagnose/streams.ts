/**
 * Streams, their consumer groups and consumers: XINFO STREAM (never FULL), XINFO GROUPS,
 * XINFO CONSUMERS, and one XPENDING range call (COUNT 1, no IDLE) per group with pending
 * entries. Three pipelined rounds; the cost grows with streams, groups and consumers only.
 * Tolerates Redis 6.2 (no lag/entries-read), 7.0 and 7.2 (inactive) and unknown fields.
 */
import type { GroupInfo, StreamInfo } from './read-model.js';
import { idMs, num, str, replyMap, type Reader, type Cmd } from './redis-read.js';

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

export async function collectStreams(
  rd: Reader,
  keys: { key: string; name: string; known: boolean }[],
  now: number,
  staleMs: number,
): Promise<StreamsResult> {
  const unknowns: string[] = [];
  const r1 = await rd.batch(keys.flatMap((k): Cmd[] => [['xinfo', 'STREAM', k.key], ['xinfo', 'GROUPS', k.key]]));
  const streams: StreamInfo[] = [];
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
    const lastEntry = Array.isArray(m['last-entry']) ? str((m['last-entry'] as unknown[])[0]) : '';
    const lastId = lastEntry || (length > 0 ? str(m['last-generated-id']) : '');
    const last = length > 0 ? idMs(lastId, now) : null;
    const age = last === null ? null : Math.max(0, Math.round((now - last) / 1000));
    const groups: GroupInfo[] = [];
    if (g.err) unknowns.push(`XINFO GROUPS ${k.name}: ${g.err.message}`);
    else if (Array.isArray(g.val)) {
      for (const raw of g.val) {
        const gm = replyMap(raw);
        groups.push({
          group: str(gm['name']),
          consumers: num(gm['consumers']) ?? 0,
          pending: num(gm['pending']) ?? 0,
          lag: num(gm['lag']),
          entries_read: num(gm['entries-read']),
          last_delivered_id: str(gm['last-delivered-id']),
          consumer_details: [],
          oldest_pending_idle_ms: null,
        });
      }
    }
    streams.push({
      stream: k.name,
      key: k.key,
      length,
      last_entry_ms: last,
      age_s: age,
      entries_added: num(m['entries-added']),
      last_id: lastId,
      groups,
      known: k.known,
      stale: age !== null && age * 1000 > staleMs,
    });
  });

  // Round 2: consumers of every group, and the oldest pending entry of groups with pending.
  const cmds: Cmd[] = [];
  const slots: { s: StreamInfo; g: GroupInfo; kind: 'consumers' | 'pending' }[] = [];
  for (const s of streams) {
    for (const g of s.groups) {
      if (g.consumers > 0) {
        cmds.push(['xinfo', 'CONSUMERS', s.key, g.group]);
        slots.push({ s, g, kind: 'consumers' });
      }
      if (g.pending > 0) {
        cmds.push(['xpending', s.key, g.group, '-', '+', 1]);
        slots.push({ s, g, kind: 'pending' });
      }
    }
  }
  const r2 = await rd.batch(cmds);
  const oldest = new Map<string, OldestPending>();
  slots.forEach(({ s, g, kind }, i) => {
    const r = r2[i]!;
    if (r.err) {
      unknowns.push(`${kind === 'consumers' ? 'XINFO CONSUMERS' : 'XPENDING'} ${s.stream} ${g.group}: ${r.err.message}`);
      return;
    }
    if (kind === 'consumers' && Array.isArray(r.val)) {
      for (const raw of r.val) {
        const cm = replyMap(raw);
        g.consumer_details.push({
          name: str(cm['name']),
          pending: num(cm['pending']) ?? 0,
          idle_ms: num(cm['idle']) ?? 0,
          inactive_ms: num(cm['inactive']),
        });
      }
    } else if (kind === 'pending' && Array.isArray(r.val) && Array.isArray(r.val[0])) {
      const [id, consumer, idle, deliveries] = r.val[0] as unknown[];
      g.oldest_pending_idle_ms = num(idle);
      g.oldest_pending = { id: str(id), consumer: str(consumer), idle_ms: num(idle) ?? 0, deliveries: num(deliveries) ?? 0 };
      oldest.set(`${s.key}\u0000${g.group}`, { id: str(id), consumer: str(consumer), idle_ms: num(idle) ?? 0, deliveries: num(deliveries) ?? 0 });
    }
  });
  if (streams.some((s) => s.groups.some((g) => g.lag === null && g.entries_read === null))) {
    unknowns.push('group lag: this Redis does not report lag/entries-read (Redis < 7.0) or lag is unknown after XDEL; GROUP_LAGGING judged on what is known');
  }
  return { streams, oldest, unknowns };
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
