/**
 * The Push 2.0 relay use case: a user's server's `<notification>` becomes one POST of its
 * ciphertext to the client's endpoint (behind the shared delivery policy and the endpoint
 * policy), and the push service's verdict becomes the answer the user's server hears:
 * nothing when relayed; `cancel/item-not-found` only when the client's subscription is gone
 * (404/410); `wait` for throttling, 5xx, timeouts and our own limits (contract §5: the
 * user's server retries those with backoff); `auth/not-authorized` when the push service
 * refused the JWT (401/403: the client's key or the server's JWT is wrong); `modify` for a
 * payload too large or a request refused; `cancel/not-allowed` for an endpoint our policy
 * refuses (not https, private address...).
 *
 * @module
 */

import type { Logger } from "../../domain/ports/logging.ts";
import type { EncryptedPushDelivery } from "../../domain/ports/encrypted_push.ts";
import type { DeliveryOutcome } from "../../domain/ports/push_delivery.ts";
import type { Push2Answer, Push2Notification } from "../../domain/push2.ts";

/** Relays Push 2.0 notifications; see the module comment. */
export class Push2Relay {
  constructor(
    private readonly delivery: EncryptedPushDelivery,
    private readonly logger: Logger,
  ) {}

  /** Relays one notification and says what to answer. Never throws. */
  async relay(notification: Push2Notification): Promise<Push2Answer> {
    let outcome: DeliveryOutcome;
    try {
      outcome = await this.delivery.relay(notification);
    } catch (error) {
      this.logger.error("push2 relay failed", { error: (error as Error).message });
      return { kind: "error", type: "wait", condition: "internal-server-error", text: "try later" };
    }
    const answer = push2Answer(outcome);
    this.logger.debug("push2 relayed", {
      host: hostOf(notification.endpoint),
      outcome: outcome.kind,
      status: outcome.status,
    });
    return answer;
  }
}

/** The answer for a delivery outcome; see the module comment. */
export function push2Answer(outcome: DeliveryOutcome): Push2Answer {
  switch (outcome.kind) {
    case "delivered":
      return { kind: "relayed" };
    case "target-gone":
      return {
        kind: "error",
        type: "cancel",
        condition: "item-not-found",
        text: "the push service says the client's subscription is gone",
      };
    case "throttled":
      return {
        kind: "error",
        type: "wait",
        condition: "resource-constraint",
        text: "throttled: try later",
      };
    case "failed":
      if (outcome.retryable) {
        return {
          kind: "error",
          type: "wait",
          condition: outcome.status === null ? "remote-server-timeout" : "service-unavailable",
          text: "the push service did not take it: try later",
        };
      }
      if (outcome.status === 401 || outcome.status === 403) {
        return {
          kind: "error",
          type: "auth",
          condition: "not-authorized",
          text: "the push service refused the VAPID JWT",
        };
      }
      if (outcome.status === null && outcome.detail.startsWith("endpoint refused")) {
        return {
          kind: "error",
          type: "cancel",
          condition: "not-allowed",
          text: `the client endpoint is not allowed (${outcome.detail.slice(18)})`,
        };
      }
      return {
        kind: "error",
        type: "modify",
        condition: "not-acceptable",
        text: outcome.status === 413 || outcome.detail === "too large"
          ? "the payload is too large"
          : "the push service refused the request",
      };
  }
}

function hostOf(endpoint: string): string {
  return URL.parse(endpoint)?.host ?? "";
}
