/**
 * Misspelt settings: a `QT_*` variable (environment or env file) that no part of qt reads
 * is ignored, so a typo silently keeps the default. These are warned about, each with
 * the nearest known name (edit distance, src/config/suggest.ts).
 */
import { VARIABLES } from './config.js';
import { STREAMS, streamEnvVar } from '../contract/names.js';
import { nearest } from './suggest.js';

/** QT_* variables read outside config.ts: diagnostics thresholds (thresholds.ts THRESHOLD_ENV), debugging, the test suite. */
const OTHER_VARS = [
  'QT_DIAG_STALE', 'QT_DIAG_STALE_CRIT', 'QT_DIAG_LAG_WARN', 'QT_DIAG_LAG_CRIT', 'QT_DIAG_PENDING_IDLE', 'QT_DIAG_CONSUMER_IDLE',
  'QT_DIAG_REJECT_WARN', 'QT_DIAG_REJECT_CRIT', 'QT_DIAG_MISMATCH_SHARE', 'QT_DIAG_MIN_SAMPLE', 'QT_DIAG_SILENT', 'QT_DIAG_POISON_DELIVERIES',
  'QT_DEBUG', 'QT_CHAOS_LONG', 'QT_TEST_REDIS_URL',
];

/** Every QT_* name qt reads. */
export function knownQtVariables(): string[] {
  return [...Object.keys(VARIABLES).filter((k) => k.startsWith('QT_')), ...STREAMS.map(streamEnvVar), ...OTHER_VARS];
}

/**
 * One warning per unknown QT_* name of `given` (name → where it was set, e.g.
 * `environment` or `/etc/quantum/common.env:7`), with the nearest known name when close.
 * QT_STREAM_* names are left out: loadConfig refuses an unknown stream already.
 */
export function unknownQtVariables(given: Record<string, string>): string[] {
  const known = knownQtVariables();
  const set = new Set(known);
  return Object.entries(given)
    .filter(([k]) => k.startsWith('QT_') && !set.has(k) && !k.startsWith('QT_STREAM_'))
    .map(([k, where]) => {
      const near = nearest(k, known);
      return `${k} (${where}) is not a qt setting and is ignored${near ? `; did you mean ${near}?` : ''} (docs/configuration.md lists them)`;
    });
}
