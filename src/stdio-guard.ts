/**
 * A closed log pipe must not kill the program. `qt up … | head -1` closes the pipe after
 * one line; the next write fails with EPIPE, which Node reports as an `'error'` event on
 * `process.stdout`/`process.stderr` — with no listener that is an uncaught exception and
 * the engine dies (exit 1, no message, no clean stop, its services left without heartbeat).
 *
 * Node ignores SIGPIPE and surfaces EPIPE as that event
 * (https://nodejs.org/api/process.html#signal-events: "SIGPIPE is ignored by default").
 * Once a stream failed, everything written to it is dropped: the program keeps running
 * and still stops cleanly (SIGTERM, `--for`); its state stays in Redis.
 */

/** The streams whose reader has gone ('stdout' | 'stderr'). */
export const closedStreams = new Set<'stdout' | 'stderr'>();

function guard(name: 'stdout' | 'stderr', stream: NodeJS.WriteStream): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (closedStreams.has(name)) return;
    closedStreams.add(name);
    // Drop every later write, but call its callback so whoever waits for a flush
    // (the CLI entry before it exits) is not left waiting.
    stream.write = ((_chunk: unknown, enc?: unknown, cb?: unknown) => {
      const done = typeof enc === 'function' ? enc : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }) as typeof stream.write;
    // Say it once where it can still be read (the other stream), never throwing.
    const other = name === 'stdout' ? process.stderr : process.stdout;
    const otherName = name === 'stdout' ? 'stderr' : 'stdout';
    if (!closedStreams.has(otherName) && e?.code === 'EPIPE') {
      try {
        other.write(`qt: ${name} was closed (${e.code}); its output is dropped from now on\n`);
      } catch {
        /* the other stream is gone too */
      }
    }
  });
}

let installed = false;
/** Installs the guard on process.stdout and process.stderr (once; later calls do nothing). */
export function guardStdio(): void {
  if (installed) return;
  installed = true;
  guard('stdout', process.stdout);
  guard('stderr', process.stderr);
}
