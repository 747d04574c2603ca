/** A dialog that shows what an operator action will do and the keys that confirm or cancel it. */
import { Box, Text } from 'ink';
import { cut } from './format.js';

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
  const shown = lines.length > room ? [...lines.slice(0, room - 1), `… and ${lines.length - room + 1} more`] : lines;
  return (
    <Box flexDirection="column" width={width} borderStyle="double" borderColor={color} paddingX={1}>
      <Text bold color={color} wrap="truncate-end">{cut(title, inner)}</Text>
      {shown.map((l, i) => (
        <Text key={i} wrap="truncate-end">{cut(l, inner)}</Text>
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
