/**
 * Property tests of payload sanitization: whatever a user's server puts in the summary
 * form, the push carries two integers in [0, MAX_COUNT] and the account id, in well-formed
 * JSON under the WNS limit, and none of the published text.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { decidePublish } from "../../domain/publish.ts";
import { countsFromSummary, MAX_COUNT } from "../../domain/push_summary.ts";
import type { NodeTarget } from "../../domain/registration.ts";
import { secretMatches } from "../../domain/secret_check.ts";
import { WNS_RAW_LIMIT_BYTES, wnsPayload } from "../../domain/payloads/wns_payload.ts";
import { check } from "./fuzz_params.ts";

/** Count-like text: digits, signs, spaces, exponents, other scripts' digits, huge ones. */
const countText = fc.oneof(
  fc.nat().map(String),
  fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: 1, maxLength: 400 }),
  fc.string({ unit: fc.constantFrom(..."0123456789 \t\n\u00a0\ufeff+-.eExX,_"), maxLength: 12 }),
  fc.constantFrom(
    "",
    " ",
    "-1",
    "+3",
    "1e3",
    "0x10",
    "3.0",
    "Infinity",
    "NaN",
    "٣",
    "３",
    "1\u200b",
    " 7 ",
    "00000000000000000000000000042",
    "9".repeat(400),
  ),
  fc.string({ unit: "binary", maxLength: 30 }),
);

/** Field names a summary may carry, and some it should not. */
const fieldName = fc.oneof(
  fc.constantFrom(
    "FORM_TYPE",
    "message-count",
    "pending-subscription-count",
    "last-message-sender",
    "last-message-body",
    "last-message-priority",
    "__proto__",
    "constructor",
  ),
  fc.string({ maxLength: 20 }).map((s) => `last-message-${s}`),
  fc.string({ maxLength: 20 }),
);

const summary = fc.option(
  fc.array(fc.tuple(fieldName, fc.oneof(countText, fc.string({ unit: "grapheme" }))), {
    maxLength: 8,
  }).map((entries) => new Map(entries)),
  { nil: null },
);

/** The model of one count: trimmed ASCII digits, clamped; anything else is absent. */
function modelCount(raw: string | undefined): number | null {
  const text = raw?.trim();
  if (!text || !/^[0-9]+$/.test(text)) return null;
  const value = BigInt(text);
  return value > BigInt(MAX_COUNT) ? MAX_COUNT : Number(value);
}

const accountId = fc.string({
  unit: fc.constantFrom(..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"),
  minLength: 1,
  maxLength: 128,
});

Deno.test("fuzz countsFromSummary: counts are integers in [0, MAX_COUNT], as the model says", () => {
  check(
    fc.property(summary, (fields) => {
      const counts = countsFromSummary(fields);
      for (const value of [counts.messageCount, counts.pendingSubscriptionCount]) {
        assert.ok(Number.isSafeInteger(value) && value >= 0 && value <= MAX_COUNT, `${value}`);
      }
      const mentions = [...(fields ?? [])].some(([name, value]) =>
        name.startsWith("last-message-") && value.trim() !== ""
      );
      assert.equal(
        counts.messageCount,
        modelCount(fields?.get("message-count")) ?? (mentions ? 1 : 0),
      );
      assert.equal(
        counts.pendingSubscriptionCount,
        modelCount(fields?.get("pending-subscription-count")) ?? 0,
      );
    }),
    2000,
  );
});

Deno.test("fuzz push payload: well-formed, small, and nothing but the account id and counts", () => {
  check(
    fc.property(accountId, summary, (account, fields) => {
      const target: NodeTarget = {
        node: "n",
        accountId: account,
        deviceId: "d",
        secret: "s",
        target: { service: "wns", app: "wns", address: "https://db5p.notify.windows.com/?token=x" },
        expiresAt: 1,
      };
      const decision = decidePublish({ node: "n", secret: "s", summary: fields }, target);
      assert.equal(decision.kind, "push");
      if (decision.kind !== "push") return;
      const payload = wnsPayload(decision.notification);
      assert.ok(new TextEncoder().encode(payload).length < WNS_RAW_LIMIT_BYTES);
      const json = JSON.parse(payload);
      assert.deepEqual(Object.keys(json), [
        "version",
        "action",
        "account_id",
        "message_count",
        "pending_subscription_count",
      ]);
      // Exactly the fixed shape: no room for any published text.
      const { messageCount, pendingSubscriptionCount } = countsFromSummary(fields);
      assert.equal(
        payload,
        `{"version":2,"action":"push","account_id":${JSON.stringify(account)},` +
          `"message_count":${messageCount},"pending_subscription_count":${pendingSubscriptionCount}}`,
      );
      const rest = payload.replace(JSON.stringify(account), "");
      for (const [name, value] of fields ?? []) {
        if (name.startsWith("last-message-") && value.length >= 4 && !/^[\d\s]+$/.test(value)) {
          assert.ok(!rest.includes(value), `payload carries published text ${value}`);
        }
      }
    }),
    2000,
  );
});

Deno.test("fuzz secretMatches: true exactly for the same string", () => {
  const secretText = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ unit: fc.constantFrom("a", "b", "\u0000"), maxLength: 6 }),
  );
  check(
    fc.property(fc.option(secretText, { nil: null }), secretText, (given, expected) => {
      assert.equal(secretMatches(given, expected), given === expected);
      assert.equal(secretMatches(expected, expected), true);
    }),
    3000,
  );
});
