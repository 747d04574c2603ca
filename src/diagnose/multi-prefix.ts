/**
 * Several pipelines at once: `--prefix '{quantum-a},{quantum-b}'` (or QT_PREFIX with commas)
 * makes `qt health` and `qt diagnose` read each prefix in turn and combine the verdicts, as
 * needed by a deployment sharded into several hash-tagged pipelines (docs/scaling.md).
 */
import type { Status } from '../contract/codes.js';

/**
 * The prefixes of a `--prefix` / QT_PREFIX value: split on commas, trimmed, duplicates
 * dropped; a single prefix gives one element. Empty parts are a usage error the caller names.
 */
export function splitPrefixes(raw: string): { prefixes: string[]; empty: boolean } {
  const parts = raw.split(',').map((s) => s.trim());
  return { prefixes: [...new Set(parts.filter((s) => s !== ''))], empty: parts.some((s) => s === '') };
}

/**
 * One exit code for several checks (0 ok, 1 warn, 2 crit, 3 unknown; CONTRACT.md §4): a
 * critical pipeline is reported as critical even when another could not be read; otherwise
 * any unknown makes the whole unknown (an unread pipeline is never OK); else the worst.
 */
export function combinedExitCode(codes: number[]): number {
  if (codes.includes(2)) return 2;
  if (codes.includes(3)) return 3;
  return Math.max(0, ...codes);
}

/** The status word of a combined exit code. */
export function statusOfExitCode(code: number): Status {
  return code === 0 ? 'ok' : code === 1 ? 'warn' : code === 2 ? 'crit' : 'unknown';
}

/**
 * Merges Prometheus text expositions of several prefixes into one valid exposition: each
 * metric family once (its `# HELP` / `# TYPE` from the first text that has it), followed by
 * the samples of every text, in order (the exposition format wants a family's samples
 * together, under one HELP/TYPE).
 */
export function mergePromTexts(texts: string[]): string {
  const order: string[] = [];
  const fam = new Map<string, { meta: string[]; samples: string[] }>();
  const get = (name: string) => {
    let f = fam.get(name);
    if (!f) {
      f = { meta: [], samples: [] };
      fam.set(name, f);
      order.push(name);
    }
    return f;
  };
  for (const t of texts) {
    const seenMeta = new Set<string>();
    for (const line of t.split('\n')) {
      if (line === '') continue;
      const m = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (m) {
        const f = get(m[2]!);
        if (f.meta.length < 2 && !seenMeta.has(line) && !f.meta.some((x) => x.startsWith(`# ${m[1]} `))) f.meta.push(line);
        seenMeta.add(line);
        continue;
      }
      const name = /^[^{\s]+/.exec(line)?.[0];
      if (name) get(name).samples.push(line);
    }
  }
  return order.map((n) => [...fam.get(n)!.meta, ...fam.get(n)!.samples].join('\n')).join('\n') + '\n';
}

/** One prefix's outcome: its report, or why it could not be read (an unknown verdict). */
export type PrefixOutcome<R> = { prefix: string; report: R; error?: undefined } | { prefix: string; report?: undefined; error: string };

/**
 * `qt health` over several prefixes, in every format: text (one block per prefix under a
 * combined first line), json (`{ generated_at, status, exit_code, prefixes: [...] }`, each
 * element the single-prefix document), nagios (one line: the worst word, each prefix's
 * summary, perfdata labels prefixed by the prefix), prom (one merged exposition). Returns the
 * text and the combined exit code.
 */
export async function multiHealth(
  outcomes: PrefixOutcome<import('./read-model.js').Report>[],
  format: 'text' | 'json' | 'nagios' | 'prom',
  th: import('./thresholds.js').Thresholds,
): Promise<{ text: string; code: number }> {
  const f = await import('./health-format.js');
  const { exitCodeForStatus } = await import('../contract/codes.js');
  const codes = outcomes.map((o) => (o.report ? exitCodeForStatus(o.report.status) : 3));
  const code = combinedExitCode(codes);
  const status = statusOfExitCode(code);
  if (format === 'json') {
    const prefixes = outcomes.map((o) => JSON.parse(o.report ? f.healthJson(o.report) : f.healthJsonUnknown(o.prefix, o.error)) as unknown);
    return { text: JSON.stringify({ generated_at: Date.now(), status, exit_code: code, prefixes }), code };
  }
  if (format === 'prom') {
    const texts = outcomes.map((o) => (o.report ? f.healthProm(o.report)
      : `# HELP qt_health_status overall status: 0 ok, 1 warn, 2 crit, 3 unknown\n# TYPE qt_health_status gauge\nqt_health_status{prefix="${o.prefix.replace(/["\\]/g, '\\$&')}"} 3\n`));
    return { text: mergePromTexts(texts), code };
  }
  if (format === 'nagios') {
    const parts: string[] = [];
    const perf: string[] = [];
    outcomes.forEach((o, i) => {
      if (!o.report) return void parts.push(`${o.prefix}: UNKNOWN ${o.error.replace(/\|/g, '/')}`);
      const line = f.healthNagios(o.report, th);
      const [head, data = ''] = line.split(' | ');
      parts.push(`${o.prefix}: ${f.WORD[statusOfExitCode(codes[i]!)]} ${head!.replace(/^QT \S+ - /, '')}`);
      for (const p of data.split(' ').filter(Boolean)) perf.push(p.replace(/^'([^']+)'/, (_m, l: string) => `'${o.prefix} ${l}'`));
    });
    return { text: `QT ${f.WORD[status]} - ${parts.join('; ')}${perf.length ? ` | ${perf.join(' ')}` : ''}`, code };
  }
  const blocks = outcomes.map((o) => (o.report ? f.healthText(o.report) : `qt health: UNKNOWN (${o.prefix}) — ${o.error}`));
  return { text: [`qt health: ${f.WORD[status]} over ${outcomes.length} prefixes (${outcomes.map((o) => o.prefix).join(', ')})`, ...blocks].join('\n'), code };
}
