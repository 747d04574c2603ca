/**
 * The few value checks the configuration needs, without a schema library: the CLI loads
 * this on every start (`qt health` from cron included), and zod alone costs ~40 ms there.
 * Each check turns the raw string into its value or says what was expected.
 */
import { isSentinelUrl, parseSentinelList, parseSentinelUrl } from '../redis/sentinel.js';

export type Check<T> = (raw: string) => { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T) => ({ ok: true as const, value });
const bad = (message: string) => ({ ok: false as const, message });

/** A whole number in [min, max]. */
export const int = (min: number, max: number): Check<number> => (raw) => {
  const s = raw.trim();
  const n = Number(s);
  return /^\d+$/.test(s) && n >= min && n <= max ? ok(n) : bad(`expected a whole number from ${min} to ${max}`);
};

/** A non-negative decimal in [min, max]. */
export const dec = (min: number, max: number): Check<number> => (raw) => {
  const s = raw.trim();
  const n = Number(s);
  return /^\d+(\.\d+)?$/.test(s) && n >= min && n <= max ? ok(n) : bad(`expected a number from ${min} to ${max}`);
};

export const bool = (): Check<boolean> => (raw) => {
  const s = raw.trim().toLowerCase();
  return ['true', 'false', '1', '0', 'yes', 'no'].includes(s) ? ok(s === 'true' || s === '1' || s === 'yes') : bad('expected true or false');
};

/** A comma list of symbols, upper-cased. */
export const symbols = (): Check<string[]> => (raw) => {
  const l = raw.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean);
  return l.length > 0 && l.every((x) => /^[A-Z0-9]{2,30}$/.test(x)) ? ok(l) : bad('expected a comma list of symbols like BTCUSDT,ETHUSDT');
};

export const oneOf = <const T extends string>(values: readonly T[]): Check<T> => (raw) =>
  (values as readonly string[]).includes(raw) ? ok(raw as T) : bad(`expected one of ${values.join(', ')}`);

/** Any string; with `nonEmpty`, at least one character. */
export const text = (nonEmpty = false): Check<string> => (raw) => (nonEmpty && raw.length === 0 ? bad('expected a non-empty value') : ok(raw));

/** A trimmed string matching `re`. */
export const matching = (re: RegExp, message: string): Check<string> => (raw) => {
  const s = raw.trim();
  return re.test(s) ? ok(s) : bad(message);
};

export const redisUrl = (): Check<string> => (raw) => {
  const s = raw.trim();
  if (isSentinelUrl(s)) {
    try {
      parseSentinelUrl(s);
      return ok(s);
    } catch (e) {
      return bad((e as Error).message);
    }
  }
  try {
    const u = new URL(s);
    if ((u.protocol === 'redis:' || u.protocol === 'rediss:') && !/^\/?(\d+)?$/.test(u.pathname)) return bad('the database in the path must be a number, like redis://host:6379/0');
    if (u.protocol === 'redis:' || u.protocol === 'rediss:') return ok(s);
  } catch {
    // not a URL
  }
  return bad('expected redis://[user:password@]host:port[/db], rediss://…, or redis+sentinel://host:port[,host:port…]/master_name[/db]');
};

/** `host:port,host:port…` of Redis Sentinels (port default 26379), kept as the trimmed text. */
export const sentinelList = (): Check<string> => (raw) => {
  try {
    parseSentinelList(raw);
    return ok(raw.trim());
  } catch (e) {
    return bad(`expected host:port[,host:port…] of the sentinels: ${(e as Error).message}`);
  }
};
