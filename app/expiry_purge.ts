/**
 * Deleting expired registrations: once at start (a server that was down for days starts
 * clean), then every hour. Reads hide expired entries meanwhile; a failed purge is only
 * logged (the next one tries again). `afterPurge` runs after each purge, failed or not
 * (client mode's sweep of the PEP nodes the purged registrations left).
 *
 * @module
 */

import type { Clock } from "../domain/ports/clock.ts";
import type { Logger } from "../domain/ports/logging.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";

/** Expired registrations are purged this often. */
export const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/** Purges now, then periodically; resolves, after the first purge, to the stop function. */
export async function startExpiryPurge(
  store: Pick<RegistrationStore, "purgeExpired">,
  clock: Clock,
  logger: Logger,
  afterPurge: () => void = () => {},
): Promise<() => void> {
  const purgeExpired = async () => {
    try {
      const purged = await store.purgeExpired(clock.now());
      if (purged > 0) logger.info("purged expired registrations", { devices: purged });
    } catch (error) {
      logger.warn("purge failed", { reason: String(error) });
    }
    afterPurge();
  };
  await purgeExpired();
  const timer = setInterval(purgeExpired, PURGE_INTERVAL_MS);
  return () => clearInterval(timer);
}
