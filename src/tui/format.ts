/** Small text helpers of the console: numbers, ages, fixed-width cells. Pure. */

/** Pads or cuts a text to exactly `w` characters (cut with …). */
export function cell(s: string, w: number, align: 'left' | 'right' = 'left'): string {
  if (w <= 0) return '';
  const t = s.length > w ? (w === 1 ? '…' : s.slice(0, w - 1) + '…') : s;
  return align === 'right' ? t.padStart(w) : t.padEnd(w);
}

/** Cuts a text to at most `w` characters (cut with …), no padding. */
export function cut(s: string, w: number): string {
  if (w <= 0) return '';
  return s.length > w ? (w === 1 ? '…' : s.slice(0, w - 1) + '…') : s;
}

/**
 * Wraps one line to `width` columns (never cuts): breaks at the last space that fits,
 * else mid-word; a continuation row keeps the line's leading indent (plus two spaces, so
 * wrapped JSON stays readable). Always returns at least one row.
 */
export function wrapLine(s: string, width: number): string[] {
  const w = Math.max(1, width);
  if (s.length <= w) return [s];
  const indent = ' '.repeat(Math.min(/^ */.exec(s)![0].length + 2, Math.floor(w / 2)));
  const rows: string[] = [];
  let rest = s;
  let first = true;
  while (rest.length > 0) {
    const lead = first ? '' : indent;
    const room = Math.max(1, w - lead.length);
    if (rest.length <= room) {
      rows.push(lead + rest);
      break;
    }
    const space = rest.lastIndexOf(' ', room);
    const at = space > room / 3 ? space : room;
    rows.push(lead + rest.slice(0, at).trimEnd());
    rest = rest.slice(at).replace(/^ +/, '');
    first = false;
  }
  return rows;
}

export function num(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return n.toFixed(digits);
}

/** A price or quantity: up to 6 significant decimals, no trailing zeros. */
export function qty(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  const abs = Math.abs(n);
  const d = abs >= 1000 ? 2 : abs >= 1 ? 4 : 6;
  return String(Number(n.toFixed(d)));
}

export function rate(count: number, windowS: number): string {
  if (windowS <= 0) return '-';
  const r = count / windowS;
  return r === 0 ? '0' : r < 0.01 ? '<0.01' : r < 10 ? r.toFixed(2) : r.toFixed(1);
}

export function pct(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return '-';
  return `${Math.round(share * 100)}%`;
}

/** 4s, 3m, 2h, 5d; '-' for unknown. */
export function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export function signed(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return (n > 0 ? '+' : '') + n.toFixed(digits);
}

/** Pretty JSON when the text is JSON, else the text. */
export function prettyPayload(s: string): string[] {
  try {
    return JSON.stringify(JSON.parse(s), null, 2).split('\n');
  } catch {
    return s.split('\n');
  }
}

/** The rows of a list that fit in `height`, scrolled so that `selected` is visible. */
export function windowOf<T>(items: T[], selected: number, height: number): { start: number; rows: T[] } {
  const h = Math.max(1, height);
  if (items.length <= h) return { start: 0, rows: items };
  const start = Math.min(Math.max(0, selected - Math.floor(h / 2)), items.length - h);
  return { start, rows: items.slice(start, start + h) };
}
