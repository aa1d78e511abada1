import assert from "node:assert/strict";
import {
  apnsExpiration,
  apnsHeaders,
  apnsPriority,
  isValidCollapseId,
} from "../../../domain/payloads/apns_headers.ts";

const NOW = Date.UTC(2026, 10, 25, 22, 40, 0, 750);
const FOUR_WEEKS = 4 * 7 * 24 * 3600;

Deno.test("apnsHeaders: an alert is pushed at priority 10 with a future expiration", () => {
  const headers = apnsHeaders({ pushType: "alert" }, {
    topic: "im.monal.prod",
    ttlSeconds: FOUR_WEEKS,
    collapseId: null,
  }, NOW);
  assert.deepEqual(headers, {
    "apns-topic": "im.monal.prod",
    "apns-push-type": "alert",
    "apns-priority": "10",
    "apns-expiration": String(Math.floor(NOW / 1000) + FOUR_WEEKS),
  });
  // Not fpush's 2419200 (January 1970): a time after now.
  assert.ok(Number(headers["apns-expiration"]) * 1000 > NOW);
});

Deno.test("apnsHeaders: a background push is typed background at priority 5", () => {
  const headers = apnsHeaders({ pushType: "background" }, {
    topic: "org.example.app",
    ttlSeconds: 0,
    collapseId: "xmpp-push",
  }, NOW);
  assert.equal(headers["apns-push-type"], "background");
  assert.equal(headers["apns-priority"], "5");
  assert.equal(headers["apns-expiration"], "0");
  assert.equal(headers["apns-collapse-id"], "xmpp-push");
  assert.equal(apnsPriority("alert"), "10");
  assert.equal(apnsPriority("background"), "5");
});

Deno.test("apnsExpiration: whole seconds, 0 means deliver now or never, no negatives", () => {
  assert.equal(apnsExpiration(1_000_999, 60), "1060");
  assert.equal(apnsExpiration(NOW, 0), "0");
  assert.throws(() => apnsExpiration(NOW, -1), RangeError);
  assert.throws(() => apnsExpiration(NOW, 1.5), RangeError);
});

Deno.test("isValidCollapseId: 1 to 64 bytes of UTF-8", () => {
  assert.equal(isValidCollapseId("a".repeat(64)), true);
  assert.equal(isValidCollapseId("a".repeat(65)), false);
  assert.equal(isValidCollapseId("é".repeat(32)), true); // 64 bytes
  assert.equal(isValidCollapseId("é".repeat(33)), false); // 66 bytes
  assert.equal(isValidCollapseId(""), false);
  // A CR, LF or NUL would make a malformed HTTP/2 header (or smuggle another one over HTTP/1).
  assert.equal(isValidCollapseId("a\r\nx-injected: 1"), false);
  assert.equal(isValidCollapseId("a\u0000b"), false);
  assert.equal(isValidCollapseId("a\u007f"), false);
  assert.throws(
    () =>
      apnsHeaders(
        { pushType: "alert" },
        { topic: "t", ttlSeconds: 0, collapseId: "x".repeat(65) },
        NOW,
      ),
    RangeError,
  );
  assert.throws(
    () => apnsHeaders({ pushType: "alert" }, { topic: " ", ttlSeconds: 0, collapseId: null }, NOW),
    RangeError,
  );
});
