/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 *
 * @module
 */

/**
 * The wait the header asks for, in milliseconds from `now` (never negative), or null when
 * the header is absent or malformed.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds * 1000) ? seconds * 1000 : null;
  }
  // IMF-fixdate and the obsolete forms all start with a letter (day name).
  if (!/^[A-Za-z]{3}/.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}
