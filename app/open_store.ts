/**
 * Picks the storage adapter for `db.url`.
 *
 * @module
 */

import type { Clock } from "../domain/ports/clock.ts";
import type { Logger } from "../domain/ports/logging.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";
import { MemoryStore } from "../adapters/storage/memory/memory_store.ts";
import { RedisStore } from "../adapters/storage/redis/redis_store.ts";
import { parseRedisUrl } from "../adapters/storage/redis/redis_url.ts";
import { SqliteStore } from "../adapters/storage/sqlite/sqlite_store.ts";

/** The URL schemes {@link openStore} hands to {@link RedisStore}. */
export const REDIS_URL = /^(rediss?|redis-sentinel):\/\//;

/**
 * Opens the store `url` names: `sqlite:PATH`, `memory:`, or Redis with
 * `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS) or
 * `redis-sentinel://[[user]:password@]host1[:port1][,host2[:port2]...]/masterName[/db]`.
 * Redis must answer within a few seconds, else this rejects with a StorageUnavailableError
 * that names the host (never the password). `clock` is the one the server runs on (the
 * system's unless a test injects one); Redis expires keys by its own.
 */
export async function openStore(
  url: string,
  logger: Logger,
  clock?: Clock,
): Promise<RegistrationStore> {
  if (url === "memory:") return new MemoryStore(clock);
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length);
    if (path === "") throw new Error("db.url: sqlite: needs a file path, e.g. sqlite:push.db");
    return SqliteStore.open(path, { clock });
  }
  if (REDIS_URL.test(url)) {
    try {
      parseRedisUrl(url);
    } catch (error) {
      // Say which setting is wrong; the parser never quotes the password.
      throw new Error(`db.url: ${(error as Error).message}`, { cause: error });
    }
    return await RedisStore.connect(url, { logger });
  }
  throw new Error(`db.url: ${url.split(":")[0]}: storage is not supported by this version`);
}
