/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 *
 * @module
 */

/** Longest wait honoured: a bad header must not park a token for days. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/** Milliseconds to wait, or null when absent or unreadable; capped at an hour, never negative. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  // HTTP dates start with the day name; Date.parse alone would take "-5" as a year.
  const ms = /^\d+$/.test(text)
    ? Number(text) * 1000
    : /^[A-Za-z]{3}/.test(text)
    ? Date.parse(text) - now
    : Number.NaN;
  if (!Number.isFinite(ms)) return null;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
