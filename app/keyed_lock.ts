/**
 * Serializes async work per key: two connections registering the same device at once must
 * not interleave their read-plan-write sequences.
 *
 * @module
 */

/** A lock per key, held only while work for that key runs. */
export class KeyedLock {
  #tails = new Map<string, Promise<unknown>>();

  /** How many keys have work running or queued (the lock holds nothing for idle keys). */
  get size(): number {
    return this.#tails.size;
  }

  /** Runs `work` after every earlier `run` for the same key has settled. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const current = before.then(work, work);
    const tail = current.catch(() => {});
    this.#tails.set(key, tail);
    try {
      return await current;
    } finally {
      // Forget the key once nobody queued behind us, so the map does not grow.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }
}
