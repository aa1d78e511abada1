/**
 * The delivery port for Web Push: reads the target's address (the subscription, see
 * webpush_address.ts), turns the notification into the small JSON payload
 * (`domain/payloads/webpush_payload.ts`), and sends one encrypted, VAPID-signed message with
 * the app's TTL cap, urgency and per-account topic; the answer becomes the port's outcome.
 * One attempt per call: limits, backoff and retries are the shared delivery policy's.
 *
 * @module
 */

import { webPushPayload } from "../../../domain/payloads/webpush_payload.ts";
import type {
  DeliveryOptions,
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import { ReceiverKeys } from "./aes128gcm.ts";
import { fromBase64Url } from "./p256_keys.ts";
import type { PushOutcome } from "./push_outcome.ts";
import type { WebPushSubscription } from "./subscription.ts";
import { topicFor } from "./topic.ts";
import type { Urgency, WebPushMessage } from "./web_push_sender.ts";
import { parseWebPushAddress, WebPushAddressError } from "./webpush_address.ts";
import { webPushDeliveryOutcome } from "./webpush_delivery_outcome.ts";

/** The name Web Push targets carry in `PushTarget.service`. */
export const WEBPUSH_SERVICE = "webpush";

/** What sends one message: {@link WebPushSender}, or a metered one in front of it. */
export interface WebPushMessageSender {
  send(message: WebPushMessage): Promise<PushOutcome>;
}

/** Options of {@link WebPushPushDelivery}. */
export interface WebPushPushDeliveryOptions {
  readonly sender: WebPushMessageSender;
  /** The longest TTL asked of the push service; the use case's is capped to it. */
  readonly maxTtlSeconds: number;
  readonly urgency: Urgency;
  /** Send a per-account `Topic`, so undelivered wakeups of one account collapse. */
  readonly topic: boolean;
  /** Subscriptions whose imported keys are kept; default 10,000. */
  readonly maxCachedSubscriptions?: number;
}

const encoder = new TextEncoder();

/** Pushes to Web Push subscriptions through a {@link WebPushMessageSender}. */
export class WebPushPushDelivery implements PushDelivery {
  readonly #options: WebPushPushDeliveryOptions;
  readonly #maxCached: number;
  /** Imported receiver keys by address, oldest first: importing checks the point each time. */
  readonly #subscriptions = new Map<string, WebPushSubscription>();

  constructor(options: WebPushPushDeliveryOptions) {
    this.#options = options;
    this.#maxCached = options.maxCachedSubscriptions ?? 10_000;
  }

  async deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome> {
    let subscription: WebPushSubscription;
    try {
      subscription = await this.#subscription(target.address);
    } catch (error) {
      if (!(error instanceof WebPushAddressError || error instanceof RangeError)) throw error;
      // A stored address we cannot read: nothing to send to, and trying again cannot help.
      return { kind: "failed", retryable: false, status: null, detail: "malformed address" };
    }
    const { sender, maxTtlSeconds, urgency, topic } = this.#options;
    const outcome = await sender.send({
      subscription,
      payload: encoder.encode(webPushPayload(notification)),
      ttlSeconds: Math.min(Math.max(0, Math.floor(options.ttlSeconds)), maxTtlSeconds),
      urgency,
      ...(topic && notification.kind === "push"
        ? { topic: await topicFor(notification.accountId) }
        : {}),
    });
    return webPushDeliveryOutcome(outcome);
  }

  async #subscription(address: string): Promise<WebPushSubscription> {
    const cached = this.#subscriptions.get(address);
    if (cached !== undefined) return cached;
    const parts = parseWebPushAddress(address);
    const subscription = {
      endpoint: parts.endpoint,
      keys: await ReceiverKeys.import(fromBase64Url(parts.p256dh), fromBase64Url(parts.auth)),
    };
    this.#subscriptions.set(address, subscription);
    if (this.#subscriptions.size > this.#maxCached) {
      this.#subscriptions.delete(this.#subscriptions.keys().next().value!);
    }
    return subscription;
  }
}
