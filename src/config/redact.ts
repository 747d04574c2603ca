/** Secrets never appear in logs, reports, the dashboard or errors. */

/**
 * `redis://user:pass@host:6379/0` → `redis://user:***@host:6379/0`; a sentinel URL
 * (`redis+sentinel://user:pass@h:26379,h2:26379/mymaster?sentinel_password=x`) gets both
 * passwords masked.
 */
export function redactUrl(url: string): string {
  if (/^rediss?\+sentinel:\/\//i.test(url.trim())) {
    return url.replace(/(\+sentinel:\/\/[^:@/]*):([^@/]*)@/i, '$1:***@').replace(/([?&]sentinel_password=)[^&#]*/i, '$1***');
  }
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');
  }
}

const registered = new Set<string>();

/** Registers a secret value so that `scrub` removes it from any text. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) registered.add(value);
}

/** Removes every registered secret (and URL passwords) from a text. */
export function scrub(text: string): string {
  let out = text;
  for (const s of registered) if (out.includes(s)) out = out.split(s).join('***');
  return out.replace(/(rediss?(?:\+sentinel)?:\/\/[^:@/\s]*):([^@/\s]+)@/g, '$1:***@').replace(/([?&]sentinel_password=)[^&#\s]+/g, '$1***');
}
