import { Box, Text } from 'ink';
import { wrapLine } from './format.js';

/** What a detail screen tells the console about its scrolling (the last offset that shows something new). */
export interface DetailScroll {
  /** first body line shown (0-based), as the console asked */
  offset: number;
  /** called on render with the largest useful offset, so j/k stop at the ends */
  onRange?: (maxOffset: number) => void;
}

/**
 * A detail screen: the first line (bold, kept at the top) is the title; every line is
 * wrapped to the width (a continuation keeps the line's indent), never cut, and the body
 * scrolls (`scroll.offset`, moved by j/k/↑/↓/PgUp/PgDn in the console). When it does not
 * fit, the last row says which lines are shown and how to scroll.
 */
export function DetailLines({ lines, width, height, colorOf, titleColor, scroll }: { lines: string[]; width: number; height: number; colorOf?: (line: string) => string | undefined; titleColor?: string; scroll?: DetailScroll }) {
  const [title = '', ...rest] = lines;
  const titleRows = wrapLine(title, width);
  const body = rest.flatMap((l) => wrapLine(l, width).map((row) => ({ row, color: colorOf?.(l) })));
  const room = Math.max(1, height - titleRows.length);
  const fits = body.length <= room;
  const pageRows = fits ? room : Math.max(1, room - 1);
  const maxOffset = Math.max(0, body.length - pageRows);
  scroll?.onRange?.(maxOffset);
  const offset = Math.min(Math.max(0, scroll?.offset ?? 0), maxOffset);
  const shown = body.slice(offset, offset + pageRows);
  return (
    <Box flexDirection="column" width={width}>
      {titleRows.map((r, i) => (
        <Text key={`t${i}`} wrap="truncate-end" bold color={titleColor ?? colorOf?.(title)}>
          {r}
        </Text>
      ))}
      {shown.map((l, i) => (
        <Text key={i} wrap="truncate-end" color={l.color}>
          {l.row}
        </Text>
      ))}
      {fits ? null : (
        <Text wrap="truncate-end" dimColor>
          {wrapLine(`lines ${offset + 1}-${offset + shown.length} of ${body.length}${offset + shown.length < body.length ? ' ↓' : ''}${offset > 0 ? ' ↑' : ''} · j/k ↑/↓ scroll · PgUp/PgDn page · esc back`, width)[0]}
        </Text>
      )}
    </Box>
  );
}
