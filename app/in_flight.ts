/**
 * Counts work in progress (publishes being answered), so that a shutdown can wait for it.
 *
 * @module
 */

/** Work in progress, and a way to wait until there is none. */
export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  /** How many tracked promises have not settled yet. */
  get size(): number {
    return this.#count;
  }

  /** Tracks `work` until it settles; returns it unchanged. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#count++;
    return work.finally(() => {
      this.#count--;
      if (this.#count === 0) { for (const wake of this.#waiters.splice(0)) wake(); }
    });
  }

  /**
   * Resolves true once nothing is in flight, or false if `timeoutMs` passes first (work
   * started meanwhile is waited for too).
   */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(false);
      }, Math.max(0, timeoutMs));
      this.#waiters.push(wake);
    });
  }
}
