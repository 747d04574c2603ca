/**
 * The operations console: a header, one of six views, a footer. Keys as in k9s and
 * lazydocker. Reads everything through a DataSource (the diagnose read model); input is
 * handled only when stdin supports raw mode, so a piped stdin still renders.
 */
import { useRef, useState, type ReactNode } from 'react';
import { Box, Text, useApp, useInput, useStdin, type Key } from 'ink';
import type { DataSource } from './data-source.js';
import { Header } from './Header.js';
import { VIEW_COMPONENTS } from './view-components.js';
import { HelpOverlay } from './HelpOverlay.js';
import { DialogView } from './DialogView.js';
import { useOperatorActions } from './use-operator-actions.js';
import { useSnapshot } from './use-snapshot.js';
import { useTerminalSize, type TerminalSize } from './use-terminal-size.js';
import { countOf, VIEWS, type ViewName } from './view-model.js';

export interface AppProps {
  source: DataSource;
  prefix: string;
  refreshMs: number;
  /** fixed size (tests); otherwise the terminal's, following resizes */
  size?: TerminalSize;
  initialView?: ViewName;
  onQuit?: () => void;
  /** true under `qt up --console`: quitting the console stops the engine (help and footer say so) */
  quitStopsEngine?: boolean;
  /** `qt tui --prefix '{a},{b}'`: `p` / `P` show the next / previous pipeline (MultiPrefixApp) */
  onCyclePrefix?: (step: 1 | -1) => void;
  /** shown beside the prefix when there are several, e.g. `1/2` */
  prefixPosition?: string;
}


