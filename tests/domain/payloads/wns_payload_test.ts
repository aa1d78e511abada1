import assert from "node:assert/strict";
import { countsFromSummary } from "../../../domain/push_summary.ts";
import {
  pushPayload,
  testPushPayload,
  WNS_RAW_LIMIT_BYTES,
} from "../../../domain/payloads/wns_payload.ts";

const shared = (name: string) =>
  JSON.parse(
    Deno.readTextFileSync(new URL(`../../fixtures/protocol/${name}`, import.meta.url)),
  ) as Record<string, unknown>;

Deno.test("pushPayload: exactly the shape of the seed's push.wns-raw.json", () => {
  const example = shared("push.wns-raw.json");
  const payload = pushPayload(example.account_id as string, {
    messageCount: example.message_count as number,
    pendingSubscriptionCount: example.pending_subscription_count as number,
  });
  const parsed = JSON.parse(payload);
  assert.deepEqual(parsed, example);
  assert.deepEqual(Object.keys(parsed), Object.keys(example));
  // Compact JSON, the same text as the example's key order gives.
  assert.equal(payload, JSON.stringify(example));
});

Deno.test("pushPayload: carries the account id and counts it is given", () => {
  const parsed = JSON.parse(
    pushPayload("abc123", { messageCount: 5, pendingSubscriptionCount: 2 }),
  );
  assert.deepEqual(parsed, {
    version: 2,
    action: "push",
    account_id: "abc123",
    message_count: 5,
    pending_subscription_count: 2,
  });
});

Deno.test("testPushPayload: exactly the seed's test_push.wns-raw.json", () => {
  const example = shared("test_push.wns-raw.json");
  const payload = testPushPayload();
  assert.deepEqual(JSON.parse(payload), example);
  assert.deepEqual(Object.keys(JSON.parse(payload)), Object.keys(example));
  assert.equal(payload, JSON.stringify(example));
});

Deno.test("push payload never contains the body or the sender", () => {
  const body = "Meet me at the secret place at 9";
  const sender = "juliet@capulet.example/balcony";
  const summary = new Map([
    ["FORM_TYPE", "urn:xmpp:push:summary"],
    ["message-count", "3"],
    ["last-message-body", body],
    ["last-message-sender", sender],
  ]);
  const payload = pushPayload("ACC", countsFromSummary(summary));
  assert.ok(!payload.includes("secret place"), payload);
  assert.ok(!payload.includes("juliet"), payload);
  assert.ok(!payload.includes("capulet"), payload);
  assert.deepEqual(Object.keys(JSON.parse(payload)), [
    "version",
    "action",
    "account_id",
    "message_count",
    "pending_subscription_count",
  ]);
  assert.equal(JSON.parse(payload).message_count, 3);
});

Deno.test("push payload of the largest counts and a long account id stays under WNS's limit", () => {
  const payload = pushPayload("F".repeat(128), {
    messageCount: 999_999,
    pendingSubscriptionCount: 999_999,
  });
  assert.ok(new TextEncoder().encode(payload).length < WNS_RAW_LIMIT_BYTES);
});
