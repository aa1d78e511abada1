/**
 * APNs behind the delivery port: one attempt per call. Builds the app's payload (Monal's
 * alert placeholder by default; the message body only when the app allows it and the
 * publish carried one), the headers that match it (`apns-topic`, `apns-push-type`,
 * `apns-priority`, a future `apns-expiration` or 0, `apns-collapse-id`), sends them to the
 * device token (the target's address) and maps APNs's answer onto a `DeliveryOutcome`.
 * Limits, retries and backoff are the shared delivery policy's, in front of this.
 *
 * @module
 */

import type { Clock } from "../../../domain/ports/clock.ts";
import type {
  DeliveryOptions,
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import { type ApnsHeaders, apnsHeaders } from "../../../domain/payloads/apns_headers.ts";
import {
  type ApnsPayload,
  apnsPayload,
  type ApnsPayloadSettings,
} from "../../../domain/payloads/apns_payload.ts";
import { apnsDeliveryOutcome } from "./apns_delivery_outcome.ts";
import type { PushOutcome } from "./push_outcome.ts";

/** What sends one push ({@link Http2ApnsSender} has it). */
export interface ApnsSend {
  send(token: string, payload: string, headers: ApnsHeaders): Promise<PushOutcome>;
}

/** One app's push settings. */
export interface ApnsPushSettings {
  readonly payload: ApnsPayloadSettings;
  /** `apns-topic`: the bundle id. */
  readonly topic: string;
  /** `apns-priority` of alert pushes (background pushes are always 5). */
  readonly alertPriority: 10 | 5;
  /** Seconds APNs keeps a push for an offline device; 0: now or never. */
  readonly expirationSeconds: number;
  readonly collapseId: string | null;
}

/** APNs for one app, behind the delivery port. */
export class ApnsPushDelivery implements PushDelivery {
  readonly #sender: ApnsSend;
  readonly #settings: ApnsPushSettings;
  readonly #clock: Clock;
  /** The placeholder payload, built once: nearly every push sends exactly this. */
  readonly #placeholder: ApnsPayload;
  /** The placeholder's headers of the current second, per TTL: the same for every push. */
  #cached: { second: number; ttl: number; headers: ApnsHeaders } | null = null;

  /** @throws RangeError when the settings cannot make a valid push (checked once, here). */
  constructor(sender: ApnsSend, settings: ApnsPushSettings, clock: Clock) {
    this.#sender = sender;
    this.#settings = settings;
    this.#clock = clock;
    this.#placeholder = apnsPayload(settings.payload, null);
    this.#headers(this.#placeholder, 0);
  }

  async deliver(
    target: PushTarget,
    notification: Notification,
    options: DeliveryOptions,
  ): Promise<DeliveryOutcome> {
    const payload = this.#payload(notification);
    // A push the caller wants now or never (a test push) is not stored by APNs either.
    const ttl = options.ttlSeconds === 0 ? 0 : this.#settings.expirationSeconds;
    const outcome = await this.#sender.send(
      target.address,
      payload.json,
      payload === this.#placeholder ? this.#placeholderHeaders(ttl) : this.#headers(payload, ttl),
    );
    return apnsDeliveryOutcome(outcome);
  }

  #payload(notification: Notification): ApnsPayload {
    const body = notification.kind === "push" ? notification.messageBody : undefined;
    if (body === undefined || !this.#settings.payload.includeMessageBody) return this.#placeholder;
    return apnsPayload(this.#settings.payload, new Map([["last-message-body", body]]));
  }

  /** {@link #headers} of the placeholder, built once a second (the expiration's unit). */
  #placeholderHeaders(ttl: number): ApnsHeaders {
    const second = Math.floor(this.#clock.now() / 1000);
    const cached = this.#cached;
    if (cached !== null && cached.second === second && cached.ttl === ttl) return cached.headers;
    const headers = this.#headers(this.#placeholder, ttl);
    this.#cached = { second, ttl, headers };
    return headers;
  }

  #headers(payload: ApnsPayload, ttlSeconds: number): ApnsHeaders {
    const { topic, collapseId, alertPriority } = this.#settings;
    const headers = apnsHeaders(payload, { topic, ttlSeconds, collapseId }, this.#clock.now());
    return payload.pushType === "alert" && alertPriority === 5
      ? { ...headers, "apns-priority": "5" }
      : headers;
  }
}
