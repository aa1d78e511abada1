/**
 * The contract between the composition root and each push service's wiring: every
 * configured app (the WNS app of the `wns` section, each entry of `apps`) is built into one
 * {@link AppDelivery}, and the root only collects them: routes pushes by (service, app),
 * adds their readiness checks, sums their queues, closes them at shutdown.
 *
 * @module
 */

import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type { LimitMetrics, PushServiceMetrics } from "../../domain/ports/metrics.ts";
import type { PushDelivery } from "../../domain/ports/push_delivery.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type { ReadinessCheck } from "../readiness.ts";

/** One configured app, ready to deliver. */
export interface AppDelivery {
  /** The push service (`wns`, `fcm`, `apns`, `webpush`): a stored target's `service`. */
  readonly service: string;
  /** The app's name in the configuration: a stored target's `app`. */
  readonly app: string;
  /** Sends to this app's targets, behind the shared delivery policy. */
  readonly delivery: PushDelivery;
  /** What `/readyz` checks for this app (an access token obtainable, ...). */
  readonly readiness: readonly ReadinessCheck[];
  /**
   * Pushes for one account within this window after a push are merged into one (the app's
   * `coalesceMs`); absent or 0: not merged.
   */
  readonly coalesceMs?: number;
  /**
   * What a target the service calls gone means for its registration: `pause` (the UWPX client
   * sends a new channel by itself: keep the nodes for the grace period) or `end` (apps that
   * registered by command register again by themselves); absent: `end`.
   */
  readonly whenGone?: "pause" | "end";
  /** Whether the published message body may go into this app's pushes; absent: never. */
  readonly showsMessageBody?: boolean;
  /** Pushes in flight and queued for this app, for the queue-depth gauge. */
  queueDepth(): number;
  /** Releases connections and timers. */
  close(): void | Promise<void>;
}

/** What each service's wiring gets besides its app's configuration. */
export interface AppWiringDeps {
  /** Access tokens and keys shared by instances (`loadToken`/`saveToken`). */
  readonly store: RegistrationStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: PushServiceMetrics & LimitMetrics;
}
