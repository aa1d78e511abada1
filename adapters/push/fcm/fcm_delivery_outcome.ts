/**
 * FCM's outcomes as the delivery port's: what the shared policy and the use cases act on.
 *
 * @module
 */

import type { DeliveryOutcome } from "../../../domain/ports/push_delivery.ts";
import { FCM_QUOTA_MIN_BACKOFF_MS, type FcmOutcome } from "./fcm_outcome.ts";

/**
 * `token-gone` is the target gone; `throttled` keeps FCM's Retry-After (a quota without one
 * waits the minute Google advises); `retryable` and `final` are the two kinds of failure.
 */
export function fcmDeliveryOutcome(outcome: FcmOutcome): DeliveryOutcome {
  const detail = (what: string, code: string | null) => code === null ? what : `${what} ${code}`;
  switch (outcome.kind) {
    case "delivered":
      return { kind: "delivered", status: outcome.status, detail: null };
    case "token-gone":
      return { kind: "target-gone", status: outcome.status };
    case "throttled":
      return {
        kind: "throttled",
        status: outcome.status,
        detail: detail("throttled", outcome.code),
        retryAfterMs: outcome.retryAfterMs ?? FCM_QUOTA_MIN_BACKOFF_MS,
      };
    case "retryable":
      return {
        kind: "failed",
        retryable: true,
        status: outcome.status,
        detail: detail(outcome.reason, outcome.code),
        ...(outcome.retryAfterMs === null ? {} : { retryAfterMs: outcome.retryAfterMs }),
      };
    case "final":
      return { kind: "failed", retryable: false, status: outcome.status, detail: outcome.detail };
  }
}
