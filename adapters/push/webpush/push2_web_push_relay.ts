/**
 * Push 2.0 relaying over Web Push: POSTs the user's server's ciphertext with its JWT
 * (`Authorization: vapid t=<jwt>, k=<key>`) to the client's endpoint through the
 * {@link WebPushSender} (endpoint policy, no redirects, bounded answer, timeout), and maps
 * the answer onto the delivery port's outcomes. No cryptography of ours.
 *
 * @module
 */

import type { EncryptedPushDelivery } from "../../../domain/ports/encrypted_push.ts";
import type { DeliveryOutcome } from "../../../domain/ports/push_delivery.ts";
import type { Push2Notification } from "../../../domain/push2.ts";
import type { PushOutcome } from "./push_outcome.ts";
import { vapidAuthorization } from "./vapid_jwt.ts";
import type { EncryptedWebPushMessage } from "./web_push_sender.ts";
import { webPushDeliveryOutcome } from "./webpush_delivery_outcome.ts";

/** What sends an encrypted message: {@link WebPushSender}, or a metered one in front. */
export interface EncryptedWebPushSender {
  sendEncrypted(message: EncryptedWebPushMessage): Promise<PushOutcome>;
}

/** The relay; `ttlSeconds`: how long the push service may keep it. */
export class Push2WebPushRelay implements EncryptedPushDelivery {
  constructor(
    private readonly sender: EncryptedWebPushSender,
    private readonly ttlSeconds: number,
  ) {}

  async relay(notification: Push2Notification): Promise<DeliveryOutcome> {
    const outcome = await this.sender.sendEncrypted({
      endpoint: notification.endpoint,
      body: notification.body,
      authorization: vapidAuthorization(notification.jwt, notification.key),
      ttlSeconds: this.ttlSeconds,
      urgency: notification.urgency,
    });
    return webPushDeliveryOutcome(outcome);
  }
}
