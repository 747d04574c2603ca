/** A report: the snapshot, its findings (worst first) and its status (the worst severity). */
import { worstSeverity } from '../contract/codes.js';
import { findingsOf } from './findings.js';
import type { PipelineSnapshot, Report } from './read-model.js';
import { DEFAULT_THRESHOLDS, type Thresholds } from './thresholds.js';

export function buildReport(snap: PipelineSnapshot, th: Thresholds = DEFAULT_THRESHOLDS): Report {
  const findings = findingsOf(snap, th);
  const worst = worstSeverity(findings.map((f) => f.severity));
  return { ...snap, status: worst === 'info' ? 'ok' : worst, findings };
}
