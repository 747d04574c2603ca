/** Renders the open operator-action dialog (kill switch, ghost cleanup, results). */
import { Text } from 'ink';
import type { Report } from '../diagnose/read-model.js';
import { ConfirmDialog } from './ConfirmDialog.js';
import { DEFAULT_KILL_REASON } from './data-source.js';
import type { Dialog } from './use-operator-actions.js';

export function DialogView({ dialog, report, width, height }: { dialog: Dialog; report: Report | null; width: number; height: number }) {
  const box = { width, height };
  switch (dialog.kind) {
    case 'busy':
      return <Text wrap="truncate-end" color="yellow">{dialog.what}…</Text>;
    case 'message':
      return <ConfirmDialog {...box} title={dialog.title} lines={dialog.lines} prompt="press any key" color={dialog.error ? 'red' : 'green'} />;
    case 'kill-reason':
      return (
        <ConfirmDialog
          {...box}
          title="Kill switch: currently OFF → turn ON"
          lines={['Turning it on stops new entries; exits are still allowed.', `Key: ${report?.prefix ?? ''}:control:kill_switch`]}
          input={{ label: 'reason', value: dialog.reason, placeholder: DEFAULT_KILL_REASON }}
          prompt="type a reason, enter to continue, esc to cancel"
          color="red"
        />
      );
    case 'kill-confirm':
      return (
        <ConfirmDialog
          {...box}
          title={dialog.on ? 'Kill switch: turn ON?' : 'Kill switch: turn OFF?'}
          lines={
            dialog.on
              ? ['currently: OFF', `will set the kill switch with reason "${dialog.reason}"`, 'no new entries will be taken; exits stay allowed']
              : [`currently: ON (${dialog.current ?? ''})`, 'will delete the kill switch: new entries are allowed again']
          }
          prompt="y to confirm, n or esc to cancel"
          color="red"
        />
      );
    case 'ghosts-preview':
      return (
        <ConfirmDialog
          {...box}
          title={`Cleanup ghosts: ${dialog.preview.ghosts.length} key${dialog.preview.ghosts.length === 1 ? '' : 's'} will be deleted (of ${dialog.preview.scanned} scanned)`}
          lines={dialog.preview.ghosts.map((g) => `${g.kind.padEnd(8)} ${g.key}  (${g.reason})`)}
          prompt="y to delete them (a backup is written first), n or esc to cancel"
        />
      );
  }
}
