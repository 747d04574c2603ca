/** A report: the snapshot, its findings (worst first) and its status (the worst severity). */
import { worstSeverity, type Severity, type Status } from '../contract/codes.js';
import { findingsOf } from './findings.js';
import type { PipelineSnapshot, Report } from './read-model.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from './thresholds.js';

export function buildReport(snap: PipelineSnapshot, th: Thresholds = DEFAULT_THRESHOLDS): Report {
  const findings = findingsOf(snap, th);
  return { ...snap, status: verdictOf(findings.map((f) => f.severity), snap), findings };
}

/**
 * The status of a set of findings: the worst severity (`info` counts as `ok`), except that
 * anything the check could not see (`blind_spots`: keys it may not read, nothing under the
 * prefix) makes it `unknown` (exit 3) unless a crit finding stands (CONTRACT.md §4: an
 * unknown verdict is never OK).
 */
export function verdictOf(severities: Iterable<Severity>, snap: Pick<PipelineSnapshot, 'blind_spots'>): Status {
  const w = worstSeverity(severities);
  if (w === 'crit') return 'crit';
  if (snap.blind_spots?.length) return 'unknown';
  return w === 'info' ? 'ok' : w;
}
