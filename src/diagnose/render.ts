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

/**
 * The width tables are fitted to: the terminal's columns when stdout is a terminal,
 * else `COLUMNS` when set (a pipe into `less`, a script that says its width), else 100.
 */
export function outputWidth(stream: NodeJS.WriteStream = process.stdout): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env >= 40 ? env : 100;
}

const ANSI = /\x1b\[[0-9;]*m/g;
/** Display width of a cell: the longest of its lines, without colour codes. */
function cellWidth(s: string): number {
  return Math.max(0, ...s.replace(ANSI, '').split('\n').map((l) => [...l].length));
}

/** How a table may give way to a narrow terminal. */
interface Fit {
  /** columns whose text wraps (message, detail), narrowest first to give way */
  wrap?: number[];
  /** columns dropped, in this order, when wrapping is not enough */
  drop?: number[];
}

export class Renderer {
  readonly c: InstanceType<typeof Chalk>;
  /** the width every table fits in (columns) */
  readonly width: number;
  constructor(colour = colourOn(), width = outputWidth()) {
    this.c = new Chalk({ level: colour ? 1 : 0 });
    this.width = Math.max(40, width);
  }

  /**
   * A table that fits `this.width`: the `wrap` columns are narrowed (their text wraps,
   * at least 10 columns each), then the `drop` columns are left out, in order.
   */
  private fitted(head: string[], rows: string[][], fit: Fit = {}): string {
    let cols = head.map((_, i) => i);
    const natural = (i: number) => Math.max(cellWidth(head[i]!), ...rows.map((r) => cellWidth(r[i] ?? ''))) + 2;
    const widths = new Map(cols.map((i) => [i, natural(i)]));
    const total = () => cols.reduce((a, i) => a + widths.get(i)!, 0) + cols.length + 1;
    const wrap = (fit.wrap ?? []).filter((i) => cols.includes(i));
    const shrink = () => {
      for (const i of wrap) {
        if (!cols.includes(i)) continue;
        const over = total() - this.width;
        if (over <= 0) return;
        widths.set(i, Math.max(12, widths.get(i)! - over));
      }
    };
    shrink();
    for (const d of fit.drop ?? []) {
      if (total() <= this.width) break;
      cols = cols.filter((i) => i !== d);
      // give the wrapped columns their natural width back, then shrink again
      for (const i of wrap) widths.set(i, natural(i));
      shrink();
    }
    const t = new Table({
      head: cols.map((i) => this.c.bold(head[i]!)),
      colWidths: cols.map((i) => widths.get(i)!),
      wordWrap: true,
      wrapOnWordBoundary: false,
      style: { head: [], border: [] },
    });
    for (const r of rows) t.push(cols.map((i) => r[i] ?? ''));
    return t.toString();
  }

  /** `a · b · c` on as few lines as fit the width (breaking only between parts). */
  private parts(list: string[]): string {
    const lines: string[] = [];
    for (const p of list) {
      const last = lines[lines.length - 1];
      if (last !== undefined && cellWidth(last) + 3 + cellWidth(p) <= this.width) lines[lines.length - 1] = `${last} · ${p}`;
      else lines.push(lines.length ? `  ${p}` : p);
    }
    return lines.join('\n');
  }

  sev(s: string): string {
    return s === 'crit' ? this.c.red.bold(s.toUpperCase()) : s === 'warn' ? this.c.yellow(s.toUpperCase()) : s === 'ok' ? this.c.green('OK') : this.c.cyan(s.toUpperCase());
  }

  header(r: Report): string {
    return this.parts([`${this.c.bold('qt diagnose')} ${r.prefix}`, r.redis.url || 'redis', `Redis ${r.redis.version}`, `window ${fmtAge(r.window_s)}`,
      new Date(r.generated_at).toISOString(), `status ${this.sev(r.status)}`, ...(r.mode ? [r.mode] : []), ...(r.kill_switch !== null ? [this.c.red('KILL SWITCH ON')] : [])])
      + (r.cluster ? `\n${this.cluster(r.cluster, r.streams)}` : '')
      + (r.blind_spots ?? []).map((b) => `\n${this.c.magenta.bold('UNKNOWN')} ${b.what}: ${b.detail}\n  fix: ${b.fix}`).join('');
  }

  /** A Redis Cluster: each primary with its slots and the prefix's keys and streams it holds. */
  cluster(c: NonNullable<Report['cluster']>, streams: Report['streams']): string {
    return `Redis Cluster, ${c.primaries.length} primaries:` + c.primaries.map((p) => {
      const here = streams.filter((s) => s.node === p.node).map((s) => s.stream);
      const keys = p.readable ? `${p.keys === null ? '?' : n(p.keys)} key(s)` : this.c.magenta('not read');
      return `\n  ${p.node} (${n(p.slots)} slots): ${keys}${here.length ? `; streams ${here.join(', ')}` : ''}`;
    }).join('');
  }

  stages(r: Report): string {
    if (!r.stages.length) return 'stages: no numbers (no metrics and no stage groups found)';
    const rows = r.stages.map((s) => {
      const reasons = s.top_reasons.slice(0, 3).map((x, i) => `${x.reason} ${x.count}` + (i === 0 && x.example ? `\n  e.g. ${clip(x.example.detail || x.example.payload, 70)}` : '')).join('\n');
      return [s.stage, n(s.in), n(s.out), n(s.rejected), rate(s.success_rate), reasons || '-', s.source];
    });
    return this.fitted(['stage', 'in', 'out', 'rejected', 'success', 'top reasons (one example)', 'source'], rows, { wrap: [5], drop: [6, 3] });
  }

  funnel(r: Report): string {
    let prev: number | null = null;
    const rows = r.funnel.map((f) => {
      const row = [f.step, f.count === null ? '?' : n(f.count), prev && f.count !== null ? rate(f.count / prev) : ''];
      prev = f.count;
      return row;
    });
    return this.fitted(['step', 'count', 'of previous'], rows);
  }

  streams(r: Report): string {
    const rows: string[][] = [];
    for (const s of r.streams) {
      const age = s.length === 0 ? 'empty' : s.age_s === null ? '?' : `${fmtAge(s.age_s)} ago`;
      const ageC = s.stale ? this.c.yellow(age) : age;
      // MEMORY USAGE beside the length: orphaned PEL entries keep memory while XLEN stays small (redis#10777)
      const len = n(s.length) + (s.memory_bytes ? this.c.dim(` (${mem(s.memory_bytes)})`) : '');
      if (!s.groups.length) rows.push([s.stream, len, ageC, this.c.dim('(no group)'), '', '', '', '']);
      s.groups.forEach((g, i) =>
        rows.push([i ? '' : s.stream, i ? '' : len, i ? '' : ageC, g.group, String(g.consumers), n(g.pending), lagCell(g), g.entries_read === null ? '?' : n(g.entries_read)]),
      );
    }
    return this.fitted(['stream', 'length', 'newest', 'group', 'consumers', 'pending', 'lag', 'read'], rows, { wrap: [0, 3], drop: [7, 4, 2] });
  }

  services(r: Report): string {
    if (!r.services.length) return `services: no heartbeats${r.registry_known ? '' : ' and no registry (expected services unknown)'}`;
    const rows = r.services.map((s) => {
      const st = s.stopped_at ? this.c.cyan(`stopped ${new Date(s.stopped_at).toISOString().slice(0, 16)}Z`) : s.status === 'running' ? this.c.green(s.status) : ['failed', 'down'].includes(s.status) ? this.c.red(s.status) : this.c.yellow(s.status);
      return [s.service + (s.expected ? '' : this.c.dim(' *')), st, s.beat_age_s === null ? '-' : `${fmtAge(s.beat_age_s)} ago`,
        s.last_msg_age_s === null ? '-' : `${fmtAge(s.last_msg_age_s)} ago`, String(s.processed ?? '-'), String(s.errors ?? '-'), clip(s.detail || '-', 60), clip(s.last_error || '-', 200)];
    });
    return this.fitted(['service', 'status', 'beat', 'last msg', 'processed', 'errors', 'detail', 'last error'], rows, { wrap: [6, 7], drop: [3, 4, 2, 5] }) + (r.registry_known ? '' : '\n(no registry: expected services unknown)');
  }

  positions(r: Report): string {
    const p = r.positions;
    const lines = [this.parts([`positions: ${p.open} open of limit ${p.limit ?? '?'}`, `keys: ${p.position_keys} position, ${p.ledger_keys} ledger, ${p.snapshot_keys} snapshot`, `ghosts: ${p.ghosts.length}`])];
    if (p.rows.length) {
      const rows = p.rows.map((x) => [x.symbol, x.side, String(x.qty), String(x.entry_price), String(x.mark_price ?? '-'), x.unrealized_pnl?.toFixed(2) ?? '-', x.r_multiple?.toFixed(2) ?? '-', x.drift ? this.c.yellow(x.drift) : x.snapshot ? 'agrees' : '-']);
      lines.push(this.fitted(['symbol', 'side', 'qty', 'entry', 'mark', 'uPnL', 'R', 'exchange'], rows, { wrap: [7], drop: [6, 4, 3, 5] }));
    }
    for (const e of p.exchange_only) lines.push(this.c.yellow(`exchange only: ${e.symbol} ${e.side} ${e.qty}`));
    return lines.join('\n');
  }

  ghosts(r: Report): string {
    if (!r.positions.ghosts.length) return 'no ghost keys';
    return this.fitted(['key', 'kind', 'why'], r.positions.ghosts.map((g) => [g.key, g.kind, g.reason]), { wrap: [2, 0] });
  }

  rejections(r: Report, stage?: string, reason?: string): string {
    const l = r.rejections.latest.filter((x) => (!stage || x.stage === stage) && (!reason || x.reason === reason));
    const rows = l.slice(0, 20).map((x) => [new Date(x.ts).toISOString().slice(11, 19), x.stage, x.reason, x.symbol, clip(x.detail, 160) + '\n' + this.c.dim(clip(x.payload, 120))]);
    return `${r.rejections.total_in_window} rejections in the window; newest ${Math.min(20, l.length)} shown\n` + this.fitted(['when', 'stage', 'reason', 'symbol', 'detail / payload'], rows, { wrap: [4], drop: [3] });
  }

  findings(list: Finding[]): string {
    if (!list.length) return this.c.green('no findings');
    return list
      .map((f) => [`${this.sev(f.severity)} ${this.c.bold(f.code)} ${f.subject}`, ...wrapText(f.message, this.width, '  '),
        ...wrapText(`evidence: ${clip(JSON.stringify(f.evidence), 400)}`, this.width, '  '), ...wrapText(`fix: ${f.fix}`, this.width, '  ')].join('\n'))
      .join('\n');
  }

  unknowns(r: Report): string {
    return r.unknowns.length ? this.c.dim('could not know:\n' + r.unknowns.map((u) => wrapText(u, this.width, '    ').join('\n').replace(/^ {4}/, '  - ')).join('\n')) : '';
  }

  replay(r: Report): string {
    const x = r.replay;
    if (!x) return '';
    const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(1)}%`);
    return [
      this.c.bold(`replay ${x.symbols.join(', ')} ${new Date(x.from).toISOString()} → ${new Date(x.to).toISOString()} ×${x.speed}${x.seed !== null && x.seed !== undefined ? ` seed ${x.seed}` : ''}${x.finished === false ? ' (stopped early)' : ''}`),
      `  signals ${n(x.signals)} · trades ${n(x.trades)} · win rate ${pct(x.win_rate)} · realized ${x.realized_pnl_usd.toFixed(2)} USDT · fees ${x.fees_usd.toFixed(2)} USDT · net ${x.net_pnl_usd.toFixed(2)} USDT · max drawdown ${x.max_drawdown_usd.toFixed(2)} USDT (${pct(x.max_drawdown_pct)})`,
      `  hit rates: ${x.models.map((m) => `${m.model} ${pct(m.hit_rate)} of ${m.votes}`).join(' · ') || 'none judged'}`,
      '',
    ].join('\n');
  }

  pipeline(r: Report): string {
    return [this.header(r), '', this.replay(r) + this.c.bold('stages'), this.stages(r), '', this.c.bold('funnel'), this.funnel(r), '', this.c.bold('streams'), this.streams(r),
      '', this.c.bold('services'), this.services(r), '', this.positions(r), '', this.c.bold(`findings (${r.findings.length}, worst first)`), this.findings(r.findings),
      '', this.unknowns(r), this.c.dim(`${r.commands} Redis commands`)].join('\n');
  }
}

/** A group's lag as checked (lag.ts): `12*` derived by qt, `?` unknown (`≥500 ≤4,000` when bounded). */
function lagCell(g: Report['streams'][number]['groups'][number]): string {
  const c = g.lag_check;
  if (g.lag !== null) return n(g.lag) + (c && c.source === 'derived' ? '*' : '');
  return c && c.min !== null ? `? (${n(c.min)}–${c.max === null ? '?' : n(c.max)})` : '?';
}

function mem(b: number): string {
  return b >= 1_048_576 ? `${(b / 1_048_576).toFixed(1)} MB` : `${Math.max(1, Math.round(b / 1024))} KB`;
}

function n(x: number): string {
  return x.toLocaleString('en-US');
}
function rate(x: number | null): string {
  return x === null ? 'n/a' : `${(x * 100).toFixed(x < 0.01 && x > 0 ? 2 : 1)}%`;
}
/** Word-wraps plain text to `width` columns, each line starting with `indent`; a word longer than a line is cut. */
export function wrapText(text: string, width: number, indent = ''): string[] {
  const room = Math.max(10, width - indent.length);
  const out: string[] = [];
  let line = '';
  for (let word of text.replace(/\s+/g, ' ').trim().split(' ')) {
    while ([...word].length > room) {
      if (line) out.push(line);
      line = '';
      out.push([...word].slice(0, room).join(''));
      word = [...word].slice(room).join('');
    }
    if (!line) line = word;
    else if ([...line].length + 1 + [...word].length <= room) line += ' ' + word;
    else {
      out.push(line);
      line = word;
    }
  }
  if (line) out.push(line);
  return out.map((l) => indent + l);
}

export function clip(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}
