/**
 * Human output of `qt diagnose …`: cli-table3 tables and chalk colour (none when stdout
 * is not a TTY or NO_COLOR is set). Every section renders a part of one Report.
 */
import Table from 'cli-table3';
import { Chalk } from 'chalk';
import type { Finding, Report } from './read-model.js';
import { fmtAge } from './findings-streams.js';

export function colourOn(stream: NodeJS.WriteStream = process.stdout): boolean {
  return !!stream.isTTY && !process.env.NO_COLOR;
}

export class Renderer {
  readonly c: InstanceType<typeof Chalk>;
  constructor(colour = colourOn()) {
    this.c = new Chalk({ level: colour ? 1 : 0 });
  }
  private table(head: string[]): Table.Table {
    return new Table({ head: head.map((h) => this.c.bold(h)), style: { head: [], border: [] } });
  }
  sev(s: string): string {
    return s === 'crit' ? this.c.red.bold(s.toUpperCase()) : s === 'warn' ? this.c.yellow(s.toUpperCase()) : s === 'ok' ? this.c.green('OK') : this.c.cyan(s.toUpperCase());
  }

  header(r: Report): string {
    return `${this.c.bold('qt diagnose')} ${r.prefix} · ${r.redis.url || 'redis'} · Redis ${r.redis.version} · window ${fmtAge(r.window_s)} · ` +
      `${new Date(r.generated_at).toISOString()} · status ${this.sev(r.status)}` + (r.mode ? ` · ${r.mode}` : '') + (r.kill_switch !== null ? this.c.red(' · KILL SWITCH ON') : '');
  }

  stages(r: Report): string {
    if (!r.stages.length) return 'stages: no numbers (no metrics and no stage groups found)';
    const t = this.table(['stage', 'in', 'out', 'rejected', 'success', 'top reasons (one example)', 'source']);
    for (const s of r.stages) {
      const reasons = s.top_reasons.slice(0, 3).map((x, i) => `${x.reason} ${x.count}` + (i === 0 && x.example ? `\n  e.g. ${clip(x.example.detail || x.example.payload, 70)}` : '')).join('\n');
      t.push([s.stage, n(s.in), n(s.out), n(s.rejected), rate(s.success_rate), reasons || '-', s.source]);
    }
    return t.toString();
  }

  funnel(r: Report): string {
    const t = this.table(['step', 'count', 'of previous']);
    let prev: number | null = null;
    for (const f of r.funnel) {
      t.push([f.step, f.count === null ? '?' : n(f.count), prev && f.count !== null ? rate(f.count / prev) : '']);
      prev = f.count;
    }
    return t.toString();
  }

  streams(r: Report): string {
    const t = this.table(['stream', 'length', 'newest', 'group', 'consumers', 'pending', 'lag', 'read']);
    for (const s of r.streams) {
      const age = s.length === 0 ? 'empty' : s.age_s === null ? '?' : `${fmtAge(s.age_s)} ago`;
      const ageC = s.stale ? this.c.yellow(age) : age;
      if (!s.groups.length) t.push([s.stream, n(s.length), ageC, this.c.dim('(no group)'), '', '', '', '']);
      s.groups.forEach((g, i) =>
        t.push([i ? '' : s.stream, i ? '' : n(s.length), i ? '' : ageC, g.group, String(g.consumers), n(g.pending), g.lag === null ? '?' : n(g.lag), g.entries_read === null ? '?' : n(g.entries_read)]),
      );
    }
    return t.toString();
  }

