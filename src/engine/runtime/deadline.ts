/** Waiting on something with a deadline, for stops that must end whatever Redis does. */

/**
 * Resolves true when `p` settles (fulfilled or rejected) by `deadline` (epoch ms), false
 * when the deadline comes first; never rejects. `undefined` counts as settled.
 */
export function settledBy(p: Promise<unknown> | undefined, deadline: number): Promise<boolean> {
  if (!p) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
    p.then(
      () => {
        clearTimeout(t);
        resolve(true);
      },
      () => {
        clearTimeout(t);
        resolve(true);
      },
    );
  });
}
