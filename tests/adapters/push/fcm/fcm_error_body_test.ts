import assert from "node:assert/strict";
import { FAKE_FCM_ERRORS } from "../../../../adapters/push/fcm/fake_fcm_server.ts";
import { blamesToken, readFcmError } from "../../../../adapters/push/fcm/fcm_error_body.ts";
import { parseRetryAfter } from "../../../../adapters/push/retry_after.ts";

Deno.test("readFcmError: the FcmError entry is found wherever it is in details", () => {
  const reading = readFcmError(JSON.stringify(FAKE_FCM_ERRORS.INVALID_ARGUMENT_TOKEN.body));
  assert.equal(reading.fcmErrorCode, "INVALID_ARGUMENT");
  assert.equal(reading.status, "INVALID_ARGUMENT");
  assert.deepEqual(reading.badFields, ["message.token"]);
  assert.ok(blamesToken(reading));
  assert.ok(
    blamesToken(
      readFcmError(JSON.stringify(FAKE_FCM_ERRORS.INVALID_ARGUMENT_TOKEN_MESSAGE_ONLY.body)),
    ),
  );
  assert.ok(
    !blamesToken(readFcmError(JSON.stringify(FAKE_FCM_ERRORS.INVALID_ARGUMENT_MESSAGE.body))),
  );
});

Deno.test("readFcmError: the 429 body with only ErrorInfo and Help", () => {
  const reading = readFcmError(JSON.stringify(FAKE_FCM_ERRORS.RATE_LIMIT_EXCEEDED.body));
  assert.equal(reading.fcmErrorCode, null);
  assert.equal(reading.status, "RESOURCE_EXHAUSTED");
  assert.deepEqual(reading.reasons, ["RATE_LIMIT_EXCEEDED"]);
});

Deno.test("readFcmError: tolerant of unknown fields, odd details and garbage", () => {
  const odd = {
    error: {
      code: 404,
      status: "NOT_FOUND",
      extra: { nested: true },
      details: [
        42,
        null,
        { "@type": "type.googleapis.com/google.rpc.DebugInfo", stackEntries: [] },
        { "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode: "NEW_CODE" },
        {
          "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
          errorCode: "UNREGISTERED",
          futureField: 1,
        },
      ],
    },
    more: "x",
  };
  const reading = readFcmError(JSON.stringify(odd));
  assert.equal(reading.fcmErrorCode, "UNREGISTERED");
  assert.equal(reading.message, null);
  for (
    const garbage of [
      "",
      "null",
      "[]",
      '{"error":"x"}',
      "<html>502</html>",
      '{"error":{"details":{}}}',
    ]
  ) {
    assert.deepEqual(readFcmError(garbage), {
      fcmErrorCode: null,
      status: null,
      reasons: [],
      badFields: [],
      message: null,
    }, garbage);
  }
  assert.equal(
    readFcmError(JSON.stringify({ error: { message: "m".repeat(1000) } })).message!.length,
    200,
  );
});

Deno.test("parseRetryAfter: seconds, HTTP dates, bounds, garbage", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter(null, now), null);
  assert.equal(parseRetryAfter("60", now), 60_000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:01:00 GMT", now), 60_000);
  assert.equal(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now), 0);
  assert.equal(parseRetryAfter("999999", now), 3_600_000);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter("-5", now), null);
});
