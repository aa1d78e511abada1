/**
 * The delivery port for FCM: turns a notification into p2's data-only wakeup (`{account:
 * <hash>}`, collapse key), sends it to the target's registration token with one
 * {@link FcmSender} (one app: one Firebase project), and maps the answer onto the port's
 * outcomes (`fcm_delivery_outcome.ts`).
 *
 * @module
 */

import { fcmWakeup } from "../../../domain/payloads/fcm_payload.ts";
import type {
  DeliveryOptions,
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import { fcmDeliveryOutcome } from "./fcm_delivery_outcome.ts";
import type { FcmMessageOptions, FcmSender } from "./fcm_sender.ts";

/** The name FCM targets carry in `PushTarget.service`. */
export const FCM_SERVICE = "fcm";

/** How one app's wakeups are sent. */
export interface FcmWakeupOptions {
  /** p2's collapse key (first 6 hex of the hash) on each message. */
  readonly collapse: boolean;
  /** `android.ttl`, the app's: the use case's default TTL is WNS's. */
  readonly ttlSeconds: number;
  /** Epoch milliseconds, for the project-wide pause. Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * Pushes to one FCM app's registration tokens. A 429 without an FcmError entry is the
 * project's quota (`RATE_LIMIT_EXCEEDED`, firebase-admin-go#719), not one token's: the whole
 * app pauses for its Retry-After (a minute without one) instead of spending requests that
 * count against the same quota. QUOTA_EXCEEDED may be one device's rate: that token alone
 * backs off (the delivery policy's business).
 */
export class FcmPushDelivery implements PushDelivery {
  readonly #sender: Pick<FcmSender, "send">;
  readonly #options: FcmWakeupOptions;
  readonly #now: () => number;
  /** Until when the project's quota is spent (epoch ms). */
  #pausedUntil = 0;

  constructor(sender: Pick<FcmSender, "send">, options: FcmWakeupOptions) {
    this.#sender = sender;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  async deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome> {
    if (notification.kind !== "push") {
      // Test pushes are the UWPX device protocol's, which registers WNS channels only.
      return { kind: "failed", retryable: false, status: null, detail: "no test push on FCM" };
    }
    let wakeup;
    try {
      wakeup = fcmWakeup({ account: notification.accountId }, this.#options.collapse);
    } catch {
      // Anything but a p2 hash could carry what the hash hides: never sent.
      return {
        kind: "failed",
        retryable: false,
        status: null,
        detail: "the account id is not a p2 device hash",
      };
    }
    const paused = this.#pausedUntil - this.#now();
    if (paused > 0) {
      return {
        kind: "throttled",
        status: null,
        detail: `the project's quota is spent for ${paused} ms`,
        retryAfterMs: paused,
      };
    }
    const message: FcmMessageOptions = {
      collapseKey: wakeup.collapseKey,
      // "Now or never" from the caller wins; otherwise the app's TTL.
      ttlSeconds: options.ttlSeconds === 0 ? 0 : this.#options.ttlSeconds,
    };
    const outcome = await this.#sender.send(target.address, wakeup.data, message);
    const mapped = fcmDeliveryOutcome(outcome);
    if (outcome.kind === "throttled" && outcome.code === null && mapped.kind === "throttled") {
      this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + (mapped.retryAfterMs ?? 0));
    }
    return mapped;
  }
}