export function App({ source, prefix, refreshMs, size: fixedSize, initialView = 'pipeline', onQuit, quitStopsEngine = false, onCyclePrefix, prefixPosition }: AppProps) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const { columns, rows, resizedAt } = useTerminalSize(fixedSize);
  const snap = useSnapshot(source, refreshMs);
  const actions = useOperatorActions(source, snap.report, snap.refresh);
  const [view, setView] = useState<ViewName>(initialView);
  const [selected, setSelected] = useState<Record<ViewName, number>>({ pipeline: 0, streams: 0, rejections: 0, positions: 0, services: 0, findings: 0 });
  const [detail, setDetailState] = useState(false);
  // The open detail screen's first shown line; its screen reports how far it can go.
  const [scrollOffset, setScrollOffset] = useState(0);
  const scrollMax = useRef(0);
  const setDetail = (on: boolean) => {
    setDetailState(on);
    setScrollOffset(0);
  };
  const scrollBy = (d: number) => setScrollOffset((o) => Math.max(0, Math.min(scrollMax.current, o + d)));
  const [help, setHelp] = useState(false);
  const [filter, setFilter] = useState('');
  const [editing, setEditing] = useState(false);

  const count = countOf(view, snap.report, filter);
  const sel = Math.min(selected[view], Math.max(0, count - 1));
  const move = (d: number) => setSelected((s) => ({ ...s, [view]: Math.max(0, Math.min(count - 1, sel + d)) }));
  const go = (v: ViewName) => {
    setView(v);
    setDetail(false);
    setFilter('');
    setEditing(false);
  };
  const quit = () => {
    onQuit?.();
    exit();
  };

  const handle = (input: string, key: Key) => {
    if (key.ctrl && input === 'c') return quit();
    if (actions.dialog) return actions.onKey(input, key);
    if (editing) {
      if (key.escape) {
        setFilter('');
        setEditing(false);
      } else if (key.return) setEditing(false);
      else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
      else if (input && !key.ctrl && !key.meta && !key.tab && !key.upArrow && !key.downArrow) setFilter((f) => f + input);
      return;
    }
    if (help) {
      if (key.escape || input === '?' || input === 'q') setHelp(false);
      return;
    }
    const i = VIEWS.indexOf(view);
    if (input === 'q') return quit();
    if (input >= '1' && input <= '6' && input.length === 1) return go(VIEWS[Number(input) - 1]!);
    if (key.tab) return go(VIEWS[(i + (key.shift ? VIEWS.length - 1 : 1)) % VIEWS.length]!);
    if (detail) {
      // A detail screen scrolls: a line with j/k/↑/↓, a page with PgUp/PgDn.
      const page = Math.max(1, bodyH - 2);
      if (key.downArrow || input === 'j') return scrollBy(1);
      if (key.upArrow || input === 'k') return scrollBy(-1);
      if (key.pageDown || input === ' ') return scrollBy(page);
      if (key.pageUp) return scrollBy(-page);
    }
    if (key.downArrow || input === 'j') return move(1);
    if (key.upArrow || input === 'k') return move(-1);
    if (key.return) return setDetail(count > 0);
    if (key.escape) return detail ? setDetail(false) : setFilter('');
    if (input === '/') {
      setDetail(false);
      setEditing(true);
      return;
    }
    if (input === '?') return setHelp(true);
    if (input === 'r') return snap.refresh();
    if (input === 'K') return actions.openKill();
    if (input === 'G') return actions.openGhosts();
    if (onCyclePrefix && (input === 'p' || input === 'P')) return onCyclePrefix(input === 'p' ? 1 : -1);
  };
  // Ink re-subscribes a new handler in an effect, after the frame is drawn: a key typed
  // right after a redraw would reach the previous render's handler. Read the latest.
  const handler = useRef(handle);
  handler.current = handle;
  const stable = useRef((input: string, key: Key) => handler.current(input, key));
  useInput(stable.current, { isActive: isRawModeSupported === true });

  const header = 2 + (snap.report?.kill_switch != null ? 1 : 0) + (snap.reconnecting && snap.error ? 1 : 0);
  const bodyH = Math.max(3, rows - header - 2);
  const View = VIEW_COMPONENTS[view];
  let body: ReactNode;
  if (actions.dialog) body = <DialogView dialog={actions.dialog} report={snap.report} width={columns} height={bodyH} />;
  else if (help) body = <HelpOverlay width={columns} height={bodyH} quitStopsEngine={quitStopsEngine} />;
  else if (!snap.report) body = <Text wrap="truncate-end">{snap.error ? `cannot read Redis: ${snap.error} (retrying every ${Math.round(refreshMs / 1000)}s)` : 'connecting to Redis…'}</Text>;
  else body = <View report={snap.report} filter={filter} selected={sel} detail={detail} scroll={{ offset: scrollOffset, onRange: (m) => (scrollMax.current = m) }} width={columns} height={bodyH} />;

  return (
    <Box flexDirection="column" width={columns}>
      <Header report={snap.report} endpoint={source.endpoint} prefix={prefixPosition ? `${prefix} (${prefixPosition}, p/P next/prev)` : prefix} reconnecting={snap.reconnecting} error={snap.error} updatedAt={snap.updatedAt} now={Date.now()} view={view} width={columns} />
      <Box flexDirection="column" height={bodyH} width={columns} overflow="hidden">
        {body}
      </Box>
      <Text wrap="truncate-end" dimColor={!editing && !filter}>
        {editing ? (
          <Text>
            filter: <Text inverse>{filter || ' '}</Text> <Text dimColor>(enter to apply, esc to clear)</Text>
          </Text>
        ) : resizedAt && Date.now() - resizedAt < 3000 ? (
          `terminal ${columns}×${rows}`
        ) : filter ? (
          `filter "${filter}" (esc to clear) · ${count} shown`
        ) : isRawModeSupported === true ? (
          `1-6/tab views · j/k move · enter detail · / filter · K kill · G ghosts · ? help · ${quitStopsEngine ? 'q stop engine' : 'q quit'}`
        ) : (
          'stdin is not a terminal: display only (no keys)'
        )}
      </Text>
    </Box>
  );
}

