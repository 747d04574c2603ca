/**
 * The ceiling this design can reach: N entries through three bare relay hops (read
 * group, add to the next stream, ack — in one MULTI like the runtime's commit, same
 * batch size, no logic). Runs as its own process, like the engine.
 * Usage: node dist/bench/relay.js URL PREFIX BATCH [HOP] — without HOP all three hops run
 * in this process, with HOP only that one (one process per hop, like one per stage).
 */
import { Redis } from 'ioredis';
import { Names } from '../contract/names.js';

const [url, prefix, batchArg, hopArg] = process.argv.slice(2);
const batch = Number(batchArg ?? 100);
const hops = hopArg === undefined ? [0, 1, 2] : [Number(hopArg)];
const names = new Names({ prefix });
const key = (i: number) => names.extraStream(`relay.${i}`);
let stopping = false;

async function hop(i: number): Promise<void> {
  const block = new Redis(url, { maxRetriesPerRequest: null });
  const w = new Redis(url, { maxRetriesPerRequest: null });
  const group = `relay${i}`;
  while (!stopping) {
    const reply = (await block.xreadgroup('GROUP', group, 'c', 'COUNT', batch, 'BLOCK', 100, 'STREAMS', key(i), '>')) as [string, [string, string[]][]][] | null;
    if (!reply) continue;
    const entries = reply[0][1];
    const tx = w.multi();
    for (const [, fields] of entries) tx.xadd(key(i + 1), 'MAXLEN', '~', '1000000', '*', ...fields);
    tx.xack(key(i), group, ...entries.map(([id]) => id));
    await tx.exec();
  }
  block.disconnect();
  w.disconnect();
}

process.on('SIGTERM', () => {
  stopping = true;
  setTimeout(() => process.exit(0), 300);
});
await Promise.all(hops.map(hop));
