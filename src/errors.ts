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

/**
 * A configuration refused for one or more problems (each `VARIABLE: what is wrong`). The
 * first line names the first problem itself, so one problem is one line
 * (`qt: QT_MAX_LEVERAGE: …`); further problems follow as a list. Exit 2.
 */
export function configError(problems: string[]): UsageError {
  const more = problems.length - 1;
  return new UsageError(`${problems[0]}${more > 0 ? ` (and ${more} more problem${more > 1 ? 's' : ''}:)` : ''}`, problems.slice(1));
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
