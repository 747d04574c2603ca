/** The positions view shows each position's protective stop on the exchange and its state (issue 18). */
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup } from 'ink-testing-library';
import type { StopView } from '../../src/diagnose/findings-protect.js';
import { busyReport } from './fixtures.js';
import { renderTui } from './render.js';

afterEach(() => cleanup());

const view = (o: Partial<StopView>, now: number): StopView => ({
  status: 'ACTIVE', stop_price: 59000, client_algo_id: 'qtp-abc-1', matches: true, exchange_status: 'NEW', exchange_updated_at: now - 1000,
  placed_at: now - 5000, rest_ms: 7, error: '', opened_at: now - 60_000, mark: 61000, ...o,
});

describe('positions view: stops on the exchange', () => {
  it('shows a resting stop as ok, a missing one past the grace period and a wrong-side one in red, and counts the unprotected', async () => {
    const r = busyReport();
    const now = r.generated_at;
    r.protect = { grace_ms: 10_000, stops: { BTCUSDT: view({}, now), ETHUSDT: view({ status: 'NONE', stop_price: null, client_algo_id: '', matches: false, exchange_status: null }, now) } };
    let t = renderTui({ state: r, initialView: 'positions', size: { columns: 160, rows: 30 } });
    let f = await t.ready();
    expect(f).toMatch(/BTCUSDT\s+LONG.*stop 59000 ok/);
    expect(f).toMatch(/ETHUSDT\s+SHORT.*stop NONE/);
    expect(f).toMatch(/UNPROTECTED 1/);
    cleanup();
    r.protect.stops.BTCUSDT = view({ stop_price: 61500 }, now); // a LONG's SELL stop above the mark 61000
    t = renderTui({ state: r, initialView: 'positions', size: { columns: 160, rows: 30 } });
    f = await t.ready();
    expect(f).toMatch(/BTCUSDT\s+LONG.*stop 61500 WRONG SIDE/);
    expect(f).toMatch(/UNPROTECTED 2/);
  });
});
