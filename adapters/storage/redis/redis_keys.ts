/**
 * The original server's key names that are computed rather than given.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The original's account key: lower-case hex SHA-256 of `device_id + "_" + account_id`. */
export function accountKey(deviceId: string, accountId: string): string {
  return createHash("sha256").update(`${deviceId}_${accountId}`, "utf8").digest("hex");
}
