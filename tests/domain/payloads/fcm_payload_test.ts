import assert from "node:assert/strict";
import {
  FCM_DATA_LIMIT_BYTES,
  fcmDataBytes,
  fcmTtl,
  fcmWakeup,
  isReservedFcmDataKey,
} from "../../../domain/payloads/fcm_payload.ts";

const HASH = "ec164939a8485ee6b7f7871071a11c7bb18aead5";
const ROOM = "0123456789abcdef0123456789abcdef01234567";

Deno.test("fcmWakeup: data-only {account}, p2's collapse key from the hash", () => {
  const wakeup = fcmWakeup({ account: HASH });
  assert.deepEqual(wakeup, { data: { account: HASH }, collapseKey: "ec1649" });
  assert.ok(fcmDataBytes(wakeup.data) < FCM_DATA_LIMIT_BYTES);
  assert.deepEqual(fcmWakeup({ account: HASH }, false), {
    data: { account: HASH },
    collapseKey: null,
  });
  assert.deepEqual(fcmWakeup({ account: HASH, channel: "" }).data, { account: HASH });
});

Deno.test("fcmWakeup: a MUC wakeup adds channel and collapses by the channel hash", () => {
  assert.deepEqual(fcmWakeup({ account: HASH, channel: ROOM }), {
    data: { account: HASH, channel: ROOM },
    collapseKey: "012345",
  });
});

Deno.test("fcmWakeup: anything but a 40-hex hash is refused (no JID, no content can slip in)", () => {
  for (const account of ["", "alice@example.org", HASH.toUpperCase(), HASH + "0", "New message!"]) {
    assert.throws(() => fcmWakeup({ account }), /account is not a 40-hex hash/, account);
  }
  assert.throws(() => fcmWakeup({ account: HASH, channel: "room@muc" }), /channel/);
});

Deno.test("fcmDataBytes counts UTF-8 bytes of keys and values", () => {
  assert.equal(fcmDataBytes({ account: HASH }), 7 + 40);
  assert.equal(fcmDataBytes({ "é": "€" }), 2 + 3);
});

Deno.test("isReservedFcmDataKey", () => {
  for (const key of ["from", "gcm", "google", "google.c.a.e"]) {
    assert.ok(isReservedFcmDataKey(key), key);
  }
  for (const key of ["account", "channel", "fromage", "Google"]) {
    assert.ok(!isReservedFcmDataKey(key), key);
  }
});

Deno.test("fcmTtl: protobuf Duration strings, clamped to four weeks", () => {
  assert.equal(fcmTtl(86400), "86400s");
  assert.equal(fcmTtl(0), "0s");
  assert.equal(fcmTtl(3.5), "3.5s");
  assert.equal(fcmTtl(0.0001), "0s");
  assert.equal(fcmTtl(10_000_000), "2419200s");
  assert.throws(() => fcmTtl(-1));
  assert.throws(() => fcmTtl(Number.NaN));
});
