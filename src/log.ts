/**
 * One structured logger for the whole program: pino writes JSON for journald
 * (`--log-format json`); in a terminal the same calls give short human lines. Every line
 * is scrubbed of registered secrets before it is written.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import { scrub } from './config/redact.js';

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level | 'silent', number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

export interface Logger {
  trace(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  format?: 'pretty' | 'json';
  level?: string;
  write?: (line: string) => void;
  bindings?: Record<string, unknown>;
}

function jsonLogger(o: LoggerOptions): PinoLogger {
  const write = o.write ?? ((l: string) => process.stderr.write(l + '\n'));
  return pino(
    {
      level: o.level && o.level in RANK ? o.level : 'info',
      base: null,
      timestamp: pino.stdTimeFunctions.epochTime,
      hooks: { streamWrite: (line: string) => scrub(line) },
    },
    { write: (line: string) => write(line.replace(/\n$/, '')) },
  );
}

export function createLogger(o: LoggerOptions = {}): Logger {
  const format = o.format ?? 'pretty';
  const min = RANK[(o.level as Level) ?? 'info'] ?? 30;
  const write = o.write ?? ((l: string) => process.stderr.write(l + '\n'));
  const bindings = o.bindings ?? {};
  const pj = format === 'json' ? jsonLogger(o) : undefined;
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < min) return;
    const all = { ...bindings, ...fields };
    if (pj) {
      pj[level](all, msg);
      return;
    }
    const t = new Date().toISOString().slice(11, 23);
    const stage = all.stage ? `[${String(all.stage)}] ` : '';
    const rest = Object.entries(all)
      .filter(([k]) => k !== 'stage')
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    write(scrub(`${t} ${level.toUpperCase().padEnd(5)} ${stage}${msg}${rest ? ' ' + rest : ''}`));
  };
  return {
    trace: (m, f) => emit('trace', m, f),
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (b) => createLogger({ ...o, bindings: { ...bindings, ...b } }),
  };
}

export const silentLogger: Logger = createLogger({ level: 'silent' });
