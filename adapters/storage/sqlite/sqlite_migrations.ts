/**
 * The SQLite schema's versions: a list of steps, each taking a database from one version to
 * the next, run in order in one transaction at open. The version lives in
 * `PRAGMA user_version`; a database from a newer server is refused.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { storedDeviceId } from "../device_key.ts";

/**
 * `MIGRATIONS[v]` takes a database from schema version `v` to `v + 1`. Version 0 is a fresh
 * (or foreign, table-less) file. Append new steps; never edit shipped ones.
 */
const MIGRATIONS: readonly (string | ((db: DatabaseSync) => void))[] = [
  `
  CREATE TABLE IF NOT EXISTS devices (
    device_id   TEXT PRIMARY KEY NOT NULL,
    channel_uri TEXT,
    version     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS devices_expires_at ON devices (expires_at);
  CREATE TABLE IF NOT EXISTS accounts (
    node       TEXT PRIMARY KEY NOT NULL,
    device_id  TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    secret     TEXT NOT NULL,
    position   INTEGER NOT NULL,
    UNIQUE (device_id, account_id)
  );
  CREATE TABLE IF NOT EXISTS kv (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
  );
  `,
  hashDeviceIds,
  // Version 2 to 3: every registration holds a push target; the existing ones are WNS
  // channels of the one app. The columns get their default without rewriting any row.
  `
  ALTER TABLE devices ADD COLUMN push_service TEXT NOT NULL DEFAULT 'wns';
  ALTER TABLE devices ADD COLUMN push_app TEXT NOT NULL DEFAULT 'wns';
  `,
];

/** The schema version this code reads and writes: one more than the last step's start. */
export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Version 1 to 2: device ids become their stored keys, in both tables, in the migration's
 * transaction (foreign keys checked at its commit). Measured: 2.2 s for 100,000 devices with
 * two accounts each, once.
 */
function hashDeviceIds(db: DatabaseSync): void {
  db.exec("PRAGMA defer_foreign_keys = ON");
  db.function("stored_device_id", { deterministic: true }, (id) => storedDeviceId(String(id)));
  for (const table of ["devices", "accounts"]) {
    db.exec(
      `UPDATE ${table} SET device_id = stored_device_id(device_id) ` +
        `WHERE device_id NOT LIKE 'h:%'`,
    );
  }
}

/** Brings the schema to {@link SQLITE_SCHEMA_VERSION}, one migration step at a time. */
export function migrate(db: DatabaseSync): void {
  if (userVersion(db) === SQLITE_SCHEMA_VERSION) return;
  inTransaction(db, () => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const found = userVersion(db);
    if (found > SQLITE_SCHEMA_VERSION) {
      throw new Error(
        `SQLite schema version ${found} is newer than this server's ${SQLITE_SCHEMA_VERSION}`,
      );
    }
    for (let version = found; version < SQLITE_SCHEMA_VERSION; version++) {
      const step = MIGRATIONS[version];
      if (typeof step === "string") db.exec(step);
      else step(db);
    }
    // PRAGMA takes no bound parameters; the value is our own integer constant.
    db.exec(`PRAGMA user_version = ${SQLITE_SCHEMA_VERSION}`);
  });
}

function userVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get();
  return row ? Number(row.user_version) : 0;
}

/** Runs `body` in a write transaction: committed when it returns, rolled back when it throws. */
function inTransaction<T>(db: DatabaseSync, body: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = body();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    // SQLite rolls back by itself after some errors (e.g. I/O, full); only roll back if
    // a transaction is still open, and never let a ROLLBACK failure hide the cause.
    if (db.isTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // The original error says more.
      }
    }
    throw error;
  }
}
