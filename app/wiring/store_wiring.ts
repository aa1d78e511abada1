/**
 * The store the use cases get: the adapter `db.url` names (or a test's), counting storage
 * errors, with the cache of nodes storage does not know in front.
 *
 * @module
 */

import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { StorageMetrics } from "../../domain/ports/metrics.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type { Config } from "../config.ts";
import type { ReportLimit } from "../limit_reporter.ts";
import { meteredStore } from "../metered.ts";
import { openStore } from "../open_store.ts";
import { UnknownNodeCache, withUnknownNodeCache } from "../unknown_node_cache.ts";

/** What the store is wired with besides the configuration. */
export interface ServerStoreDeps {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly metrics: StorageMetrics;
  readonly reportLimit: ReportLimit;
  /** A store to use instead of opening `db.url` (tests). */
  readonly given?: RegistrationStore;
}

/** Opens the server's store for `config`. */
export async function openServerStore(
  config: Config,
  deps: ServerStoreDeps,
): Promise<RegistrationStore> {
  const { logger, clock, metrics, reportLimit } = deps;
  const unknownNodes = new UnknownNodeCache({
    ttlMs: config.limits.xmpp.unknownNodeCacheSeconds * 1000,
    maxEntries: config.limits.xmpp.unknownNodeCacheSize,
    clock,
  });
  const opened = deps.given ?? await openStore(config.db.url, logger, clock);
  return withUnknownNodeCache(
    meteredStore(opened, metrics),
    unknownNodes,
    () => reportLimit("unknown_node_cache"),
  );
}
