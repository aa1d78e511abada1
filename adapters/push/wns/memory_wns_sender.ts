/**
 * An in-memory {@link WnsSender} for flow tests: records what would have been sent and
 * answers a configured outcome per channel.
 *
 * @module
 */

import type { RawNotificationOptions, WnsOutcome, WnsSender } from "./wns_sender.ts";
import { WNS_RAW_LIMIT_BYTES } from "../../../domain/payloads/wns_payload.ts";

/** One recorded {@link MemoryWnsSender.sendRaw} call. */
export interface SentRawNotification {
  readonly channelUri: string;
  readonly payload: string;
  readonly options: RawNotificationOptions;
}

/** What WNS answers to an accepted raw notification. */
export const DELIVERED: WnsOutcome = { kind: "delivered", status: 200, wnsStatus: "received" };

/**
 * Records every call in {@link sent} and answers the channel's outcome (default
 * {@link DELIVERED}). Like the real sender, it refuses empty payloads and payloads over
 * {@link WNS_RAW_LIMIT_BYTES} (recorded, answered `failed`, not retryable), so flow tests
 * catch oversize payloads without HTTP.
 */
export class MemoryWnsSender implements WnsSender {
  /** Every call, in order. */
  readonly sent: SentRawNotification[] = [];
  #defaultOutcome: WnsOutcome = DELIVERED;
  readonly #outcomes = new Map<string, WnsOutcome>();
  readonly #encoder = new TextEncoder();

  /** Answers `outcome` to every later send to `channelUri`. */
  setOutcome(channelUri: string, outcome: WnsOutcome): void {
    this.#outcomes.set(channelUri, outcome);
  }

  /** Answers `outcome` to channels without their own outcome. */
  setDefaultOutcome(outcome: WnsOutcome): void {
    this.#defaultOutcome = outcome;
  }

  /** The recorded sends to one channel. */
  sentTo(channelUri: string): SentRawNotification[] {
    return this.sent.filter((s) => s.channelUri === channelUri);
  }

  /** Records the call and answers the configured outcome. Never throws. */
  sendRaw(
    channelUri: string,
    payload: string,
    options: RawNotificationOptions,
  ): Promise<WnsOutcome> {
    this.sent.push({ channelUri, payload, options });
    const size = this.#encoder.encode(payload).byteLength;
    if (size === 0 || size > WNS_RAW_LIMIT_BYTES) {
      return Promise.resolve({
        kind: "failed",
        retryable: false,
        status: null,
        detail: `not sent: payload is ${size} bytes, WNS takes 1 to ${WNS_RAW_LIMIT_BYTES}`,
      });
    }
    return Promise.resolve(this.#outcomes.get(channelUri) ?? this.#defaultOutcome);
  }
}
