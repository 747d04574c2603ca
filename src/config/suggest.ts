/**
 * "Did you mean …?" for names typed by hand (variables, symbols, stages): the nearest
 * known name by Damerau–Levenshtein distance (insert, delete, substitute, swap two
 * neighbours; each costs 1), compared case-insensitively.
 */

/** Edit distance between `a` and `b` (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => [i, ...Array<number>(y.length).fill(0)]);
  for (let j = 1; j <= y.length; j++) d[0]![j] = j;
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[x.length]![y.length]!;
}

/**
 * The known name closest to `word`, or undefined when none is close: at most
 * `maxDistance` edits (default: a third of the word's length, at least 2). Ties go to
 * the earlier name in `known`.
 */
export function nearest(word: string, known: Iterable<string>, maxDistance = Math.max(2, Math.floor(word.length / 3))): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const dist = editDistance(word, k);
    if (dist < bestD) {
      best = k;
      bestD = dist;
    }
  }
  return bestD <= maxDistance ? best : undefined;
}
