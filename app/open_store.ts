/**
 * Picks the storage adapter for `db.url`.
 *
 * @module
 */

import type { RegistrationStore } from "../domain/ports.ts";
import { MemoryStore } from "../adapters/storage/memory_store.ts";
import { SqliteStore } from "../adapters/storage/sqlite_store.ts";

/** Opens the store `url` names: `sqlite:PATH`, `memory:`, or (later) `redis://`. */
export function openStore(url: string): RegistrationStore {
  if (url === "memory:") return new MemoryStore();
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path === "") throw new Error("db.url: sqlite: needs a file path, e.g. sqlite:push.db");
    return SqliteStore.open(path);
  }
  throw new Error(`db.url: ${url.split(":")[0]}: storage is not supported by this version`);
}
