/**
 * The one exponential backoff formula: every retry, reconnect and per-target pause in the
 * server doubles from an initial delay up to a cap.
 *
 * @module
 */

/**
 * The delay before retry number `retry` (0 for the first): `initialMs` doubled `retry`
 * times, at most `maxMs`.
 */
export function exponentialBackoff(retry: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(retry, 0), 30));
}
