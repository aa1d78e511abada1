/**
 * Every push service's own outcomes map onto the delivery port's five kinds, so the shared
 * policy and the use cases never need to know the service.
 */

import assert from "node:assert/strict";
import { apnsDeliveryOutcome } from "../../../adapters/push/apns/apns_delivery_outcome.ts";
import { apnsOutcome } from "../../../adapters/push/apns/push_outcome.ts";
import { fcmDeliveryOutcome } from "../../../adapters/push/fcm/fcm_delivery_outcome.ts";
import { FCM_QUOTA_MIN_BACKOFF_MS } from "../../../adapters/push/fcm/fcm_outcome.ts";
import { outcomeOfStatus } from "../../../adapters/push/webpush/push_outcome.ts";
import { webPushDeliveryOutcome } from "../../../adapters/push/webpush/webpush_delivery_outcome.ts";
import { deliveryOutcome } from "../../../adapters/push/wns/wns_push_delivery.ts";
import type { DeliveryOutcome } from "../../../domain/ports/push_delivery.ts";

const kindOf = (o: DeliveryOutcome) =>
  o.kind === "failed" ? `failed ${o.retryable ? "retryable" : "final"}` : o.kind;

Deno.test("WNS outcomes map onto the port", () => {
  assert.deepEqual(
    [
      deliveryOutcome({ kind: "delivered", status: 200, wnsStatus: "received" }),
      deliveryOutcome({ kind: "channel-gone", status: 410 }),
      deliveryOutcome({ kind: "throttled", status: 429, detail: "x", retryAfterMs: 5 }),
      deliveryOutcome({ kind: "failed", retryable: true, status: 503, detail: "x" }),
      deliveryOutcome({ kind: "failed", retryable: false, status: 400, detail: "x" }),
    ].map(kindOf),
    ["delivered", "target-gone", "throttled", "failed retryable", "failed final"],
  );
});

Deno.test("FCM outcomes map onto the port; a quota without Retry-After waits a minute", () => {
  const throttled = fcmDeliveryOutcome({
    kind: "throttled",
    status: 429,
    code: "QUOTA_EXCEEDED",
    retryAfterMs: null,
  });
  assert.deepEqual(throttled, {
    kind: "throttled",
    status: 429,
    detail: "throttled QUOTA_EXCEEDED",
    retryAfterMs: FCM_QUOTA_MIN_BACKOFF_MS,
  });
  assert.deepEqual(
    [
      fcmDeliveryOutcome({ kind: "delivered", status: 200 }),
      fcmDeliveryOutcome({ kind: "token-gone", status: 404, code: "UNREGISTERED" }),
      throttled,
      fcmDeliveryOutcome({
        kind: "retryable",
        status: 503,
        reason: "server-error",
        code: "UNAVAILABLE",
        retryAfterMs: 30_000,
      }),
      fcmDeliveryOutcome({
        kind: "final",
        status: 403,
        reason: "configuration",
        code: "SENDER_ID_MISMATCH",
        detail: "sender id mismatch",
      }),
    ].map(kindOf),
    ["delivered", "target-gone", "throttled", "failed retryable", "failed final"],
  );
});

Deno.test("APNs outcomes map onto the port, from the answers APNs sends", () => {
  const options = { tokenThrottleMs: 60_000, providerTokenPauseMs: 300_000 };
  const answers = [
    apnsOutcome(200, {}, "id-1", options),
    apnsOutcome(410, { reason: "Unregistered", timestamp: 1 }, null, options),
    apnsOutcome(429, { reason: "TooManyRequests" }, null, options),
    apnsOutcome(503, { reason: "ServiceUnavailable" }, null, options),
    apnsOutcome(403, { reason: "InvalidProviderToken" }, null, options),
  ].map(apnsDeliveryOutcome);
  assert.deepEqual(answers.map(kindOf), [
    "delivered",
    "target-gone",
    "throttled",
    "failed retryable",
    "failed final",
  ]);
  assert.equal(answers[2].kind === "throttled" && answers[2].retryAfterMs, 60_000);
});

Deno.test("Web Push outcomes map onto the port, from the statuses a push service answers", () => {
  const answers = [
    outcomeOfStatus(201, null),
    outcomeOfStatus(410, null),
    outcomeOfStatus(429, 7000),
    outcomeOfStatus(503, null),
    outcomeOfStatus(403, null),
    outcomeOfStatus(413, null),
  ].map(webPushDeliveryOutcome);
  assert.deepEqual(answers.map(kindOf), [
    "delivered",
    "target-gone",
    "throttled",
    "failed retryable",
    "failed final",
    "failed final",
  ]);
  assert.equal(answers[2].kind === "throttled" && answers[2].retryAfterMs, 7000);
  assert.deepEqual(webPushDeliveryOutcome({ kind: "refused", reason: "not-https" }), {
    kind: "failed",
    retryable: false,
    status: null,
    detail: "endpoint refused: not-https",
  });
});
