/** A real in-memory DataSource: a report you can change, a kill switch and ghost keys that actions change. */
import type { GhostKey, Report } from '../../src/diagnose/read-model.js';
import type { DataSource, GhostApplyResult, GhostPreview } from '../../src/tui/data-source.js';

export class MemorySource implements DataSource {
  readonly endpoint = 'redis://127.0.0.1:6390/';
  report: Report;
  ghosts: GhostKey[];
  /** when set, load() fails with this message (Redis down) */
  down: string | null = null;
  loads = 0;
  calls: string[] = [];

  constructor(report: Report) {
    this.report = report;
    this.ghosts = [...report.positions.ghosts];
  }

  async load(): Promise<Report> {
    this.loads++;
    if (this.down) throw new Error(this.down);
    return structuredClone({ ...this.report, positions: { ...this.report.positions, ghosts: this.ghosts } });
  }
  async killSwitch(on: boolean, reason: string): Promise<void> {
    this.calls.push(`killSwitch:${on}:${reason}`);
    this.report = { ...this.report, kill_switch: on ? reason : null };
  }
  async cleanupGhostsPreview(): Promise<GhostPreview> {
    this.calls.push('preview');
    return { scanned: this.report.positions.scanned_keys, ghosts: [...this.ghosts] };
  }
  async cleanupGhostsApply(): Promise<GhostApplyResult> {
    this.calls.push('apply');
    const ghosts = this.ghosts;
    this.ghosts = [];
    return { deleted: ghosts.length, ghosts, backup: ghosts.length ? '/tmp/qt-ghosts-backup.json' : null };
  }
}
