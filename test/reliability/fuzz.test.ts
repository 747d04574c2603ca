/**
 * Bad-input suite: fast-check generates ≥ 10,000 malformed and hostile messages (missing
 * and extra fields, wrong types, NaN, Infinity, negative and enormous numbers, 1 MB
 * values, odd unicode, command-like strings) into every stream the engine reads,
 * interleaved with good intents, through the real stages running in-process. Zero
 * handler crashes; every undecodable message is dead-lettered (counted exactly in the
 * metrics; `dead.letter`, capped at QT_TOOL_STREAM_MAXLEN, keeps the newest of them and
 * DEAD_LETTERS reports how many it trimmed); good intents still fill; for every stage
 * in = out + rejected + dead and nothing stays pending. The seed is printed on failure.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { decode, encode, type Fields } from '../../src/contract/messages.js';
import type { StreamName } from '../../src/contract/names.js';
import { Engine, type EngineDeps } from '../../src/engine/engine.js';
import { PaperExchange } from '../../src/engine/exchange/paper.js';
import { STAGE_FACTORIES } from '../../src/engine/stages/index.js';
import { createLogger } from '../../src/log.js';
import { collectSnapshot } from '../../src/diagnose/collect.js';
import { buildReport } from '../../src/diagnose/report.js';
import { closeAll, testRedis, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';
import { pickSeed, seeded } from '../helpers/seed.js';
import { LONG, SYMBOLS, entries, intentFields, metricSums, pending, permissivePolicy, writePrices } from './harness.js';

afterAll(closeAll);

const TOTAL = LONG ? 50_000 : 10_000;
const SEED = pickSeed('QT_FUZZ_SEED');
/** dead.letter's cap: the default in chaos; small in CI so both runs trim (≈ 70% of the input is undecodable) */
const CAP = LONG ? 10_000 : 1_000;
/** deadlines, generous for a loaded 2-core machine (they bound a hang; they measure nothing) */
const DRAIN_MS = Math.max(300_000, TOTAL * 30);

const READS: { stream: StreamName; stage: string }[] = [
  { stream: 'ai.signal_generated', stage: 'autonomous_trader' },
  { stream: 'trade.intent', stage: 'intent_bridge' },
  { stream: 'apply.plan', stage: 'apply_layer' },
  { stream: 'apply.approved', stage: 'intent_executor' },
  { stream: 'apply.result', stage: 'rl_agent' },
];

function template(stream: StreamName, i: number): Fields {
  const now = Date.now();
  const plan = {
    plan_id: `fz-pl-${i}`, intent_id: `fz-in-${i}`, ts: now, symbol: 'ETHUSDT', action: 'OPEN', side: 'BUY', qty: 0.01, price: 3500,
    notional: 35, leverage: 5, sl_price: 0, tp_price: 0, reduceOnly: false, source: 'fuzz',
  };
  switch (stream) {
    case 'ai.signal_generated':
      return encode('ai.signal_generated', { signal_id: `fz-sig-${i}`, ts: now, symbol: 'BTCUSDT', side: 'BUY', confidence: 0.9, price: 70000, models: '{}', model_version: 'fz' });
    case 'trade.intent':
      return intentFields(i, 'fz-bad');
    case 'apply.plan':
      return encode('apply.plan', plan as never);
    case 'apply.approved':
      return encode('apply.approved', { ...plan, permit_id: `fz-pm-${i}` } as never);
    default:
      return encode('apply.result', { plan_id: `fz-pl-${i}`, intent_id: `fz-in-${i}`, ts: now, symbol: 'ETHUSDT', executed: true, filled_qty: 0.01, avg_price: 3500, fee: 0.01 } as never);
  }
}

const MB = 'x'.repeat(1024 * 1024);
const hostile = fc.oneof(
  fc.constantFrom(
    'NaN', 'Infinity', '-Infinity', '-1', '-0', '0', '1e308', '1e400', '-1e400', '9'.repeat(400), '0x1F', '1_000', ' 12 ', '',
    ' ', 'true', 'false', 'null', 'undefined', '[]', '{}', '{"__proto__":{"x":1}}', '$(rm -rf /)', '`reboot`', '; DROP TABLE x;--',
    'FLUSHALL', '\r\nFLUSHALL\r\n', '*1\r\n$8\r\nFLUSHALL\r\n', 'EVAL "redis.call(\'flushall\')" 0', '../../etc/passwd', '%s%s%n',
    '\u0000', '\u202e\u0041BC', '🚀💥', 'ＢＴＣＵＳＤＴ', 'btcusdt', 'BTCUSDT\n', 'ETH USDT', 'ﬀ', '\ud800', 'e\u0301',
  ),
  fc.double().map(String),
  fc.integer().map(String),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

type Mutation = { kind: 'drop' | 'set' | 'extra' | 'random'; field: string; value: string };
const mutation = (keys: string[]) =>
  fc.record({
    kind: fc.constantFrom<Mutation['kind']>('drop', 'set', 'set', 'set', 'extra', 'random'),
    field: fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 20 })),
    value: hostile,
  });