  services(r: Report): string {
    if (!r.services.length) return `services: no heartbeats${r.registry_known ? '' : ' and no registry (expected services unknown)'}`;
    const t = this.table(['service', 'status', 'beat', 'last msg', 'processed', 'errors', 'detail', 'last error']);
    for (const s of r.services) {
      const st = s.status === 'running' ? this.c.green(s.status) : ['failed', 'down'].includes(s.status) ? this.c.red(s.status) : this.c.yellow(s.status);
      t.push([s.service + (s.expected ? '' : this.c.dim(' *')), st, s.beat_age_s === null ? '-' : `${fmtAge(s.beat_age_s)} ago`,
        s.last_msg_age_s === null ? '-' : `${fmtAge(s.last_msg_age_s)} ago`, s.processed ?? '-', s.errors ?? '-', clip(s.detail || '-', 30), clip(s.last_error || '-', 50)]);
    }
    return t.toString() + (r.registry_known ? '' : '\n(no registry: expected services unknown)');
  }

  positions(r: Report): string {
    const p = r.positions;
    const lines = [`positions: ${p.open} open of limit ${p.limit ?? '?'} · keys: ${p.position_keys} position, ${p.ledger_keys} ledger, ${p.snapshot_keys} snapshot · ghosts: ${p.ghosts.length}`];
    if (p.rows.length) {
      const t = this.table(['symbol', 'side', 'qty', 'entry', 'mark', 'uPnL', 'R', 'exchange']);
      for (const x of p.rows) t.push([x.symbol, x.side, String(x.qty), String(x.entry_price), x.mark_price ?? '-', x.unrealized_pnl?.toFixed(2) ?? '-', x.r_multiple?.toFixed(2) ?? '-', x.drift ? this.c.yellow(x.drift) : x.snapshot ? 'agrees' : '-']);
      lines.push(t.toString());
    }
    for (const e of p.exchange_only) lines.push(this.c.yellow(`exchange only: ${e.symbol} ${e.side} ${e.qty}`));
    return lines.join('\n');
  }

  ghosts(r: Report): string {
    if (!r.positions.ghosts.length) return 'no ghost keys';
    const t = this.table(['key', 'kind', 'why']);
    for (const g of r.positions.ghosts) t.push([g.key, g.kind, g.reason]);
    return t.toString();
  }

  rejections(r: Report, stage?: string, reason?: string): string {
    const l = r.rejections.latest.filter((x) => (!stage || x.stage === stage) && (!reason || x.reason === reason));
    const t = this.table(['when', 'stage', 'reason', 'symbol', 'detail / payload']);
    for (const x of l.slice(0, 20)) t.push([new Date(x.ts).toISOString().slice(11, 19), x.stage, x.reason, x.symbol, clip(x.detail, 60) + '\n' + this.c.dim(clip(x.payload, 120))]);
    return `${r.rejections.total_in_window} rejections in the window; newest ${Math.min(20, l.length)} shown\n` + t.toString();
  }

  findings(list: Finding[]): string {
    if (!list.length) return this.c.green('no findings');
    return list
      .map((f) => `${this.sev(f.severity)} ${this.c.bold(f.code)} ${f.subject}\n  ${f.message}\n  evidence: ${clip(JSON.stringify(f.evidence), 400)}\n  fix: ${f.fix}`)
      .join('\n');
  }

  unknowns(r: Report): string {
    return r.unknowns.length ? this.c.dim('could not know:\n' + r.unknowns.map((u) => `  - ${u}`).join('\n')) : '';
  }

  pipeline(r: Report): string {
    return [this.header(r), '', this.c.bold('stages'), this.stages(r), '', this.c.bold('funnel'), this.funnel(r), '', this.c.bold('streams'), this.streams(r),
      '', this.c.bold('services'), this.services(r), '', this.positions(r), '', this.c.bold(`findings (${r.findings.length}, worst first)`), this.findings(r.findings),
      '', this.unknowns(r), this.c.dim(`${r.commands} Redis commands`)].join('\n');
  }
}

function n(x: number): string {
  return x.toLocaleString('en-US');
}
function rate(x: number | null): string {
  return x === null ? 'n/a' : `${(x * 100).toFixed(x < 0.01 && x > 0 ? 2 : 1)}%`;
}
export function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}
