/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. One reading for every
 * push service's answers (WNS, FCM, Web Push).
 *
 * @module
 */

/** Longest wait honoured: a bad header must not park a target for days. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * The wait the header asks for, in milliseconds from `now`: never negative, at most
 * {@link MAX_RETRY_AFTER_MS}; null when the header is absent or malformed.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    if (!Number.isSafeInteger(seconds * 1000)) return null;
    ms = seconds * 1000;
  } else if (/^[A-Za-z]{3}/.test(text)) {
    // IMF-fixdate and the obsolete forms all start with a letter (the day name); Date.parse
    // alone would take "-5" for a year.
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    ms = at - now;
  } else {
    return null;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
