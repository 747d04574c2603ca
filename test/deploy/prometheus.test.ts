/**
 * deploy/alert-rules.yml and deploy/grafana-dashboard.json checked by the real tools:
 * `promtool check rules` and `promtool test rules` (deploy/alert-rules.test.yml: a case
 * per alert), then a real Prometheus (loopback, a temp dir, 1 s scrapes) that scrapes
 * `qt up --metrics-port` and prometheus-redis-exporter on the same Redis: PromQL returns
 * the pipeline's numbers, qt and the exporter agree on stream length and group pending,
 * the rules load and evaluate, and every dashboard query is valid PromQL over metrics that
 * exist. Debian packages `prometheus` (brings promtool) and `prometheus-redis-exporter`;
 * without them the tests are skipped, each saying which binary is missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/redis-server.js';
import { closeAll, testRedisUrl, uniquePrefix, waitFor } from '../helpers/redis.js';

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const PROMTOOL = has('promtool');
const PROMETHEUS = has('prometheus');
const EXPORTER = has('prometheus-redis-exporter');
const RULES = resolve('deploy/alert-rules.yml');
const RULE_TESTS = resolve('deploy/alert-rules.test.yml');
const DASHBOARD = resolve('deploy/grafana-dashboard.json');

const dir = mkdtempSync(join(tmpdir(), 'qt-prom-'));
const procs: ChildProcess[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? undefined : new Promise<void>((r) => {
    p.once('close', () => r());
    p.kill('SIGTERM');
  }))));
  await closeAll();
  rmSync(dir, { recursive: true, force: true });
});

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): { p: ChildProcess; log: () => string } {
  let log = '';
  const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d) => (log = (log + d).slice(-20000)));
  p.stderr!.on('data', (d) => (log = (log + d).slice(-20000)));
  procs.push(p);
  return { p, log: () => log };
}

describe('alert rules (promtool)', () => {
  it.skipIf(!PROMTOOL)(`promtool check rules accepts deploy/alert-rules.yml${PROMTOOL ? '' : ' (skipped: promtool not installed; apt-get install prometheus)'}`, () => {
    const r = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it.skipIf(!PROMTOOL)(`promtool test rules: every alert fires on its input and stays silent otherwise${PROMTOOL ? '' : ' (skipped: promtool not installed)'}`, () => {
    const r = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8', cwd: resolve('deploy') });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // one case (or more) for every alert of the rules file, firing at least once
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1]);
    const tests = readFileSync(RULE_TESTS, 'utf8');
    for (const a of alerts) {
      expect(tests, `a unit test for ${a}`).toMatch(new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`));
    }
  });

  it.skipIf(!PROMTOOL)('promtool test rules fails when an alert does not fire as expected (the check can fail)', () => {
    const broken = join(dir, 'broken.test.yml');
    writeFileSync(broken, readFileSync(RULE_TESTS, 'utf8').replace(/rule_files:\n- alert-rules.yml/, `rule_files:\n- ${RULES}`).replace('values: 1 1 0 0 0 0', 'values: 1 1 1 1 1 1'));
    const r = spawnSync('promtool', ['test', 'rules', broken], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/QtServiceDown/);
  });
});

const ALL = PROMETHEUS && EXPORTER && existsSync('dist/cli.js');
const why = !PROMETHEUS ? ' (skipped: prometheus not installed; apt-get install prometheus)' : !EXPORTER ? ' (skipped: prometheus-redis-exporter not installed)' : !existsSync('dist/cli.js') ? ' (skipped: run npm run build)' : '';

interface Sample { metric: Record<string, string>; value: [number, string] }

describe('a real Prometheus scraping qt up and prometheus-redis-exporter', () => {
  it.skipIf(!ALL)(`returns the pipeline's numbers, agrees with the exporter, loads the rules and evaluates every dashboard query${why}`, async () => {
    const prefix = uniquePrefix('prom');
    const [qtPort, exporterPort, promPort] = [await freePort(), await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', NO_COLOR: '1', QT_LOG_LEVEL: 'warn', QT_MAX_OPEN_POSITIONS: '100' };
    const engine = start(process.execPath, ['dist/cli.js', 'up', '--redis-url', testRedisUrl(), '--prefix', prefix, '--metrics-port', String(qtPort), '--for', '10m'], env);
    const exporter = start('prometheus-redis-exporter', ['-redis.addr', testRedisUrl(), '-check-streams', `${prefix}:stream:*`, '-web.listen-address', `127.0.0.1:${exporterPort}`]);
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${RULES}`,
      'scrape_configs:',
      '  - job_name: qt',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${qtPort}']`,
      '  - job_name: redis',
      '    static_configs:',
      `      - targets: ['127.0.0.1:${exporterPort}']`,
      '',
    ].join('\n'));
    const prom = start('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`,
    ]);
    const api = `http://127.0.0.1:${promPort}/api/v1`;
    const context = () => `\nqt: ${engine.log().slice(-1500)}\nexporter: ${exporter.log().slice(-1500)}\nprometheus: ${prom.log().slice(-1500)}`;
    const query = async (q: string): Promise<Sample[]> => {
      const res = await fetch(`${api}/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: Sample[] } };
      if (body.status !== 'success') throw new Error(`${q}: ${body.error}`);
      return body.data.resultType === 'vector' ? body.data.result : [];
    };

    // both targets up
    await waitFor(async () => {
      const up = await query('up');
      return up.length === 2 && up.every((s) => s.value[1] === '1');
    }, 90_000, `both targets up${context()}`);

    // the pipeline's numbers, through PromQL: signals generated, intents, plans
    const out = await waitFor(async () => {
      const r = await query('sum by (stage) (qt_stage_messages_total{outcome="out"})');
      const by = Object.fromEntries(r.map((s) => [s.metric.stage, Number(s.value[1])]));
      return (by.ai_engine ?? 0) > 0 && (by.autonomous_trader ?? 0) > 0 ? by : null;
    }, 120_000, `signals and intents counted by Prometheus${context()}`);
    expect(out.ai_engine).toBeGreaterThan(0);
    const signals = await query(`qt_stream_length{stream="ai.signal_generated"}`);
    expect(Number(signals[0]?.value[1])).toBeGreaterThan(0);

    // qt and prometheus-redis-exporter on the same Redis: stream length and group pending
    // agree at one evaluation instant (both scraped each second; the pipeline moves, so
    // wait for an instant where no entry arrived between the two scrapes).
    const strip = (s: string) => s.slice(`${prefix}:stream:`.length);
    let last = '';
    await waitFor(async () => {
      const [ql, el, qp, ep] = await Promise.all([
        query('max by (stream) (qt_stream_length)'),
        query('max by (stream) (redis_stream_length)'),
        query('max by (stream, group) (qt_group_pending)'),
        query('max by (stream, group) (redis_stream_group_messages_pending)'),
      ]);
      const qLen = Object.fromEntries(ql.filter((s) => Number(s.value[1]) > 0).map((s) => [s.metric.stream, s.value[1]]));
      const eLen = Object.fromEntries(el.filter((s) => s.metric.stream?.startsWith(`${prefix}:stream:`)).map((s) => [strip(s.metric.stream!), s.value[1]]));
      const qPen = Object.fromEntries(qp.map((s) => [`${s.metric.stream} ${s.metric.group}`, s.value[1]]));
      const ePen = Object.fromEntries(ep.filter((s) => s.metric.stream?.startsWith(`${prefix}:stream:`)).map((s) => [`${strip(s.metric.stream!)} ${s.metric.group}`, s.value[1]]));
      last = JSON.stringify({ qLen, eLen, qPen, ePen });
      return Object.keys(qLen).length >= 3 && Object.keys(qPen).length >= 3 &&
        JSON.stringify(Object.entries(qLen).sort()) === JSON.stringify(Object.entries(eLen).sort()) &&
        JSON.stringify(Object.entries(qPen).sort()) === JSON.stringify(Object.entries(ePen).sort());
    }, 120_000, `qt and the exporter agreeing on length and pending (last: ${last})`);

    // the rules load and evaluate without error
    await waitFor(async () => {
      const res = (await (await fetch(`${api}/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
      const rules = res.data.groups.flatMap((g) => g.rules);
      const bad = rules.filter((r) => r.health !== 'ok');
      return rules.length === 16 && bad.length === 0;
    }, 60_000, 'every rule loaded and evaluated ok');

    // every dashboard query: valid PromQL, over metric names Prometheus knows (from the
    // targets' HELP/TYPE, so a counter that has not counted yet still exists)
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
    interface Panel { title?: string; panels?: Panel[]; targets?: { expr?: string }[] }
    const exprs: { title: string; expr: string }[] = [];
    const walk = (ps: Panel[]) => ps.forEach((p) => {
      for (const t of p.targets ?? []) if (t.expr) exprs.push({ title: p.title ?? '?', expr: t.expr });
      walk(p.panels ?? []);
    });
    walk(dash.panels);
    expect(exprs.length).toBeGreaterThan(10);
    const meta = (await (await fetch(`${api}/metadata`)).json()) as { data: Record<string, unknown> };
    const known = new Set(Object.keys(meta.data));
    for (const { title, expr } of exprs) {
      await expect(query(expr), `${title}: ${expr}`).resolves.toBeDefined();
      for (const name of expr.match(/\bqt_[a-z_]+/g) ?? []) {
        const base = name.replace(/_(bucket|sum|count)$/, '');
        expect(known.has(name) || known.has(base), `${title}: ${name} is not a metric qt exports`).toBe(true);
      }
    }
    // and the panels over always-present series show data now
    for (const q of ['max by (service) (qt_service_up)', 'max(qt_positions_limit)', 'min(qt_redis_up)', 'max by (stream, group) (qt_group_pending)']) {
      expect((await query(q)).length, q).toBeGreaterThan(0);
    }
  });
});
