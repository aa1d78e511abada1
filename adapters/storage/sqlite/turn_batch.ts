/**
 * Collects work asked for during one turn of the event loop and hands it over as one batch
 * once the turn's I/O callbacks have run: what SQLite group commit and shared read
 * transactions are built on.
 *
 * @module
 */

import { setImmediate } from "node:timers";

/** One piece of work in a batch: what to run and whom to tell. */
export interface BatchedWork {
  /** Names the operation in error messages. */
  readonly what: string;
  readonly body: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

/** Queues work and calls `runBatch` with everything queued, once per turn. */
export class TurnBatch {
  readonly #runBatch: (batch: BatchedWork[]) => void;
  #queue: BatchedWork[] = [];
  #scheduled = false;

  constructor(runBatch: (batch: BatchedWork[]) => void) {
    this.#runBatch = runBatch;
  }

  /** Queues `body`; settles with what the batch runner makes of it. */
  add<T>(what: string, body: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ what, body, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs what is queued now (also before the connection closes). */
  flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length > 0) this.#runBatch(batch);
  }
}
