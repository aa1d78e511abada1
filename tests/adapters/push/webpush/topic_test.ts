import assert from "node:assert/strict";
import { TOPIC_PATTERN, topicFor } from "../../../../adapters/push/webpush/topic.ts";

Deno.test("topic: 32 base64url characters, stable per key, different across keys", async () => {
  const a = await topicFor("alice@example.org");
  assert.match(a, TOPIC_PATTERN);
  assert.equal(a.length, 32);
  assert.equal(await topicFor("alice@example.org"), a);
  assert.notEqual(await topicFor("bob@example.org"), a);
  // Hashed: the account does not show.
  assert.ok(!a.includes("alice"));
  assert.ok(!TOPIC_PATTERN.test("x".repeat(33)));
  assert.ok(!TOPIC_PATTERN.test(""));
  assert.ok(!TOPIC_PATTERN.test("a+b/c="));
});
