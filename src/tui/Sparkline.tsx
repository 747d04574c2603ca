/** A one-line bar chart of a series (oldest first), the newest values kept when too long. */
import { Text } from 'ink';

const BARS = '▁▂▃▄▅▆▇█';

export function sparkline(values: number[], width: number): string {
  if (width <= 0) return '';
  const v = values.slice(-width);
  const max = Math.max(0, ...v);
  const line = v.map((x) => (max === 0 ? (x > 0 ? BARS[0] : ' ') : x <= 0 ? ' ' : BARS[Math.min(7, Math.floor((x / max) * 7.999))]!)).join('');
  return line.padStart(width, ' ');
}

export function Sparkline({ values, width, color = 'cyan' }: { values: number[]; width: number; color?: string }) {
  return <Text color={color}>{sparkline(values, width)}</Text>;
}
