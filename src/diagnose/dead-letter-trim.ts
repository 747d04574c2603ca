/**
 * How many dead letters the capped `dead.letter` stream no longer holds.
 *
 * `dead.letter` is written with `XADD … MAXLEN ~ QT_TOOL_STREAM_MAXLEN` (contract §1): it
 * keeps at least the newest N entries (approximate trimming removes whole macro nodes only,
 * so never below N) and drops older ones without looking at any reader (XTRIM/MAXLEN ignore
 * consumer groups; REDIS-STREAMS-FACTS.md "Trimming and the PEL"). The exact number of dead
 * letters is in the stage metrics (`dead`); the stream is the newest sample of them. This
 * function compares the two so the DEAD_LETTERS finding can say when dead letters are trimmed
 * faster than anyone reads them. Pure.
 */
import type { StreamInfo } from './read-model.js';

export interface DeadLetterTrim {
  /** entries the stream holds now (XLEN), 0 when it does not exist */
  length: number;
  /** every XADD in the stream's life (XINFO STREAM `entries-added`, Redis ≥ 7.0); null before 7.0 */
  entries_added: number | null;
  /** entries removed by the cap (or XTRIM/XDEL): entries_added − length; null when entries_added is unknown */
  trimmed: number | null;
  /**
   * of the trimmed entries, those no consumer group had read (`trimmed − max(entries-read)`,
   * floored at 0); all of them when no group reads the stream (tools read it with XREVRANGE,
   * which Redis does not record). Null when unknown.
   */
  trimmed_unread: number | null;
  /**
   * at least this many of the window's dead letters (counted exactly by the metrics) are no
   * longer in the stream: max(0, dead in window − length). Above 0, dead letters are trimmed
   * faster than they can be read: the stream no longer holds even the window's own.
   */
  trimmed_in_window: number;
}

/**
 * Trim figures of `dead.letter`.
 * @param stream the `dead.letter` StreamInfo of the snapshot (undefined when it does not exist)
 * @param deadInWindow dead letters in the diagnosis window, from the stage metrics (count)
 */
export function deadLetterTrim(stream: StreamInfo | undefined, deadInWindow: number): DeadLetterTrim {
  const length = stream?.length ?? 0;
  const added = stream ? stream.entries_added : null;
  const trimmed = added === null ? null : Math.max(0, added - length);
  let unread: number | null = trimmed;
  if (trimmed !== null && stream && stream.groups.length) {
    const reads = stream.groups.map((g) => g.entries_read);
    // a group whose entries-read is unknown (null) may have read them all: not counted as unread
    unread = reads.some((x) => x === null) ? null : Math.max(0, trimmed - Math.max(...(reads as number[])));
  }
  return { length, entries_added: added, trimmed, trimmed_unread: unread, trimmed_in_window: Math.max(0, deadInWindow - length) };
}
