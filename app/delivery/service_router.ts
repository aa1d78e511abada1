/**
 * The delivery port the use cases get: hands each notification to the adapter of its
 * target's push service. Adding a service is one more entry here, made by the wiring.
 *
 * @module
 */

import type {
  DeliveryOptions,
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../domain/push_target.ts";

/** Routes by `target.service`; a service nobody configured fails for good. */
export class ServiceRouter implements PushDelivery {
  readonly #services: ReadonlyMap<string, PushDelivery>;

  constructor(services: Readonly<Record<string, PushDelivery>>) {
    this.#services = new Map(Object.entries(services));
  }

  deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome> {
    const service = this.#services.get(target.service);
    if (service === undefined) {
      return Promise.resolve({
        kind: "failed",
        retryable: false,
        status: null,
        detail: `no push service ${JSON.stringify(target.service)} is configured`,
      });
    }
    return service.deliver(target, notification, options);
  }
}
