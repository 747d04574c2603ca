/**
 * Reads an env file in the format of the seed deployment's /etc/quantum/*.env and of
 * systemd's EnvironmentFile=: `KEY=value` lines, `#` comments, optional `export `,
 * optional single or double quotes.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

/**
 * Parses env-file text into KEY → value. `lines`, when given, receives KEY → its 1-based
 * line number (the last definition wins, as for the value), so a bad value can be named
 * by file and line. Throws UsageError naming `path:line` of every malformed line.
 */
export function parseEnvFile(text: string, path = 'env file', lines?: Record<string, number>): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      problems.push(`${path}:${i + 1}: expected KEY=value, got ${JSON.stringify(line.slice(0, 60))}`);
      return;
    }
    let v = m[2];
    const q = v[0];
    if (q === '"' || q === "'") {
      const end = v.indexOf(q, 1);
      if (end < 0 || !/^\s*(#.*)?$/.test(v.slice(end + 1))) {
        problems.push(`${path}:${i + 1}: unterminated or trailing text after quoted value of ${m[1]}`);
        return;
      }
      v = v.slice(1, end);
      if (q === '"') v = v.replace(/\\n/g, '\n');
    } else {
      v = v.replace(/\s+#.*$/, '').trim();
    }
    out[m[1]] = v;
    if (lines) lines[m[1]] = i + 1;
  });
  if (problems.length) throw new UsageError(`invalid env file ${path}`, problems);
  return out;
}

/** Reads and parses an env file (see parseEnvFile); a file that cannot be read is a UsageError naming --env-file. */
export function readEnvFile(path: string, lines?: Record<string, number>): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--env-file ${path}: cannot read it (${code ?? 'error'})`);
  }
  return parseEnvFile(text, path, lines);
}
