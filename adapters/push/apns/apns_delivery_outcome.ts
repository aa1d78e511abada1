/**
 * APNs's outcomes as the delivery port's: what the shared policy and the use cases act on.
 *
 * @module
 */

import type { DeliveryOutcome } from "../../../domain/ports/push_delivery.ts";
import type { PushOutcome } from "./push_outcome.ts";

/** A dead token is the target gone; the rest keep their kind, `reason` as the detail. */
export function apnsDeliveryOutcome(outcome: PushOutcome): DeliveryOutcome {
  switch (outcome.kind) {
    case "delivered":
      return { kind: "delivered", status: outcome.status, detail: outcome.id };
    case "token-gone":
      return { kind: "target-gone", status: outcome.status };
    case "throttled":
      return {
        kind: "throttled",
        status: outcome.status,
        detail: outcome.reason,
        retryAfterMs: outcome.retryAfterMs,
      };
    case "failed":
      return {
        kind: "failed",
        retryable: outcome.retryable,
        status: outcome.status,
        detail: outcome.reason,
        ...(outcome.retryAfterMs === undefined ? {} : { retryAfterMs: outcome.retryAfterMs }),
      };
  }
}
