/**
 * The console's one seam to the outside: where reports come from and where operator
 * actions go. `redis-source.ts` implements it over Redis (through the diagnose read
 * model); tests use an in-memory implementation of the same interface.
 */
import type { GhostKey, Report } from '../diagnose/read-model.js';

export interface GhostPreview {
  scanned: number;
  ghosts: GhostKey[];
}

export interface GhostApplyResult {
  deleted: number;
  ghosts: GhostKey[];
  /** file that `qt cleanup ghosts --restore` takes; null when nothing was deleted */
  backup: string | null;
}

export interface DataSource {
  /** One refresh: one collector call (a bounded number of Redis commands). */
  load(): Promise<Report>;
  /** Sets (on) or removes (off) the kill switch; `reason` is the key's value. */
  killSwitch(on: boolean, reason: string): Promise<void>;
  /** The ghost keys cleanup would delete (dry run). */
  cleanupGhostsPreview(): Promise<GhostPreview>;
  /** Deletes the ghost keys (with a backup). */
  cleanupGhostsApply(): Promise<GhostApplyResult>;
  /** The endpoint shown in the header, password redacted. */
  readonly endpoint: string;
  close?(): Promise<void>;
}

export const DEFAULT_KILL_REASON = 'operator via qt tui';
