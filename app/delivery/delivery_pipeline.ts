/**
 * WNS delivery that survives the real WNS: wraps a single-attempt {@link WnsSender} with a
 * bound on requests in flight and queued (in all, per WNS host and per channel, with a
 * longest wait for a slot), per-channel backoff after throttling, and bounded retries with
 * capped exponential backoff and jitter for transient failures (5xx, network errors,
 * timeouts). Each attempt takes a slot of its own: a retry's pause holds none, so a slow or
 * failing channel cannot stall the others. Each concern is its own unit; this module only
 * composes them.
 *
 * @module
 */

import { exponentialBackoff } from "../../lib/backoff.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type {
  RawNotificationOptions,
  WnsOutcome,
  WnsSender,
} from "../../adapters/push/wns/wns_sender.ts";
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

/** What the pipeline is built from. */
export interface DeliveryPipelineParts {
  readonly sender: WnsSender;
  readonly gate: ConcurrencyGate;
  readonly backoff: ChannelBackoff;
  readonly retry: RetryOptions;
  readonly logger: Logger;
  /** Injectable for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** A {@link WnsSender} with limits, backoff and retries. Never throws. */
export class DeliveryPipeline implements WnsSender {
  readonly #parts: DeliveryPipelineParts;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(parts: DeliveryPipelineParts) {
    this.#parts = parts;
    this.#sleep = parts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = parts.random ?? Math.random;
  }

  async sendRaw(
    channelUri: string,
    payload: string,
    options: RawNotificationOptions,
  ): Promise<WnsOutcome> {
    const blocked = this.#parts.backoff.blockedFor(channelUri);
    if (blocked > 0) {
      return { kind: "throttled", status: null, detail: `channel backing off for ${blocked} ms` };
    }
    return await this.#attempts(channelUri, payload, options);
  }

  /** One request, in a slot of the gate; or the reason no slot was had. */
  async #attempt(
    channelUri: string,
    key: GateKey,
    payload: string,
    options: RawNotificationOptions,
  ): Promise<WnsOutcome | QueueFullError | QueueWaitError> {
    const { gate, sender, logger } = this.#parts;
    try {
      return await gate.run(() => sender.sendRaw(channelUri, payload, options), key);
    } catch (error) {
      if (error instanceof QueueFullError) {
        logger.warn("WNS queue full: push refused", { reason: error.message });
        return error;
      }
      if (error instanceof QueueWaitError) return error;
      throw error;
    }
  }

  async #attempts(
    channelUri: string,
    payload: string,
    options: RawNotificationOptions,
  ): Promise<WnsOutcome> {
    const { backoff, retry, logger } = this.#parts;
    const key = { host: hostOf(channelUri), channel: channelUri };
    for (let attempt = 1;; attempt++) {
      const outcome = await this.#attempt(channelUri, key, payload, options);
      // Our own limits: answered wait, the channel itself is not to blame.
      if (outcome instanceof Error) {
        return { kind: "throttled", status: null, detail: outcome.message };
      }
      switch (outcome.kind) {
        case "delivered":
          backoff.clear(channelUri);
          return outcome;
        case "throttled": {
          const pause = backoff.throttle(channelUri, outcome.retryAfterMs);
          logger.info("channel backs off", { status: outcome.status, pauseMs: pause });
          return outcome;
        }
        case "channel-gone":
          backoff.clear(channelUri);
          return outcome;
        case "failed": {
          if (!outcome.retryable || attempt >= retry.maxAttempts) return outcome;
          const delay = this.#delay(attempt, outcome.retryAfterMs);
          if (delay === null) return outcome;
          logger.debug("WNS retry", { attempt, delayMs: delay, status: outcome.status });
          await this.#sleep(delay);
        }
      }
    }
  }

  /** The pause before retry `attempt` + 1, or null when WNS asks for longer than we wait. */
  #delay(attempt: number, retryAfterMs: number | undefined): number | null {
    const { initialDelayMs, maxDelayMs } = this.#parts.retry;
    if (retryAfterMs !== undefined && retryAfterMs > maxDelayMs) return null;
    const base = exponentialBackoff(attempt - 1, initialDelayMs, maxDelayMs);
    // Full jitter on the upper half: spreads a burst's retries without shortening them much.
    const jittered = base / 2 + (base / 2) * this.#random();
    return Math.round(Math.max(jittered, retryAfterMs ?? 0));
  }
}

/** The host part of an http(s) URI, as the per-host bound counts it. */
function hostOf(uri: string): string {
  return /^https?:\/\/([^/?#]*)/i.exec(uri)?.[1].toLowerCase() ?? "";
}
