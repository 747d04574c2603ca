/**
 * Mounts the console on the terminal and resolves when it exits (q, ctrl-c, SIGINT,
 * SIGTERM, or `stop`). Loaded lazily by `qt tui` so other commands never load Ink.
 */
import { render } from 'ink';
import { MultiPrefixApp } from './MultiPrefixApp.js';
import type { DataSource } from './data-source.js';

export interface MountOptions {
  prefix: string;
  refreshMs: number;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
  /** aborting it closes the console (e.g. the engine beside it stopped) */
  stop?: AbortSignal;
  /** `qt up --console`: quitting stops the engine (the help says so) */
  quitStopsEngine?: boolean;
}

const CLEAR_SCREEN = '\x1b[2J\x1b[3J\x1b[H';

/**
 * `source`: one pipeline's data source, or several (`qt tui --prefix '{a},{b}'`), each with its
 * prefix; with several, `p` / `P` switch between them.
 */
export async function mountConsole(source: DataSource | { prefix: string; source: DataSource }[], o: MountOptions): Promise<void> {
  const pipelines = Array.isArray(source) ? source : [{ prefix: o.prefix, source }];
  const stdout = o.stdout ?? process.stdout;
  const stdin = o.stdin ?? process.stdin;
  // Clear before Ink redraws on a resize: a shrunk terminal otherwise keeps parts of the wider frame.
  const onResize = () => {
    if (stdout.isTTY) stdout.write(CLEAR_SCREEN);
  };
  stdout.prependListener('resize', onResize);
  const instance = render(<MultiPrefixApp pipelines={pipelines} refreshMs={o.refreshMs} quitStopsEngine={o.quitStopsEngine} />, {
    stdout,
    stdin,
    exitOnCtrlC: false,
    patchConsole: true,
  });
  const quit = () => instance.unmount();
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
  o.stop?.addEventListener('abort', quit, { once: true });
  try {
    await instance.waitUntilExit();
  } finally {
    process.off('SIGINT', quit);
    process.off('SIGTERM', quit);
    o.stop?.removeEventListener('abort', quit);
    stdout.off('resize', onResize);
    instance.cleanup();
  }
}
