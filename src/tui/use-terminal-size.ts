/** The terminal's size, following resizes. Tests pass a fixed size instead. */
import { useEffect, useState } from 'react';
import { useStdout } from 'ink';

export interface TerminalSize {
  columns: number;
  rows: number;
  /** epoch ms of the last resize (the footer shows the new size for a moment) */
  resizedAt?: number | null;
}

export function useTerminalSize(fixed?: Partial<TerminalSize>): TerminalSize {
  const { stdout } = useStdout();
  const read = (): TerminalSize => ({
    columns: fixed?.columns ?? (stdout.columns || 80),
    rows: fixed?.rows ?? (stdout.rows || 24),
  });
  const [size, setSize] = useState<TerminalSize>(read);
  useEffect(() => {
    if (fixed?.columns && fixed?.rows) return;
    const onResize = () => setSize({ ...read(), resizedAt: Date.now() });
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [stdout, fixed?.columns, fixed?.rows]);
  return fixed?.columns && fixed?.rows ? { columns: fixed.columns, rows: fixed.rows } : size;
}
