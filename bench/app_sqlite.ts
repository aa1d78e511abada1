/**
 * Registrations of one push app (FCM, APNs) in a throwaway SQLite file, loaded in bulk, for
 * the scenarios that push through an app rather than WNS.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../adapters/storage/sqlite/sqlite_store.ts";

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

/** One registration as the command door stores it: its device row and its account row. */
export interface AppRegistration {
  readonly deviceId: string;
  /** The app's device token (FCM registration token, APNs device token). */
  readonly token: string;
  readonly node: string;
  readonly accountId: string;
  readonly secret: string;
}

/**
 * Writes registrations `0` to `count - 1` of `app` on `service` (target {service, app,
 * token}, one account each) straight into the SQLite file, in the schema of
 * `adapters/storage/sqlite/sqlite_store.ts`.
 */
export function bulkLoadAppSqlite(
  path: string,
  count: number,
  service: string,
  app: string,
  registration: (i: number) => AppRegistration,
): void {
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = OFF");
    const device = db.prepare(
      `INSERT INTO devices (device_id, channel_uri, version, expires_at, push_service, push_app)
       VALUES (?, ?, 1, ?, ?, ?)`,
    );
    const account = db.prepare(
      `INSERT INTO accounts (node, device_id, account_id, secret, position)
       VALUES (?, ?, ?, ?, 0)`,
    );
    const expiresAt = Date.now() + WEEK_MS;
    db.exec("BEGIN");
    for (let i = 0; i < count; i++) {
      const r = registration(i);
      device.run(r.deviceId, r.token, expiresAt, service, app);
      account.run(r.node, r.deviceId, r.accountId, r.secret);
    }
    db.exec("COMMIT");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/**
 * Runs `use` on a fresh SQLite file under `dir` (named `<prefix>-<random>.db`, the server's
 * schema already in it), then removes the file and its WAL companions.
 */
export async function withAppSqlite<T>(
  dir: string,
  prefix: string,
  use: (path: string) => Promise<T>,
): Promise<T> {
  const path = `${dir}/${prefix}-${crypto.randomUUID().slice(0, 8)}.db`;
  try {
    await SqliteStore.open(path).close();
    return await use(path);
  } finally {
    for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
  }
}
