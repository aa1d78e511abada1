/**
 * The delivery port for WNS: formats the notification as the UWPX app's raw payload
 * (`domain/payloads/wns_payload.ts`), sends it to the target's channel URI and maps WNS's
 * answer onto the port's outcomes.
 *
 * @module
 */

import { wnsPayload } from "../../../domain/payloads/wns_payload.ts";
import type {
  DeliveryOptions,
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import type { WnsOutcome, WnsSender } from "./wns_sender.ts";

/** The name WNS targets carry in `PushTarget.service`. */
export const WNS_SERVICE = "wns";

/**
 * The targets of the UWPX device protocol: WNS channels of the one configured app (also
 * every registration stored before targets had a service of their own).
 */
export const WNS_TARGETS = { service: WNS_SERVICE, app: WNS_SERVICE } as const;

/** How the port reads WNS's answer. */
export function deliveryOutcome(outcome: WnsOutcome): DeliveryOutcome {
  switch (outcome.kind) {
    case "delivered":
      return { kind: "delivered", status: outcome.status, detail: outcome.wnsStatus };
    case "channel-gone":
      return { kind: "target-gone", status: outcome.status };
    default:
      return outcome;
  }
}

/** Pushes to WNS channels through a {@link WnsSender}. */
export class WnsPushDelivery implements PushDelivery {
  readonly #sender: WnsSender;

  constructor(sender: WnsSender) {
    this.#sender = sender;
  }

  async deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome> {
    // WNS keeps a notification for an offline device only when asked to cache it.
    const outcome = await this.#sender.sendRaw(target.address, wnsPayload(notification), {
      cache: options.ttlSeconds > 0,
      ttlSeconds: options.ttlSeconds,
    });
    return deliveryOutcome(outcome);
  }
}
