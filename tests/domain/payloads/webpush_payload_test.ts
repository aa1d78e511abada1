import assert from "node:assert/strict";
import { webPushPayload } from "../../../domain/payloads/webpush_payload.ts";

Deno.test("webPushPayload: account id and counts, nothing else", () => {
  const text = webPushPayload({
    kind: "push",
    accountId: "3f".repeat(32),
    counts: { messageCount: 5, pendingSubscriptionCount: 2 },
  });
  assert.equal(
    text,
    `{"v":1,"kind":"push","account":"${
      "3f".repeat(32)
    }","message_count":5,"pending_subscription_count":2}`,
  );
  assert.equal(webPushPayload({ kind: "test" }), '{"v":1,"kind":"test"}');
});
