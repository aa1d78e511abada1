/**
 * The delivery policy as every app's configuration bounds it: one construction for WNS, FCM,
 * APNs and Web Push, so the apps differ only in their numbers.
 *
 * @module
 */

import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import { ChannelBackoff } from "./channel_backoff.ts";
import { ConcurrencyGate } from "./concurrency_gate.ts";
import { DeliveryPolicy } from "./delivery_policy.ts";

/** An app's delivery bounds, as its configuration section names them. */
export interface DeliveryBounds {
  /** Requests in flight at once, and pushes waiting for one. */
  readonly maxInFlight: number;
  readonly maxQueued: number;
  /** Requests to one host at once (services whose targets are URLs on many hosts). */
  readonly maxInFlightPerHost?: number;
  /** Requests to one target (channel, token, endpoint) at once. */
  readonly maxInFlightPerTarget: number;
  /** A push waiting this long for a slot is given up (answered `wait`). */
  readonly maxQueueWaitSeconds: number;
  /** Attempts per push on transient failures, the first included. */
  readonly maxAttempts: number;
}

/** Pauses between attempts: the first, and the longest (a longer Retry-After ends retries). */
export interface RetryDelays {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** The pauses every service uses unless a test shortens them. */
export const DEFAULT_RETRY_DELAYS: RetryDelays = { initialDelayMs: 500, maxDelayMs: 8000 };

/** The policy for `bounds`, and its gate (whose in-flight and queued counts feed metrics). */
export function boundedPolicy(
  bounds: DeliveryBounds,
  deps: { readonly clock: Clock; readonly logger: Logger },
  delays: RetryDelays = DEFAULT_RETRY_DELAYS,
): { readonly policy: DeliveryPolicy; readonly gate: ConcurrencyGate } {
  const gate = new ConcurrencyGate(bounds.maxInFlight, bounds.maxQueued, {
    ...(bounds.maxInFlightPerHost === undefined ? {} : { maxPerHost: bounds.maxInFlightPerHost }),
    maxPerChannel: bounds.maxInFlightPerTarget,
    maxWaitMs: bounds.maxQueueWaitSeconds * 1000,
  });
  const policy = new DeliveryPolicy({
    gate,
    backoff: new ChannelBackoff(deps.clock),
    retry: { maxAttempts: bounds.maxAttempts, ...delays },
    logger: deps.logger,
  });
  return { policy, gate };
}
