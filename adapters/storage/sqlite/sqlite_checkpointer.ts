/**
 * Checkpoints a SQLite database in WAL mode on a thread of its own.
 *
 * Why: SQLite checkpoints inside a `COMMIT` once the WAL reaches 1,000 pages, and a
 * checkpoint copies pages and fsyncs twice. On the server's thread that stalled every few
 * hundred registrations for milliseconds and cost about a third of the CPU per
 * registration (measured: 700 -> 1,000 registrations/s without it). Here it runs beside the
 * server on its own connection; the server's connection keeps a much higher
 * auto-checkpoint limit only as a safety net.
 *
 * @module
 */

import type { CheckpointJob } from "./sqlite_checkpoint_worker.ts";

/** How long {@link SqliteCheckpointer.stop} waits for the thread to close its connection. */
const STOP_TIMEOUT_MS = 2000;

/** A checkpointing thread for one database file. */
export class SqliteCheckpointer {
  readonly #worker: Worker;
  #stopping: Promise<void> | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
  }

  /** Starts checkpointing the database at `path` every `intervalMs`. */
  static start(path: string, intervalMs: number): SqliteCheckpointer {
    const worker = new Worker(new URL("./sqlite_checkpoint_worker.ts", import.meta.url), {
      type: "module",
      name: "sqlite-checkpoint",
    });
    const job: CheckpointJob = { path, intervalMs };
    worker.postMessage(job);
    return new SqliteCheckpointer(worker);
  }

  /** Stops the thread once its connection is closed (or after a timeout). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(done, STOP_TIMEOUT_MS);
      const worker = this.#worker;
      function done() {
        clearTimeout(timer);
        worker.terminate();
        resolve();
      }
      worker.onmessage = (event) => {
        if (event.data === "stopped") done();
      };
      worker.onerror = (event) => {
        event.preventDefault();
        done();
      };
      worker.postMessage("stop");
    });
    return this.#stopping;
  }
}
