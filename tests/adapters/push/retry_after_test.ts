import assert from "node:assert/strict";
import { parseRetryAfter } from "../../../adapters/push/retry_after.ts";

Deno.test("Retry-After: delay-seconds and HTTP-dates, never negative, null when malformed", () => {
  const now = Date.UTC(2026, 10, 25, 22, 0, 0);
  const table: Array<[string | null | undefined, number | null]> = [
    ["0", 0],
    ["120", 120_000],
    [" 7 ", 7000],
    ["Wed, 25 Nov 2026 22:01:30 GMT", 90_000],
    ["Wednesday, 25-Nov-26 22:00:10 GMT", 10_000], // RFC 850 form
    ["Wed Nov 25 22:00:05 2026", 5000], // asctime form
    ["Wed, 25 Nov 2026 21:00:00 GMT", 0], // in the past
    [null, null],
    [undefined, null],
    ["", null],
    ["-5", null],
    ["1.5", null],
    ["soon", null],
    ["2026-11-25T22:01:00Z", null], // not an HTTP-date
    ["99999999999999999999", null],
  ];
  for (const [value, expected] of table) {
    assert.equal(parseRetryAfter(value, now), expected, String(value));
  }
});
