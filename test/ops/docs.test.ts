import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { FINDING_CODES } from '../../src/contract/codes.js';
import { Names } from '../../src/contract/names.js';
import { createMetrics } from '../../src/engine/metrics-server.js';

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');
const runbook = read('docs/operations.md');
const metricsDoc = read('docs/metrics.md');
const rules = read('deploy/alert-rules.yml');
const dashboard = JSON.parse(read('deploy/grafana-dashboard.json')) as { panels: { title: string; targets: { expr: string }[] }[] };

/** Every series name the metrics server registers (no Redis needed to list them). */
const series = createMetrics({ runners: [], redis: {} as Redis, names: new Names(), mode: 'PAPER' })
  .registry.getMetricsAsArray()
  .map((m) => m.name);
/** Series names used in queries (a histogram's _bucket/_sum/_count as the histogram). */
const usedSeries = (text: string) =>
  [...new Set(text.match(/\bqt_[a-z_]+\b/g) ?? [])].map((n) => (series.includes(n) ? n : n.replace(/_(bucket|sum|count)$/, '')));
/** GitHub's anchor of a heading. */
const anchors = new Set([...runbook.matchAll(/^#{2,3} (.+)$/gm)].map(([, h]) => h.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-')));

describe('operations runbook', () => {
  it('has a section per finding code saying what it means, how to confirm it and how to fix it', () => {
    for (const code of FINDING_CODES) {
      const m = new RegExp(`^### ${code}\\n([\\s\\S]*?)(?=^##)`, 'm').exec(runbook);
      expect(m, `section for ${code}`).not.toBeNull();
      expect(m![1]).toContain('**Means:**');
      expect(m![1]).toMatch(/\*\*Confirm/);
      expect(m![1]).toMatch(/[Ff]ix:\*\*/);
      expect(m![1], `${code} names a command`).toMatch(/`(qt |redis-cli |systemctl |journalctl )/);
    }
  });

  it('covers the seeds\' incidents, the guarantees, systemd and logs', () => {
    for (const h of ['## Guarantees and their limits', '## Running under systemd', '## Logs', '## Worked examples']) expect(runbook).toContain(h);
    for (const s of ['apply.plan.manual', '47/10', 'below_min_notional', 'AOF `appendfsync everysec`', 'AOF `appendfsync always`', 'RDB', 'no persistence', 'client order id']) {
      expect(runbook).toContain(s);
    }
  });
});

describe('metrics docs, alert rules and dashboard', () => {
  it('docs/metrics.md documents every series the server exports', () => {
    expect(series.length).toBeGreaterThan(15);
    for (const s of series) expect(metricsDoc, s).toContain(`\`${s}\``);
  });

  it('alert rules use only exported series, name real finding codes and link to runbook sections', () => {
    for (const s of usedSeries(rules)) expect(series, `alert rules use ${s}`).toContain(s);
    const findings = [...rules.matchAll(/finding: (\S+)/g)].map(([, f]) => f);
    for (const f of findings) expect(FINDING_CODES as readonly string[]).toContain(f);
    for (const f of ['GROUP_STARVING', 'STREAM_STALE', 'STAGE_REJECTING', 'SERVICE_DOWN', 'POSITION_DRIFT']) expect(findings).toContain(f);
    const links = [...rules.matchAll(/runbook: "docs\/operations\.md#([a-z_-]+)"/g)].map(([, a]) => a);
    expect(links.length).toBe(findings.length);
    for (const a of links) expect(anchors, `anchor #${a}`).toContain(a);
  });

  it('the dashboard is valid JSON whose queries use only exported series', () => {
    expect(dashboard.panels.length).toBeGreaterThan(8);
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    const used = usedSeries(exprs);
    for (const s of used) expect(series, `dashboard uses ${s}`).toContain(s);
    expect(used).toEqual(expect.arrayContaining(['qt_group_lag', 'qt_stage_messages_total', 'qt_service_up', 'qt_position_drift_symbols']));
  });
});
