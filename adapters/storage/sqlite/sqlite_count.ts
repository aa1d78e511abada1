/**
 * Counting live registrations by app in SQLite: the one query, shared by the store's own
 * connection (an in-memory database) and the checkpoint thread's, which runs it for a
 * database file so the scan never holds up the server's thread (1M devices take seconds).
 *
 * @module
 */

import type { DatabaseSync, SQLOutputValue } from "node:sqlite";
import type { AppRegistrationCount } from "../../../domain/ports/storage.ts";

/**
 * Live devices and their accounts at `now`, per service and app, from one snapshot. A
 * device's accounts are counted through the accounts' UNIQUE (device_id, ...) index.
 */
const COUNT_BY_APP = `SELECT push_service AS service, push_app AS app, count(*) AS devices,
         sum((SELECT count(*) FROM accounts a WHERE a.device_id = d.device_id)) AS accounts
  FROM devices d WHERE expires_at > ?
  GROUP BY push_service, push_app`;

/** Runs the count on `db` (unsorted). */
export function countByApp(db: DatabaseSync, now: number): AppRegistrationCount[] {
  return db.prepare(COUNT_BY_APP).all(now).map((row) => ({
    service: text(row.service),
    app: text(row.app),
    devices: integer(row.devices),
    accounts: integer(row.accounts),
  }));
}

function text(value: SQLOutputValue | undefined): string {
  if (typeof value !== "string") throw new Error(`expected a TEXT column, got ${typeof value}`);
  return value;
}

function integer(value: SQLOutputValue | undefined): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  throw new Error(`expected a numeric column, got ${typeof value}`);
}
