/**
 * Polls the data source every `refreshMs` (one `load()` at a time, never overlapping),
 * or less often on a deployment so large that one load takes long: the console waits at
 * least LOAD_SHARE times the last load's duration (a 300 ms load: 1.5 s), so it never
 * keeps Redis busy more than a fifth of the time.
 * When a load fails after data was shown, the console keeps the last report and says
 * "reconnecting…" until a load succeeds again. Each load is also a sample of every consumer
 * group: the console keeps the newest ten and judges each group's trend (Burrow's rules).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Report } from '../diagnose/read-model.js';
import type { DataSource } from './data-source.js';
import { TrendHistory, withConsoleTrends } from '../diagnose/trend-sample.js';

export interface SnapshotState {
  report: Report | null;
  /** the last load failed; `report` (if any) is the last good one */
  reconnecting: boolean;
  error: string | null;
  /** epoch ms of the last good load */
  updatedAt: number | null;
  loads: number;
}

export const LOAD_SHARE = 5;

/** The wait before the next load: the period, or LOAD_SHARE × the last load's time when longer. */
export function nextDelay(refreshMs: number, lastLoadMs: number): number {
  return Math.max(refreshMs, Math.round(LOAD_SHARE * lastLoadMs));
}

export function useSnapshot(source: DataSource, refreshMs: number): SnapshotState & { refresh: () => void } {
  const [state, setState] = useState<SnapshotState>({ report: null, reconnecting: false, error: null, updatedAt: null, loads: 0 });
  const timer = useRef<NodeJS.Timeout | null>(null);
  const alive = useRef(true);
  const busy = useRef(false);
  const again = useRef(false);
  // the samples of each group kept while the console is open (one per load): the trend per group
  const history = useRef(new TrendHistory());

  const tick = useCallback(async () => {
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    const t0 = Date.now();
    try {
      const report = withConsoleTrends(await source.load(), history.current);
      if (alive.current) setState((s) => ({ report, reconnecting: false, error: null, updatedAt: Date.now(), loads: s.loads + 1 }));
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      if (alive.current) setState((s) => ({ ...s, reconnecting: true, error, loads: s.loads + 1 }));
    } finally {
      busy.current = false;
      if (alive.current) {
        if (again.current) {
          again.current = false;
          void tick();
        } else timer.current = setTimeout(() => void tick(), nextDelay(refreshMs, Date.now() - t0));
      }
    }
  }, [source, refreshMs]);

  useEffect(() => {
    alive.current = true;
    void tick();
    return () => {
      alive.current = false;
      if (timer.current) clearTimeout(timer.current);
    };
  }, [tick]);

  return { ...state, refresh: () => void tick() };
}