function mutate(base: Fields, ms: Mutation[]): Fields {
  let f: Fields = { ...base };
  for (const m of ms) {
    if (m.kind === 'drop') delete f[m.field];
    else if (m.kind === 'random') f = { [m.field || 'k']: m.value };
    else f[m.field || 'k'] = m.value;
  }
  if (Object.keys(f).length === 0) f = { junk: '1' };
  return f;
}

describe('bad input into every stream the engine reads', () => {
  it(`survives ${TOTAL} hostile messages, dead-letters what it cannot read and keeps trading`, async () => {
    seeded(`fuzz (${TOTAL} messages${LONG ? ', QT_CHAOS_LONG=1' : ''})`, 'QT_FUZZ_SEED', SEED);
    const r = testRedis();
    const prefix = uniquePrefix('fuzz');
    const config = loadConfig({
      env: {
        REDIS_URL: testRedisUrl(), QT_PREFIX: prefix, QT_BLOCK_MS: '100', QT_BATCH_SIZE: '200', QT_LOG_LEVEL: 'silent',
        QT_RECLAIM_IDLE_MS: '500', QT_RECLAIM_EVERY_MS: '500', QT_PAPER_BALANCE: '1000000000', QT_SYMBOLS: SYMBOLS.join(','),
        QT_TOOL_STREAM_MAXLEN: String(CAP),
      },
    });
    const names = config.names;
    await permissivePolicy(r, names);
    await writePrices(r, names);
    const writer = testRedis();
    const log = createLogger({ level: 'silent' });
    const exchange = new PaperExchange({ redis: writer, names, balance: 1e9, slippageBps: 0, takerFee: 0.0004 });
    await exchange.start();
    const deps: EngineDeps = { config, writer, log, mode: 'PAPER', exchange };
    const engine = new Engine(deps);
    await engine.start(await Promise.all(READS.map((x) => STAGE_FACTORIES[x.stage](deps))));

    const injected = new Map<string, { ids: string[]; undecodable: Set<string> }>();
    for (const x of READS) injected.set(x.stream, { ids: [], undecodable: new Set() });
    const good: string[] = [];
    try {
      const perStream = Math.ceil(TOTAL / READS.length);
      const samples = READS.map((x) => fc.sample(fc.array(mutation(Object.keys(template(x.stream, 0))), { minLength: 1, maxLength: 4 }), { numRuns: perStream, seed: SEED + x.stream.length }));
      for (let i = 0; i < perStream; i += 100) {
        const p = r.pipeline();
        const order: { stream: StreamName; fields: Fields }[] = [];
        for (let j = i; j < Math.min(i + 100, perStream); j++) {
          READS.forEach((x, k) => {
            const fields = mutate(template(x.stream, j), samples[k][j]);
            if (j % 500 === 250) fields[Object.keys(fields)[0]] = MB; // a 1 MB value now and then
            order.push({ stream: x.stream, fields });
          });
          if (j % 25 === 0 && j % 8 !== 7) {
            const f = intentFields(j, `fz-good`);
            good.push(f.intent_id);
            order.push({ stream: 'trade.intent', fields: f });
          }
        }
        for (const o of order) p.xadd(names.stream(o.stream), '*', ...Object.entries(o.fields).flat());
        const res = (await p.exec()) ?? [];
        order.forEach((o, n) => {
          const [err, id] = res[n];
          if (err) throw err;
          if (o.fields.intent_id?.startsWith('fz-good')) return;
          const rec = injected.get(o.stream)!;
          rec.ids.push(String(id));
          if (!decode(o.stream, o.fields).ok) rec.undecodable.add(String(id));
        });
        await writePrices(r, names);
      }

      // Drained: each stage has read its whole input and acknowledged it.
      await waitFor(async () => {
        for (const x of READS) {
          const m = await metricSums(r, names, x.stage);
          if ((m.in ?? 0) < (await r.xlen(names.stream(x.stream)))) return false;
          if ((await pending(r, names.stream(x.stream), x.stage)) !== 0) return false;
        }
        return true;
      }, DRAIN_MS, 'every stage drained its input');
    } finally {
      await engine.stop();
    }

    // dead.letter holds the newest dead letters (at least CAP of them: MAXLEN ~ never trims
    // below it), in the order they were written.
    const dead = await entries(r, names.stream('dead.letter'));
    const deadIds = new Map<string, string[]>();
    for (const d of dead) {
      if (!deadIds.has(d.stream)) deadIds.set(d.stream, []);
      deadIds.get(d.stream)!.push(d.entry_id);
    }
    let total = 0;
    let deadTotal = 0;
    const report: string[] = [];
    for (const x of READS) {
      const rec = injected.get(x.stream)!;
      total += rec.ids.length;
      const m = await metricSums(r, names, x.stage);
      const runner = engine.runners.find((u) => u.stage.name === x.stage)!;
      report.push(`${x.stage}: injected ${rec.ids.length} (undecodable ${rec.undecodable.size}), in ${m.in} out ${m.out ?? 0} rejected ${m.rejected ?? 0} dead ${m.dead ?? 0} errors ${runner.totals.errors}`);
      // Accounting: in = out + rejected + dead; nothing pending; no handler crashed.
      expect((m.out ?? 0) + (m.rejected ?? 0) + (m.dead ?? 0), `${x.stage} in = out + rejected + dead`).toBe(m.in);
      expect(m.in, `${x.stage} read its whole input`).toBe(await r.xlen(names.stream(x.stream)));
      expect(await pending(r, names.stream(x.stream), x.stage)).toBe(0);
      expect(runner.totals.errors, `${x.stage} handler errors`).toBe(0);
      // Every message that is not a valid message of its stream is a dead letter: the metrics
      // count them exactly (nothing else was dead-lettered: no handler error, no poison)…
      // (the input also holds upstream stages' outputs: those are judged the same way)
      const input = await entries(r, names.stream(x.stream));
      const undecodable = input.filter(({ _id, ...f }) => !decode(x.stream, f).ok).map((e) => e._id);
      const undecodableSet = new Set(undecodable);
      expect([...rec.undecodable].filter((id) => !undecodableSet.has(id)).slice(0, 5), `${x.stage}: injected entries missing from the input`).toEqual([]);
      expect(m.dead ?? 0, `${x.stage}: dead letters counted = undecodable input entries`).toBe(undecodable.length);
      expect(rec.undecodable.size).toBeGreaterThan(rec.ids.length * 0.5);
      deadTotal += m.dead ?? 0;
      // …and the ones dead.letter still holds are this stage's newest: a suffix, in order, of
      // its undecodable entries (a stage handles its input in order).
      const kept = deadIds.get(names.stream(x.stream)) ?? [];
      expect(kept.filter((id) => !undecodableSet.has(id)).slice(0, 5), `${x.stage}: dead letters of decodable entries`).toEqual([]);
      expect(kept, `${x.stage}: dead.letter keeps the newest dead letters, in order`).toEqual(undecodable.slice(undecodable.length - kept.length));
    }
    const info = await r.xinfo('STREAM', names.stream('dead.letter')) as unknown[];
    const added = Number(info[info.indexOf('entries-added') + 1]);
    console.info(`fuzz (seed ${SEED}): ${total} hostile messages, ${deadTotal} dead letters, dead.letter holds ${dead.length} (cap ~${CAP})\n  ${report.join('\n  ')}`);
    expect(total).toBeGreaterThanOrEqual(TOTAL);
    // Every dead letter was written to the stream (entries-added), which kept the newest ≥ CAP.
    expect(added, 'dead letters written to dead.letter').toBe(deadTotal);
    expect(deadTotal, 'the run trims dead.letter').toBeGreaterThan(CAP);
    expect(dead.length, 'dead.letter keeps at least QT_TOOL_STREAM_MAXLEN').toBeGreaterThanOrEqual(CAP);
    expect(dead.length).toBeLessThan(deadTotal);
    // DEAD_LETTERS says how many the cap trimmed: exact count, kept length, trimmed in the window.
    const report2 = buildReport(await collectSnapshot(r, names, { windowMs: 3_600_000 }));
    const finding = report2.findings.find((f) => f.code === 'DEAD_LETTERS');
    expect(finding?.severity).toBe('warn');
    expect(finding?.evidence).toMatchObject({ count: deadTotal, length: dead.length, entries_added: deadTotal, trimmed: deadTotal - dead.length, trimmed_unread: deadTotal - dead.length, trimmed_in_window: deadTotal - dead.length });
    expect(finding?.message).toMatch(/trimmed faster than they are read/);

    // Good intents between them were still traded.
    const results = await entries(r, names.stream('apply.result'));
    const executed = new Set(results.filter((x) => x.executed === 'true').map((x) => x.intent_id));
    const missed = good.filter((g) => !executed.has(g));
    expect(missed.slice(0, 5), 'good intents not executed').toEqual([]);
    // Dead letters keep a bounded payload (1 MB values are cut).
    expect(Math.max(...dead.map((d) => d.payload.length))).toBeLessThanOrEqual(4096);
    // The hostile command strings did nothing to Redis.
    expect(await r.exists(names.policy())).toBe(1);
  }, DRAIN_MS + 600_000);
});
