/**
 * The port a Push 2.0 relay sends through: a message someone else encrypted and signed,
 * POSTed as it is to the client's endpoint under the same safety rules as our own pushes.
 *
 * @module
 */

import type { Push2Notification } from "../push2.ts";
import type { DeliveryOutcome } from "./push_delivery.ts";

/** Relays already-encrypted Web Push messages. Never throws: failures are outcomes. */
export interface EncryptedPushDelivery {
  relay(notification: Push2Notification): Promise<DeliveryOutcome>;
}
