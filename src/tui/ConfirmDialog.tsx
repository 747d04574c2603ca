/** A dialog that shows what an operator action will do and the keys that confirm or cancel it. */
import { Box, Text } from 'ink';
import { cut, wrapLine } from './format.js';

export interface ConfirmDialogProps {
  title: string;
  lines: string[];
  /** the key line, e.g. "y to apply, n or esc to cancel" */
  prompt: string;
  color?: string;
  width: number;
  height: number;
  /** a text field being edited (reason prompt) */
  input?: { label: string; value: string; placeholder: string };
}

export function ConfirmDialog({ title, lines, prompt, color = 'yellow', width, height, input }: ConfirmDialogProps) {
  const inner = Math.max(1, width - 4);
  const room = Math.max(1, height - 4 - (input ? 1 : 0));
  // Long lines (a result message, a key name) wrap to the dialog's width, never cut.
  const rows = lines.flatMap((l) => wrapLine(l, inner));
  const shown = rows.length > room ? [...rows.slice(0, room - 1), `… and ${rows.length - room + 1} more lines`] : rows;
  return (
    <Box flexDirection="column" width={width} borderStyle="double" borderColor={color} paddingX={1}>
      <Text bold color={color} wrap="truncate-end">{cut(title, inner)}</Text>
      {shown.map((l, i) => (
        <Text key={i} wrap="truncate-end">{l}</Text>
      ))}
      {input ? (
        <Text wrap="truncate-end">
          {input.label}: <Text inverse>{input.value || ' '}</Text>
          {input.value ? null : <Text dimColor> (default: {input.placeholder})</Text>}
        </Text>
      ) : null}
      <Text bold wrap="truncate-end">{cut(prompt, inner)}</Text>
    </Box>
  );
}
