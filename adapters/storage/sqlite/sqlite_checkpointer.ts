/**
 * Checkpoints a SQLite database in WAL mode on a thread of its own, and counts live
 * registrations there ({@link SqliteCheckpointer.count}): a full scan that would otherwise
 * stop the server's thread for as long as it takes.
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

import type { AppRegistrationCount } from "../../../domain/ports/storage.ts";
import type { CheckpointJob, CountAnswer, CountRequest } from "./sqlite_checkpoint_worker.ts";

/** How long {@link SqliteCheckpointer.stop} waits for the thread to close its connection. */
const STOP_TIMEOUT_MS = 2000;
/** A count the thread has not answered in this long fails (the next one tries again). */
const COUNT_TIMEOUT_MS = 120_000;

interface PendingCount {
  resolve(byApp: AppRegistrationCount[]): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** A checkpointing thread for one database file. */
export class SqliteCheckpointer {
  readonly #worker: Worker;
  #stopping: Promise<void> | undefined;
  #onStopped: (() => void) | undefined;
  readonly #counts = new Map<number, PendingCount>();
  #nextCount = 1;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<CountAnswer | "stopped">) => {
      const message = event.data;
      if (message === "stopped") return this.#onStopped?.();
      const pending = this.#counts.get(message.id);
      if (pending === undefined) return;
      this.#counts.delete(message.id);
      clearTimeout(pending.timer);
      if ("error" in message) pending.reject(new Error(message.error));
      else pending.resolve(message.byApp);
    };
  }

  /**
   * Live devices and accounts at `now` per service and app (unsorted), counted on the
   * thread's own connection: a snapshot of the committed data, the server's thread free
   * meanwhile.
   */
  count(now: number): Promise<AppRegistrationCount[]> {
    if (this.#stopping) return Promise.reject(new Error("the checkpoint thread is stopped"));
    const id = this.#nextCount++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#counts.delete(id);
        reject(new Error("the count took too long"));
      }, COUNT_TIMEOUT_MS);
      this.#counts.set(id, { resolve, reject, timer });
      const request: CountRequest = { kind: "count", id, now };
      this.#worker.postMessage(request);
    });
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
      const counts = this.#counts;
      function done() {
        clearTimeout(timer);
        worker.terminate();
        for (const pending of counts.values()) {
          clearTimeout(pending.timer);
          pending.reject(new Error("the checkpoint thread stopped"));
        }
        counts.clear();
        resolve();
      }
      this.#onStopped = done;
      worker.onerror = (event) => {
        event.preventDefault();
        done();
      };
      worker.postMessage("stop");
    });
    return this.#stopping;
  }
}
