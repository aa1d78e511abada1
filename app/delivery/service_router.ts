/**
 * The delivery port the use cases get: hands each notification to the adapter of its
 * target's push service and app. Adding a service or an app is one more entry here, made by
 * the wiring.
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

/** One route: the targets of `service` and `app` go to `delivery`. */
export interface ServiceRoute {
  readonly service: string;
  readonly app: string;
  readonly delivery: PushDelivery;
}

/** Routes by `target.service` and `target.app`; an app nobody configured fails for good. */
export class ServiceRouter implements PushDelivery {
  readonly #routes: ReadonlyMap<string, PushDelivery>;

  constructor(routes: Iterable<ServiceRoute>) {
    const map = new Map<string, PushDelivery>();
    for (const { service, app, delivery } of routes) {
      const key = routeKey(service, app);
      if (map.has(key)) throw new Error(`two routes for ${service} app ${JSON.stringify(app)}`);
      map.set(key, delivery);
    }
    this.#routes = map;
  }

  deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome> {
    const delivery = this.#routes.get(routeKey(target.service, target.app));
    if (delivery === undefined) {
      return Promise.resolve({
        kind: "failed",
        retryable: false,
        status: null,
        detail: `no ${JSON.stringify(target.service)} app ${
          JSON.stringify(target.app)
        } is configured`,
      });
    }
    return delivery.deliver(target, notification, options);
  }
}

function routeKey(service: string, app: string): string {
  return `${service}\n${app}`;
}
