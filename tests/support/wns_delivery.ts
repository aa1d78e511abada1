/**
 * The use cases' delivery dependencies for tests that push through a WNS sender (memory,
 * fake or HTTP): the delivery port in front of it, and the UWPX protocol's WNS targets.
 *
 * @module
 */

import type { WnsSender } from "../../adapters/push/wns/wns_sender.ts";
import { WNS_TARGETS, WnsPushDelivery } from "../../adapters/push/wns/wns_push_delivery.ts";
import type { PushDelivery } from "../../domain/ports/push_delivery.ts";
import type { PushTarget, TargetDefaults } from "../../domain/push_target.ts";

/** `{ delivery, targets }` for `PushService` and `DeviceService`, sending with `sender`. */
export function wnsDelivery(
  sender: WnsSender,
): { delivery: PushDelivery; targets: TargetDefaults } {
  return { delivery: new WnsPushDelivery(sender), targets: WNS_TARGETS };
}

/** The UWPX protocol's target for a WNS channel URI: what the device use case saves. */
export function wnsTarget(address: string): PushTarget {
  return { ...WNS_TARGETS, address };
}
