/**
 * Operator actions with confirmation: `K` kill switch on/off, `G` ghost cleanup
 * (preview, then apply). Nothing reaches the data source before the `y` keystroke.
 */
import { useState } from 'react';
import type { Key } from 'ink';
import type { Report } from '../diagnose/read-model.js';
import { DEFAULT_KILL_REASON, type DataSource, type GhostPreview } from './data-source.js';

export type Dialog =
  | { kind: 'kill-reason'; reason: string }
  | { kind: 'kill-confirm'; on: boolean; reason: string; current: string | null }
  | { kind: 'ghosts-preview'; preview: GhostPreview }
  | { kind: 'busy'; what: string }
  | { kind: 'message'; title: string; lines: string[]; error?: boolean };

export interface OperatorActions {
  dialog: Dialog | null;
  openKill(): void;
  openGhosts(): void;
  /** handles a key while a dialog is open */
  onKey(input: string, key: Key): void;
}

const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function useOperatorActions(source: DataSource, report: Report | null, refresh: () => void): OperatorActions {
  const [dialog, setDialog] = useState<Dialog | null>(null);

  const run = async (what: string, act: () => Promise<Dialog>) => {
    setDialog({ kind: 'busy', what });
    try {
      setDialog(await act());
    } catch (e) {
      setDialog({ kind: 'message', title: `${what} failed`, lines: [msg(e)], error: true });
    }
    refresh();
  };

  const openKill = () => {
    if (!report) {
      setDialog({ kind: 'message', title: 'kill switch', lines: ['no data from Redis yet: the current state is unknown'], error: true });
      return;
    }
    const current = report.kill_switch;
    if (current === null) setDialog({ kind: 'kill-reason', reason: '' });
    else setDialog({ kind: 'kill-confirm', on: false, reason: '', current });
  };

  const openGhosts = () => {
    setDialog({ kind: 'busy', what: 'looking for ghost keys' });
    source.cleanupGhostsPreview().then(
      (preview) =>
        setDialog(
          preview.ghosts.length === 0
            ? { kind: 'message', title: 'cleanup ghosts', lines: [`scanned ${preview.scanned} keys: no ghost keys, nothing to do`] }
            : { kind: 'ghosts-preview', preview },
        ),
      (e) => setDialog({ kind: 'message', title: 'ghost preview failed', lines: [msg(e)], error: true }),
    );
  };

  const onKey = (input: string, key: Key) => {
    if (!dialog) return;
    if (dialog.kind === 'busy') return;
    if (dialog.kind === 'message') {
      setDialog(null);
      return;
    }
    if (dialog.kind === 'kill-reason') {
      if (key.escape) setDialog(null);
      else if (key.return) {
        const current = report?.kill_switch ?? null;
        setDialog({ kind: 'kill-confirm', on: true, reason: dialog.reason.trim() || DEFAULT_KILL_REASON, current });
      } else if (key.backspace || key.delete) setDialog({ ...dialog, reason: dialog.reason.slice(0, -1) });
      else if (input && !key.ctrl && !key.meta && !key.tab && !key.upArrow && !key.downArrow) setDialog({ ...dialog, reason: (dialog.reason + input).slice(0, 200) });
      return;
    }
    if (key.escape || input === 'n' || input === 'N') {
      setDialog(null);
      return;
    }
    if (input !== 'y' && input !== 'Y') return;
    if (dialog.kind === 'kill-confirm') {
      const { on, reason } = dialog;
      void run(on ? 'kill switch on' : 'kill switch off', async () => {
        await source.killSwitch(on, reason);
        return {
          kind: 'message',
          title: on ? 'kill switch is ON' : 'kill switch is OFF',
          lines: [on ? `no new entries (exits still allowed); reason: ${reason}` : 'new entries are allowed again'],
        };
      });
    } else if (dialog.kind === 'ghosts-preview') {
      void run('cleanup ghosts', async () => {
        const r = await source.cleanupGhostsApply();
        return {
          kind: 'message',
          title: `deleted ${r.deleted} ghost key${r.deleted === 1 ? '' : 's'}`,
          lines: r.backup ? [`backup: ${r.backup}`, `restore with: qt cleanup ghosts --restore ${r.backup}`] : ['nothing was deleted'],
        };
      });
    }
  };

  return { dialog, openKill, openGhosts, onKey };
}
