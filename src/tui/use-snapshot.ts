/**
 * Polls the data source every `refreshMs` (one `load()` at a time, never overlapping).
 * When a load fails after data was shown, the console keeps the last report and says
 * "reconnecting…" until a load succeeds again.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Report } from '../diagnose/read-model.js';
import type { DataSource } from './data-source.js';

export interface SnapshotState {
  report: Report | null;
  /** the last load failed; `report` (if any) is the last good one */
  reconnecting: boolean;
  error: string | null;
  /** epoch ms of the last good load */
  updatedAt: number | null;
  loads: number;
}

export function useSnapshot(source: DataSource, refreshMs: number): SnapshotState & { refresh: () => void } {
  const [state, setState] = useState<SnapshotState>({ report: null, reconnecting: false, error: null, updatedAt: null, loads: 0 });
  const timer = useRef<NodeJS.Timeout | null>(null);
  const alive = useRef(true);
  const busy = useRef(false);
  const again = useRef(false);

  const tick = useCallback(async () => {
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    try {
      const report = await source.load();
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
        } else timer.current = setTimeout(() => void tick(), refreshMs);
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
