/**
 * Typed errors that carry their exit code. Commands throw these; only the CLI entry
 * (src/cli.ts) prints them (one line each, no stack) and calls process.exit.
 */
export class QtError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly lines: string[] = [],
  ) {
    super(message);
    this.name = 'QtError';
  }
}

/** A user mistake: bad flag, bad configuration, bad input. Exit 2. */
export class UsageError extends QtError {
  constructor(message: string, lines: string[] = []) {
    super(message, 2, lines);
    this.name = 'UsageError';
  }
}

/** Redis unreachable or a check that could not run. Exit 3. */
export class UnavailableError extends QtError {
  constructor(message: string, lines: string[] = []) {
    super(message, 3, lines);
    this.name = 'UnavailableError';
  }
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
