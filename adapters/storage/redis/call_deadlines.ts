/**
 * Call timeouts for a client with many calls in flight: one interval timer for all of them.
 *
 * @module
 */

/** A call in flight: when it times out, and how. */
interface PendingCall {
  readonly at: number;
  readonly reject: (error: Error) => void;
}

/**
 * Call timeouts with one interval timer for all calls in flight (running only while there
 * are some), instead of a timer per call. A call rejects at most a tick (a quarter of the
 * timeout, 100 ms at most) after its deadline; its late answer is dropped by the caller.
 */
export class Deadlines {
  readonly #pending = new Set<PendingCall>();
  readonly #timeoutMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** `work`, or a rejection once it has taken longer than the timeout. */
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: PendingCall = { at: Date.now() + this.#timeoutMs, reject };
      this.#pending.add(entry);
      this.#timer ??= setInterval(
        () => this.#expire(),
        Math.max(5, Math.min(100, this.#timeoutMs / 4)),
      );
      work.then((value) => {
        this.#settled(entry);
        resolve(value);
      }, (error) => {
        this.#settled(entry);
        reject(error);
      });
    });
  }

  /** Stops the timer (the store is closing). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #settled(entry: PendingCall): void {
    this.#pending.delete(entry);
    if (this.#pending.size === 0) this.stop();
  }

  #expire(): void {
    const now = Date.now();
    for (const entry of this.#pending) {
      if (now < entry.at) continue;
      this.#pending.delete(entry);
      entry.reject(new Error(`Command timed out after ${this.#timeoutMs} ms`));
    }
    if (this.#pending.size === 0) this.stop();
  }
}
