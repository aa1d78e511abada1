/**
 * Web Push's outcomes as the delivery port's: what the shared policy and the use cases act
 * on.
 *
 * @module
 */

import type { DeliveryOutcome } from "../../../domain/ports/push_delivery.ts";
import type { PushOutcome } from "./push_outcome.ts";

/**
 * A gone subscription is the target gone. A payload too large, a refused endpoint (the
 * SSRF policy) and a refused request fail for good: sending again cannot help.
 */
export function webPushDeliveryOutcome(outcome: PushOutcome): DeliveryOutcome {
  switch (outcome.kind) {
    case "delivered":
      return { kind: "delivered", status: outcome.status, detail: null };
    case "gone":
      return { kind: "target-gone", status: outcome.status };
    case "throttled":
      return {
        kind: "throttled",
        status: outcome.status,
        detail: "throttled",
        ...(outcome.retryAfterMs === null ? {} : { retryAfterMs: outcome.retryAfterMs }),
      };
    case "retryable":
      return {
        kind: "failed",
        retryable: true,
        status: outcome.status,
        detail: outcome.reason,
        ...(outcome.retryAfterMs === null ? {} : { retryAfterMs: outcome.retryAfterMs }),
      };
    case "too-large":
      return { kind: "failed", retryable: false, status: outcome.status, detail: "too large" };
    case "final":
      return { kind: "failed", retryable: false, status: outcome.status, detail: outcome.reason };
    case "refused":
      return {
        kind: "failed",
        retryable: false,
        status: null,
        detail: `endpoint refused: ${outcome.reason}`,
      };
  }
}
