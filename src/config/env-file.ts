/**
 * Reads an env file in the format of the seed deployment's /etc/quantum/*.env and of
 * systemd's EnvironmentFile=: `KEY=value` lines, `#` comments, optional `export `,
 * optional single or double quotes.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

export function parseEnvFile(text: string, path = 'env file'): Record<string, string> {
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
  });
  if (problems.length) throw new UsageError(`invalid env file ${path}`, problems);
  return out;
}

export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--env-file ${path}: cannot read it (${code ?? 'error'})`);
  }
  return parseEnvFile(text, path);
}
