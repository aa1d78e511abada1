/**
 * Decorators that count what goes through a port, so that no adapter needs to know about
 * metrics: storage failures around any {@link RegistrationStore}, answers and latency
 * around any {@link WnsSender}.
 *
 * @module
 */

import {
  type RawNotificationOptions,
  type WnsOutcome,
  type WnsSender,
} from "../adapters/push/wns/wns_sender.ts";
import { type RegistrationStore, StorageUnavailableError } from "../domain/ports/storage.ts";
import type { PushServiceMetrics, StorageMetrics, WnsMetrics } from "../domain/ports/metrics.ts";
import type {
  DeliveryOptions,
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../domain/ports/push_delivery.ts";
import type { PushTarget } from "../domain/push_target.ts";

/**
 * `store`, counting every call that rejects with a {@link StorageUnavailableError} as a
 * storage error of that method. Every method is forwarded, those added to the port later
 * included; the store's own `this` is kept.
 */
export function meteredStore(
  store: RegistrationStore,
  metrics: StorageMetrics,
): RegistrationStore {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        const result = value.apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((error: unknown) => {
          if (error instanceof StorageUnavailableError) metrics.storageError(property);
          throw error;
        });
      };
    },
  });
}

/** A {@link WnsSender} that reports each send's HTTP status and duration. */
export class MeteredWnsSender implements WnsSender {
  readonly #inner: WnsSender;
  readonly #metrics: WnsMetrics;

  constructor(inner: WnsSender, metrics: WnsMetrics) {
    this.#inner = inner;
    this.#metrics = metrics;
  }

  async sendRaw(
    channelUri: string,
    payload: string,
    options: RawNotificationOptions,
  ): Promise<WnsOutcome> {
    const started = performance.now();
    const outcome = await this.#inner.sendRaw(channelUri, payload, options);
    this.#metrics.wnsResponse(outcome.status, (performance.now() - started) / 1000);
    return outcome;
  }
}

/**
 * A {@link PushDelivery} of one app that reports each attempt's HTTP status and duration
 * as `pushServiceResponse(service, app, ...)`: put it under the delivery policy, so every
 * attempt (retries included) counts once.
 */
export class MeteredPushDelivery implements PushDelivery {
  readonly #inner: PushDelivery;
  readonly #metrics: PushServiceMetrics;
  readonly #service: string;
  readonly #app: string;

  constructor(inner: PushDelivery, metrics: PushServiceMetrics, service: string, app: string) {
    this.#inner = inner;
    this.#metrics = metrics;
    this.#service = service;
    this.#app = app;
  }

  async deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome> {
    const started = performance.now();
    const outcome = await this.#inner.deliver(target, notification, options);
    const seconds = (performance.now() - started) / 1000;
    this.#metrics.pushServiceResponse(this.#service, this.#app, outcome.status, seconds);
    return outcome;
  }
}
