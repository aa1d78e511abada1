/**
 * The push delivery port: what the use cases call to send a notification to a device's
 * push service. `adapters/push/` implements it.
 *
 * @module
 */

import type { PushTarget } from "../push_target.ts";
import type { PushCounts } from "../push_summary.ts";

/**
 * What a push tells the device: whose account has news and the counts; content only for an
 * app configured to show it (see `messageBody`). Each
 * service's adapter turns it into that service's payload (`domain/payloads/`).
 */
export type Notification =
  /** A publish for an account: the app wakes and fetches the messages itself. */
  | {
    readonly kind: "push";
    readonly accountId: string;
    readonly counts: PushCounts;
    /**
     * The published message's text (`last-message-body`), when the publish carried one.
     * Only an app configured to show it (APNs `includeMessageBody`) uses it; never logged.
     */
    readonly messageBody?: string;
  }
  /** The device asked for a test push. */
  | { readonly kind: "test" };

/** How long the service may keep a notification for an offline device. */
export interface DeliveryOptions {
  /** Seconds the service keeps it; 0: deliver now or never. */
  readonly ttlSeconds: number;
}

/**
 * How a push service answered one notification. Every service's own answers map onto these
 * five: the use cases act on the kind alone.
 */
export type DeliveryOutcome =
  /** Accepted. `detail`: what the service said beyond the status, if anything. */
  | { readonly kind: "delivered"; readonly status: number | null; readonly detail: string | null }
  /** The address is gone for good (WNS 404/410, FCM UNREGISTERED, APNs 410...). */
  | { readonly kind: "target-gone"; readonly status: number | null }
  /**
   * Not sent now, by the service's or our own limits: the user's server should hear `wait`
   * and slow down. `retryAfterMs`: how long to leave the target alone, when known.
   */
  | {
    readonly kind: "throttled";
    readonly status: number | null;
    readonly detail: string;
    readonly retryAfterMs?: number;
  }
  /** Anything else: `retryable` says whether trying later may work. */
  | {
    readonly kind: "failed";
    readonly retryable: boolean;
    readonly status: number | null;
    readonly detail: string;
    readonly retryAfterMs?: number;
  };

/** Sends notifications to push targets. Never throws: failures are outcomes. */
export interface PushDelivery {
  deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome>;
}
