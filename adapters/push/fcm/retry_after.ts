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
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return null;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
