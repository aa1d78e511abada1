/**
 * Racing work against a timer, in the three shapes the server needs: fail after a while,
 * give up waiting after a while, or fall back to a value after a while. The timer is
 * cleared as soon as the work settles, so nothing keeps the process alive or fires late.
 *
 * @module
 */

/**
 * `work`'s outcome, or a rejection with `onTimeout()` once `ms` passed first. The work is
 * not cancelled: the caller cleans up what it may still produce.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** `work`'s value, or `fallback` once `ms` passed first (a rejection of `work` passes). */
export function valueWithin<T, F>(work: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<F>((resolve) => timer = setTimeout(() => resolve(fallback), ms));
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/**
 * Waits until `work` settles (fulfilled or rejected alike) or `ms` passed, whichever comes
 * first; resolves whether it settled in time. Never rejects.
 */
export function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = work.then(() => true, () => true);
  return valueWithin(settled, Math.max(0, ms), false);
}
