/** Medians with min and max, and a plain table. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  samples: number[];
  unit: string;
}

export function figure(samples: number[], unit: string): Figure {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: round(mid), min: round(s[0]), max: round(s[s.length - 1]), samples: samples.map(round), unit };
}

export function round(n: number): number {
  if (!Number.isFinite(n)) return n;
  const a = Math.abs(n);
  return a >= 100 ? Math.round(n) : a >= 1 ? Math.round(n * 100) / 100 : Math.round(n * 10000) / 10000;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function table(rows: [string, Figure, string][]): string {
  const lines = [`${'figure'.padEnd(36)} ${'median'.padStart(12)} ${'min'.padStart(12)} ${'max'.padStart(12)}  unit       target`];
  for (const [name, f, target] of rows) {
    lines.push(`${name.padEnd(36)} ${String(f.median).padStart(12)} ${String(f.min).padStart(12)} ${String(f.max).padStart(12)}  ${f.unit.padEnd(10)} ${target}`);
  }
  return lines.join('\n');
}
