/**
 * A bound on work in flight, with a bounded queue behind it: when both are full, new work is
 * refused at once instead of piling up in memory.
 *
 * @module
 */

/** Thrown by {@link ConcurrencyGate.run} when the queue is full. */
export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`queue full (${limit} waiting)`);
    this.name = "QueueFullError";
  }
}

/** Runs at most `maxInFlight` tasks at once; queues up to `maxQueued` more. */
export class ConcurrencyGate {
  #inFlight = 0;
  readonly #queue: (() => void)[] = [];
  /**
   * Thrown for every refusal: an overloaded server refuses thousands a second, and a new
   * Error (with its stack trace) each time made overload costlier still.
   */
  readonly #full: QueueFullError;

  constructor(readonly maxInFlight: number, readonly maxQueued: number) {
    this.#full = new QueueFullError(maxQueued);
  }

  /** Tasks running now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Tasks waiting for a slot. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Runs `task` when a slot is free; rejects with QueueFullError if none will be soon. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#inFlight >= this.maxInFlight) {
      if (this.#queue.length >= this.maxQueued) throw this.#full;
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#inFlight++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line, or give it back.
      const next = this.#queue.shift();
      if (next) next();
      else this.#inFlight--;
    }
  }
}
