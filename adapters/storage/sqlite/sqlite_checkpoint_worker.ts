/**
 * The thread of {@link SqliteCheckpointer}: its own connection to the database, moving
 * committed pages from the WAL into the database file every `intervalMs`.
 *
 * Messages in: a {@link CheckpointJob} to start, then `"stop"`. Message out: `"stopped"`
 * once its connection is closed.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";

/** What the worker is started with. */
export interface CheckpointJob {
  readonly path: string;
  readonly intervalMs: number;
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
let db: DatabaseSync | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

scope.onmessage = (event: MessageEvent<CheckpointJob | "stop">) => {
  if (event.data === "stop") {
    clearInterval(timer);
    db?.close();
    db = undefined;
    scope.postMessage("stopped");
    return;
  }
  const { path, intervalMs } = event.data;
  db = new DatabaseSync(path);
  // PASSIVE never waits for readers or writers, so this never holds up the server; what it
  // could not copy this time it copies next time.
  const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  timer = setInterval(() => {
    try {
      checkpoint.get();
    } catch {
      // Busy or a transient I/O error: the next round tries again, and the server's own
      // connection checkpoints if the WAL ever grows past its safety limit.
    }
  }, intervalMs);
};
