/**
 * Consumer groups of the topology, created so that nothing written to a contract stream is
 * skipped by a consumer that starts later (issue 14 §2). A group created at `$` only sees
 * entries written after its creation (XGROUP CREATE, https://redis.io/docs/latest/commands/xgroup-create/):
 * with one process per stage under systemd, a producer that starts before its consumer
 * would lose its first messages. So:
 * - a consumer creates its own group at `0` (every entry still in the stream is delivered;
 *   entries too old to trade become counted `intent_expired` rejections, age-gate.ts);
 * - every stage, producer or consumer, creates at start the groups of the pipeline
 *   consumers of the streams it writes (CONTRACT.md §1), so the group, its lag and its
 *   pending entries exist from the first entry, whichever process starts first.
 * An existing group is never moved (BUSYGROUP is the normal answer).
 */
import type { Redis } from 'ioredis';
import { STAGE_INPUT, STAGE_OUTPUTS, type Names, type StageName, type StreamName } from '../../contract/names.js';
import { errorMessage } from '../../errors.js';

/**
 * The groups the trading path cannot do without: each pipeline stream's reader in
 * CONTRACT.md §1. `apply.result`'s readers are optional there (rl_agent creates its own
 * group when it runs), so no stage creates a group for a reader that may never run.
 */
export const PIPELINE_GROUPS: readonly { stage: StageName; stream: StreamName }[] = (
  ['autonomous_trader', 'intent_bridge', 'apply_layer', 'intent_executor'] as const
).map((stage) => ({ stage, stream: STAGE_INPUT[stage]! }));

/**
 * The groups a stage creates at start: its own (when it consumes `input`), and the
 * pipeline groups reading the streams it writes (STAGE_OUTPUTS).
 */
export function groupsFor(stage: string, input?: StreamName): { group: string; stream: StreamName }[] {
  const out: { group: string; stream: StreamName }[] = [];
  if (input) out.push({ group: stage, stream: input });
  const writes = STAGE_OUTPUTS[stage as StageName] ?? [];
  for (const g of PIPELINE_GROUPS) {
    if (writes.includes(g.stream) && !out.some((x) => x.group === g.stage && x.stream === g.stream)) out.push({ group: g.stage, stream: g.stream });
  }
  return out;
}

/**
 * Creates each group at `id` (default `0`) with MKSTREAM when it does not exist yet.
 * Returns the groups it created (`stream/group`); an existing group is left where it is.
 * @throws any Redis error other than BUSYGROUP (NOPERM, connection lost)
 */
export async function ensureGroups(redis: Redis, names: Names, groups: { group: string; stream: StreamName }[], id = '0'): Promise<string[]> {
  const created: string[] = [];
  for (const g of groups) {
    try {
      await redis.xgroup('CREATE', names.stream(g.stream), names.group(g.group), id, 'MKSTREAM');
      created.push(`${g.stream}/${g.group}`);
    } catch (e) {
      if (!/BUSYGROUP/.test(errorMessage(e))) throw e;
    }
  }
  return created;
}
