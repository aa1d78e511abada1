/**
 * The thread of {@link SqliteCheckpointer}: its own connection to the database, moving
 * committed pages from the WAL into the database file every `intervalMs`, and counting
 * live registrations when asked (a full scan, kept off the server's thread).
 *
 * Messages in: a {@link CheckpointJob} to start, {@link CountRequest}s, then `"stop"`.
 * Messages out: a {@link CountAnswer} per request, `"stopped"` once its connection is
 * closed.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import type { AppRegistrationCount } from "../../../domain/ports/storage.ts";
import { countByApp } from "./sqlite_count.ts";

/** What the worker is started with. */
export interface CheckpointJob {
  readonly path: string;
  readonly intervalMs: number;
}

/** Count the live registrations at `now`. */
export interface CountRequest {
  readonly kind: "count";
  readonly id: number;
  readonly now: number;
}

/** The count, or why it failed. */
export type CountAnswer =
  | { readonly kind: "counted"; readonly id: number; readonly byApp: AppRegistrationCount[] }
  | { readonly kind: "counted"; readonly id: number; readonly error: string };

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
let db: DatabaseSync | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

scope.onmessage = (event: MessageEvent<CheckpointJob | CountRequest | "stop">) => {
  const message = event.data;
  if (typeof message === "object" && "kind" in message) {
    let answer: CountAnswer;
    try {
      if (db === undefined) throw new Error("the checkpoint thread has no connection");
      answer = { kind: "counted", id: message.id, byApp: countByApp(db, message.now) };
    } catch (error) {
      answer = { kind: "counted", id: message.id, error: String(error) };
    }
    scope.postMessage(answer);
    return;
  }
  if (message === "stop") {
    clearInterval(timer);
    db?.close();
    db = undefined;
    scope.postMessage("stopped");
    return;
  }
  const { path, intervalMs } = message;
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
