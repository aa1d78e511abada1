/**
 * The use cases' delivery dependencies for tests that push through a WNS sender (memory,
 * fake or HTTP): the delivery port in front of it, and the UWPX protocol's WNS targets.
 *
 * @module
 */

import type { WnsSender } from "../../adapters/push/wns/wns_sender.ts";
import { WNS_TARGETS, WnsPushDelivery } from "../../adapters/push/wns/wns_push_delivery.ts";
import type { PushDelivery } from "../../domain/ports/push_delivery.ts";
import type { TargetDefaults } from "../../domain/push_target.ts";

/** `{ delivery, targets }` for `PushService` and `DeviceService`, sending with `sender`. */
export function wnsDelivery(
  sender: WnsSender,
): { delivery: PushDelivery; targets: TargetDefaults } {
  return { delivery: new WnsPushDelivery(sender), targets: WNS_TARGETS };
}
