/**
 * Action normalisation for trade intents (CONTRACT.md §1 trade.intent): entries `BUY`
 * / `SELL` (`LONG` / `SHORT` accepted), exits `CLOSE`, `PARTIAL_25`, `PARTIAL_50`,
 * `PARTIAL_75`, and the legacy spellings of these. Anything else is an unknown variant
 * (the seeds skipped `PARTIAL_25` variants silently as
 * `action_normalized_partial_25_unknown_variant`; here it is a counted rejection).
 */

export type EntryAction = 'BUY' | 'SELL';
export type ExitAction = 'CLOSE' | 'PARTIAL_25' | 'PARTIAL_50' | 'PARTIAL_75';
export type NormalAction = EntryAction | ExitAction;

export type NormalisedAction =
  | { ok: true; action: EntryAction; kind: 'entry'; raw: string }
  | { ok: true; action: ExitAction; kind: 'exit'; fraction: number; raw: string }
  | { ok: false; reason: 'action_unknown_variant'; detail: string; raw: string };

export const CANONICAL_ACTIONS: readonly NormalAction[] = ['BUY', 'SELL', 'CLOSE', 'PARTIAL_25', 'PARTIAL_50', 'PARTIAL_75'];

const ENTRY: Record<string, EntryAction> = {
  BUY: 'BUY',
  LONG: 'BUY',
  SELL: 'SELL',
  SHORT: 'SELL',
};

const FULL_CLOSE = new Set([
  'CLOSE', 'FULL_CLOSE', 'CLOSE_FULL', 'CLOSE_ALL', 'CLOSEALL', 'FULLCLOSE', 'CLOSE_POSITION', 'EXIT', 'FULL_EXIT',
  'EXIT_ALL', 'PARTIAL_100', 'CLOSE_100',
]);

/** `PARTIAL_25`, `PARTIAL25`, `P25`, `PARTIAL_CLOSE_25`, `CLOSE_PARTIAL_25`, `PARTIAL_25_PCT`, `PARTIAL_25%`… */
const PARTIAL = /^(?:PARTIAL|PARTIAL_CLOSE|CLOSE_PARTIAL|PARTIAL_EXIT|P)_?(25|50|75)(?:_?(?:PCT|PERCENT|%))?$/;

/** Upper case, separators (space, dash, dot) folded to `_`, repeated `_` collapsed. */
function fold(raw: string): string {
  return raw.trim().toUpperCase().replace(/[\s\-.]+/g, '_').replace(/_+/g, '_').replace(/^_|_$/g, '');
}

export function normaliseAction(raw: string): NormalisedAction {
  const s = fold(String(raw ?? ''));
  const entry = ENTRY[s];
  if (entry) return { ok: true, action: entry, kind: 'entry', raw };
  if (FULL_CLOSE.has(s)) return { ok: true, action: 'CLOSE', kind: 'exit', fraction: 1, raw };
  const m = PARTIAL.exec(s);
  if (m) {
    const pct = Number(m[1]);
    return { ok: true, action: `PARTIAL_${pct}` as ExitAction, kind: 'exit', fraction: pct / 100, raw };
  }
  return {
    ok: false,
    reason: 'action_unknown_variant',
    detail: `unknown action ${JSON.stringify(String(raw).slice(0, 40))} (expected ${CANONICAL_ACTIONS.join(', ')} or a legacy spelling of these)`,
    raw,
  };
}

/** The order side that reduces a position of the given side (a LONG closes with SELL). */
export function reducingSide(positionSide: 'LONG' | 'SHORT'): EntryAction {
  return positionSide === 'LONG' ? 'SELL' : 'BUY';
}

/** The position side an entry order opens (BUY opens LONG). */
export function openedSide(side: EntryAction): 'LONG' | 'SHORT' {
  return side === 'BUY' ? 'LONG' : 'SHORT';
}
