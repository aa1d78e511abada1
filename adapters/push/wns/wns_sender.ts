/**
 * The WNS adapter's inner interface: one raw notification to one channel, and WNS's answer.
 * `HttpWnsSender` speaks HTTP; the fake and memory senders stand in for it in tests;
 * `WnsPushDelivery` puts the delivery port in front of it.
 *
 * @module
 */

/** How WNS answered one raw notification. */
export type WnsOutcome =
  | { readonly kind: "delivered"; readonly status: number; readonly wnsStatus: string | null }
  /** 404/410: the channel is unknown or expired; the device must register again. */
  | { readonly kind: "channel-gone"; readonly status: number }
  /**
   * 406/429, a 200 saying `channelthrottled`, or our own limits (a channel backing off, a
   * full queue): not sent now; the user's server should hear `wait/resource-constraint`.
   */
  | {
    readonly kind: "throttled";
    readonly status: number | null;
    readonly detail: string;
    /** How long to leave the channel alone, when known (WNS's Retry-After). */
    readonly retryAfterMs?: number;
  }
  /** Anything else: `retryable` says whether trying later may work. */
  | {
    readonly kind: "failed";
    readonly retryable: boolean;
    readonly status: number | null;
    readonly detail: string;
    /** WNS's Retry-After, in milliseconds, when it sent one. */
    readonly retryAfterMs?: number;
  };

/** Options of one raw notification. */
export interface RawNotificationOptions {
  /** Ask WNS to keep the latest notification while the device is offline. */
  readonly cache: boolean;
  /** Seconds WNS keeps it, when cached. */
  readonly ttlSeconds: number;
}

/** Sends raw notifications to WNS channels. Never throws: failures are outcomes. */
export interface WnsSender {
  sendRaw(
    channelUri: string,
    payload: string,
    options: RawNotificationOptions,
  ): Promise<WnsOutcome>;
}
