/**
 * `node dist/cli.js up …` as a real process whose JSON log lines (stderr) are parsed and
 * kept, so a test can wait on what the engine said and when (pino's `time`, epoch ms).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { waitFor } from './redis.js';

export interface LogLine {
  level: number;
  time: number;
  msg: string;
  stage?: string;
  [k: string]: unknown;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export class EngineProc {
  readonly proc: ChildProcess;
  readonly lines: LogLine[] = [];
  /** Output that was not a JSON log line (the console notice, a usage error). */
  raw = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: Record<string, string> = {}) {
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(base)) if (k.startsWith('QT_') || k === 'REDIS_URL') delete base[k];
    this.proc = spawn(process.execPath, ['dist/cli.js', 'up', ...args], {
      env: { ...base, QT_LOG_FORMAT: 'json', QT_LOG_LEVEL: 'debug', NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.proc);
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const j = JSON.parse(line) as LogLine;
          if (typeof j.msg === 'string') this.lines.push(j);
          else this.raw += line + '\n';
        } catch {
          this.raw += line + '\n';
        }
      }
    };
    this.proc.stdout!.on('data', onData);
    this.proc.stderr!.on('data', onData);
    this.exit = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        live.delete(this.proc);
        resolve({ code, signal });
      });
    });
  }

  /** `{host}:{pid}`: the lease value and consumer name of this engine. */
  get id(): string {
    return `${hostname()}:${this.proc.pid}`;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  find(msg: string | RegExp, stage?: string): LogLine | undefined {
    return this.lines.find((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)) && (stage === undefined || l.stage === stage));
  }

  /** Waits for a log line (generous deadline: the machine is shared). */
  waitLine(msg: string | RegExp, stage?: string, timeoutMs = 60_000): Promise<LogLine> {
    return waitFor(() => this.find(msg, stage), timeoutMs, `${this.id}: log line ${String(msg)}${stage ? ` [${stage}]` : ''}\n${this.tail()}`);
  }

  /** The ticks this engine committed for a stage (debug line `tick committed`). */
  ticks(stage: string): LogLine[] {
    return this.lines.filter((l) => l.msg === 'tick committed' && l.stage === stage);
  }

  tail(n = 15): string {
    return this.lines.slice(-n).map((l) => JSON.stringify(l)).join('\n') + (this.raw ? `\n${this.raw.slice(-2000)}` : '');
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.proc.kill(sig);
  }

  async kill(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGKILL');
    await this.exit;
  }
}
