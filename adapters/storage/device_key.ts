/**
 * Device ids as the SQLite and memory stores keep them. A device id is its device's only
 * credential (see the README's threat model), so these stores key a device by a SHA-256 of
 * its id and never hold the id itself: someone who reads the database learns nothing they
 * could send as a device. (Redis keeps the original server's key layout, which has the ids
 * in the clear.)
 *
 * A stored key starts with `h:`, which no device id can (the protocol takes hex only): the
 * store hands the key out as `NodeTarget.deviceId`, and its methods take it back in place
 * of the id, so the publish use case can forget or renew the device behind a node.
 *
 * @module
 */

import { createHash } from "node:crypto";

const PREFIX = "h:";

/** Whether `id` is a stored key rather than a device id. */
export function isStoredDeviceId(id: string): boolean {
  return id.startsWith(PREFIX);
}

/** The key a device is stored under: `h:` and the SHA-256 of its id, in hex. */
export function storedDeviceId(deviceId: string): string {
  if (isStoredDeviceId(deviceId)) return deviceId;
  return PREFIX + createHash("sha256").update(deviceId, "utf8").digest("hex");
}
