import assert from "node:assert/strict";
import { countsFromSummary, MAX_COUNT } from "../../domain/push_summary.ts";

const summary = (fields: Record<string, string>) => new Map(Object.entries(fields));

Deno.test("countsFromSummary: Prosody's shape, empty fields counted as absent", () => {
  const counts = countsFromSummary(summary({
    "FORM_TYPE": "urn:xmpp:push:summary",
    "message-count": "1",
    "pending-subscription-count": "",
    "last-message-sender": "",
    "last-message-body": "New Message!",
  }));
  assert.deepEqual(counts, { messageCount: 1, pendingSubscriptionCount: 0 });
});

Deno.test("countsFromSummary: reads both counts when present", () => {
  const counts = countsFromSummary(summary({
    "message-count": "7",
    "pending-subscription-count": "3",
  }));
  assert.deepEqual(counts, { messageCount: 7, pendingSubscriptionCount: 3 });
});

Deno.test("countsFromSummary: ejabberd without message-count and a last-message field -> 1", () => {
  for (const field of ["last-message-body", "last-message-sender"]) {
    const counts = countsFromSummary(summary({
      "FORM_TYPE": "urn:xmpp:push:summary",
      [field]: "something",
    }));
    assert.deepEqual(counts, { messageCount: 1, pendingSubscriptionCount: 0 }, field);
  }
});

Deno.test("countsFromSummary: no message-count and only empty last-message fields -> 0", () => {
  const counts = countsFromSummary(summary({
    "last-message-body": "   ",
    "last-message-sender": "",
    "pending-subscription-count": "2",
  }));
  assert.deepEqual(counts, { messageCount: 0, pendingSubscriptionCount: 2 });
});

Deno.test("countsFromSummary: no form at all -> 0 and 0", () => {
  assert.deepEqual(countsFromSummary(null), { messageCount: 0, pendingSubscriptionCount: 0 });
  assert.deepEqual(countsFromSummary(new Map()), { messageCount: 0, pendingSubscriptionCount: 0 });
});

Deno.test("countsFromSummary: garbage counts are ignored", () => {
  for (const garbage of ["abc", "1e3", "0x10", "NaN", "Infinity", "12abc", "", "١٢"]) {
    const counts = countsFromSummary(summary({
      "message-count": garbage,
      "pending-subscription-count": garbage,
    }));
    assert.deepEqual(counts, { messageCount: 0, pendingSubscriptionCount: 0 }, garbage);
  }
  // With a last message mentioned, an unreadable count falls back to 1.
  const counts = countsFromSummary(summary({ "message-count": "lots", "last-message-body": "x" }));
  assert.equal(counts.messageCount, 1);
});

Deno.test("countsFromSummary: negative and decimal counts are ignored", () => {
  for (const bad of ["-1", "-0", "1.5", "2.0", "+3"]) {
    const counts = countsFromSummary(summary({
      "message-count": bad,
      "pending-subscription-count": bad,
    }));
    assert.deepEqual(counts, { messageCount: 0, pendingSubscriptionCount: 0 }, bad);
  }
});

Deno.test("countsFromSummary: huge numbers are clamped to a small safe integer", () => {
  for (const huge of ["1000000", "99999999999999999999999", "9".repeat(400)]) {
    const counts = countsFromSummary(summary({
      "message-count": huge,
      "pending-subscription-count": huge,
    }));
    assert.deepEqual(counts, { messageCount: MAX_COUNT, pendingSubscriptionCount: MAX_COUNT });
    assert.ok(Number.isSafeInteger(counts.messageCount));
  }
  assert.equal(countsFromSummary(summary({ "message-count": "999999" })).messageCount, 999_999);
  assert.equal(MAX_COUNT, 999_999);
});

Deno.test("countsFromSummary: surrounding whitespace and leading zeros are tolerated", () => {
  const counts = countsFromSummary(summary({
    "message-count": " 0042\n",
    "pending-subscription-count": "\t5 ",
  }));
  assert.deepEqual(counts, { messageCount: 42, pendingSubscriptionCount: 5 });
});

Deno.test("countsFromSummary: an explicit zero message-count wins over a last message", () => {
  const counts = countsFromSummary(summary({ "message-count": "0", "last-message-body": "hi" }));
  assert.equal(counts.messageCount, 0);
});
