/** `?`: every key of the console. */
import { Box, Text } from 'ink';
import { cut } from './format.js';

export const HELP: [string, string][] = [
  ['1-6, tab, shift-tab', 'switch view (Pipeline Streams Rejections Positions Services Findings)'],
  ['j/k, up/down', 'move the cursor'],
  ['enter', 'details (a stage, a stream, a rejection payload, a position, a finding)'],
  ['in details: j/k, up/down', 'scroll a line (long lines wrap; the last row says which lines show)'],
  ['in details: PgUp/PgDn', 'scroll a page (space also pages down)'],
  ['esc', 'back out (close details, clear the filter, close a dialog)'],
  ['/', 'filter the view: type, enter to apply, esc to clear'],
  ['r', 'refresh now'],
  ['p / P', 'next / previous pipeline (qt tui --prefix with several prefixes)'],
  ['K', 'kill switch on/off (asks for confirmation)'],
  ['G', 'clean up ghost position keys (preview first, then confirm)'],
  ['?', 'this help'],
  ['q, ctrl-c', 'quit (the console only reads Redis; the engine keeps running)'],
];

/** What `q` does: `qt tui` only detaches; under `qt up --console` (npm start) it stops the engine beside it. */
export function quitHelp(quitStopsEngine: boolean): string {
  return quitStopsEngine
    ? 'quit and stop the engine (qt up --console: it stops cleanly)'
    : 'quit (this console only reads Redis; the engine keeps running)';
}

/** The key list, with `q` described for this console. */
export function helpLines(quitStopsEngine = false): [string, string][] {
  return HELP.map(([k, d]) => (k.startsWith('q,') ? [k, quitHelp(quitStopsEngine)] : [k, d]));
}

export function HelpOverlay({ width, height, quitStopsEngine = false }: { width: number; height: number; quitStopsEngine?: boolean }) {
  const keyW = 26;
  return (
    <Box flexDirection="column" width={width} borderStyle="round" borderColor="cyan" paddingX={1}>
      <Text bold wrap="truncate-end">Keys (esc or ? to close)</Text>
      {helpLines(quitStopsEngine).slice(0, Math.max(1, height - 3)).map(([k, d]) => (
        <Text key={k} wrap="truncate-end">
          <Text color="cyan">{k.padEnd(keyW)}</Text>
          {cut(d, Math.max(1, width - keyW - 4))}
        </Text>
      ))}
    </Box>
  );
}
