import { Box, Text } from 'ink';
import { cut } from './format.js';

/** A detail screen: lines cut to the width, the first one bold, as many as fit. */
export function DetailLines({ lines, width, height, colorOf }: { lines: string[]; width: number; height: number; colorOf?: (line: string) => string | undefined }) {
  return (
    <Box flexDirection="column" width={width}>
      {lines.slice(0, Math.max(1, height)).map((l, i) => (
        <Text key={i} wrap="truncate-end" bold={i === 0} color={colorOf?.(l)}>
          {cut(l, width)}
        </Text>
      ))}
    </Box>
  );
}
