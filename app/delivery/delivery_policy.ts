/**
 * Delivery that survives real push services: a {@link DeliveryPolicy} wraps single attempts
 * with a bound on requests in flight and queued (in all, per host and per target, with a
 * longest wait for a slot), per-target backoff after throttling, and bounded retries with
 * capped exponential backoff and jitter for transient failures (5xx, network errors,
 * timeouts). Each attempt takes a slot of its own: a retry's pause holds none, so a slow or
 * failing target cannot stall the others. Each concern is its own unit; this module only
 * composes them. Its front is {@link PolicyDelivery}, in front of any service's delivery port
 * (WNS's included): the services' adapters only speak HTTP.
 *
 * @module
 */

import { exponentialBackoff } from "../../lib/backoff.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type {
  DeliveryOptions,
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../domain/push_target.ts";
import type { ChannelBackoff } from "./channel_backoff.ts";
import {
  type ConcurrencyGate,
  type GateKey,
  QueueFullError,
  QueueWaitError,
} from "./concurrency_gate.ts";

/** Retry settings for transient failures. */
export interface RetryOptions {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** Pause before the first retry; doubles per retry. */
  readonly initialDelayMs: number;
  /** Longest pause between attempts (a longer Retry-After ends the retries). */
  readonly maxDelayMs: number;
}

/** What the policy is built from. */
export interface DeliveryPolicyParts {
  readonly gate: ConcurrencyGate;
  readonly backoff: ChannelBackoff;
  readonly retry: RetryOptions;
  readonly logger: Logger;
  /** Injectable for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/**
 * The delivery policy, for any push service: limits, per-target backoff and retries around
 * single attempts. Keyed by the target's address (per target) and its host (per host; the
 * service's name for addresses that are tokens, not URLs).
 */
export class DeliveryPolicy {
  readonly #parts: DeliveryPolicyParts;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(parts: DeliveryPolicyParts) {
    this.#parts = parts;
    this.#sleep = parts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = parts.random ?? Math.random;
  }

  /** Sends with `attempt` (one request each call) as the policy allows; never throws. */
  async run(
    address: string,
    attempt: () => Promise<DeliveryOutcome>,
    fallbackHost = "",
  ): Promise<DeliveryOutcome> {
    const blocked = this.#parts.backoff.blockedFor(address);
    if (blocked > 0) {
      return { kind: "throttled", status: null, detail: `channel backing off for ${blocked} ms` };
    }
    return await this.#attempts(address, attempt, fallbackHost);
  }

  /** One request, in a slot of the gate; or the reason no slot was had. */
  async #attempt<O>(
    key: GateKey,
    attempt: () => Promise<O>,
  ): Promise<O | QueueFullError | QueueWaitError> {
    const { gate, logger } = this.#parts;
    try {
      return await gate.run(attempt, key);
    } catch (error) {
      if (error instanceof QueueFullError) {
        logger.warn("push queue full: push refused", { reason: error.message });
        return error;
      }
      if (error instanceof QueueWaitError) return error;
      throw error;
    }
  }

  async #attempts(
    address: string,
    attempt: () => Promise<DeliveryOutcome>,
    fallbackHost: string,
  ): Promise<DeliveryOutcome> {
    const { backoff, retry, logger } = this.#parts;
    const key = { host: hostOf(address) || fallbackHost, channel: address };
    for (let attempts = 1;; attempts++) {
      const outcome = await this.#attempt(key, attempt);
      // Our own limits: answered wait, the channel itself is not to blame.
      if (outcome instanceof Error) {
        return { kind: "throttled", status: null, detail: outcome.message };
      }
      switch (outcome.kind) {
        case "delivered":
          backoff.clear(address);
          return outcome;
        case "throttled": {
          const pause = backoff.throttle(address, outcome.retryAfterMs);
          logger.info("channel backs off", { status: outcome.status, pauseMs: pause });
          return outcome;
        }
        case "target-gone":
          backoff.clear(address);
          return outcome;
        case "failed": {
          if (!outcome.retryable) return outcome;
          const delay = attempts >= retry.maxAttempts
            ? null
            : this.#delay(attempts, outcome.retryAfterMs);
          if (delay === null) {
            // The service's Retry-After outlives this publish: later ones honour it too.
            const retryAfterMs = outcome.retryAfterMs ?? 0;
            if (retryAfterMs > 0) backoff.throttle(address, retryAfterMs);
            return outcome;
          }
          logger.debug("push retry", { attempt: attempts, delayMs: delay, status: outcome.status });
          await this.#sleep(delay);
        }
      }
    }
  }

  /** The pause before retry `attempt` + 1, or null when the service asks for longer. */
  #delay(attempt: number, retryAfterMs: number | undefined): number | null {
    const { initialDelayMs, maxDelayMs } = this.#parts.retry;
    if (retryAfterMs !== undefined && retryAfterMs > maxDelayMs) return null;
    const base = exponentialBackoff(attempt - 1, initialDelayMs, maxDelayMs);
    // Full jitter on the upper half: spreads a burst's retries without shortening them much.
    const jittered = base / 2 + (base / 2) * this.#random();
    return Math.round(Math.max(jittered, retryAfterMs ?? 0));
  }
}

/** The policy in front of any push service's delivery: the port again, with limits. */
export class PolicyDelivery implements PushDelivery {
  readonly #inner: PushDelivery;
  readonly #policy: DeliveryPolicy;

  constructor(inner: PushDelivery, policy: DeliveryPolicy) {
    this.#inner = inner;
    this.#policy = policy;
  }

  deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome> {
    return this.#policy.run(
      target.address,
      () => this.#inner.deliver(target, notification, options),
      target.service,
    );
  }
}

function hostOf(uri: string): string {
  return /^https?:\/\/([^/?#]*)/i.exec(uri)?.[1].toLowerCase() ?? "";
}
