/** Human output of group trends (`qt diagnose streams --sample`): one row per group, worst first, with the samples' lag and position. */
import Table from 'cli-table3';
import type { Report } from './read-model.js';
import type { Renderer } from './render.js';
import { clip } from './render.js';

export function renderTrends(r: Report, v: Renderer): string {
  const trends = r.trends ?? [];
  if (!trends.length) return 'trends: no consumer group to sample';
  const t = new Table({ head: ['stream', 'group', 'trend', 'lag (oldest → newest)', 'position', 'why'].map((h) => v.c.bold(h)), style: { head: [], border: [] } });
  for (const g of trends) {
    const st = g.status === 'OK' ? v.c.green(g.complete < 1 ? 'OK (incomplete)' : 'OK') : g.status === 'WARN' ? v.c.yellow(g.status) : v.c.red.bold(g.status);
    const lags = g.samples.map((x) => (x.lag === null ? '?' : String(x.lag)));
    const first = g.samples[0];
    const last = g.samples[g.samples.length - 1];
    const pos = (x: typeof first) => (x ? String(x.entries_read ?? x.last_delivered_id) : '-');
    t.push([g.stream, g.group, st, clip(lags.join(' '), 40), `${pos(first)} → ${pos(last)}`, clip(g.why, 70)]);
  }
  const s = r.sample;
  return (s ? `sampled ${s.samples} times, every ${s.interval_ms} ms (${s.commands} Redis commands; allowed lag ${s.allowed_lag})\n` : '') + t.toString();
}
