import assert from "node:assert/strict";
import { createECDH } from "node:crypto";
import { loadSubscription } from "../../../../adapters/push/webpush/subscription.ts";

function browserLike() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return {
    endpoint: "https://push.example/wpush/v2/abc",
    keys: {
      p256dh: ecdh.getPublicKey().toString("base64url"),
      auth: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url"),
    },
  };
}

Deno.test("subscription: the browser's toJSON() shape loads, padded base64url too", async () => {
  const json = browserLike();
  const loaded = await loadSubscription(json);
  assert.equal(loaded.endpoint, json.endpoint);
  assert.equal(loaded.keys.publicKeyBytes.byteLength, 65);
  assert.equal(loaded.keys.authSecret.byteLength, 16);
  const padded = { ...json, keys: { ...json.keys, auth: `${json.keys.auth}==` } };
  assert.deepEqual((await loadSubscription(padded)).keys.authSecret, loaded.keys.authSecret);
});

Deno.test("subscription: malformed input is refused", async () => {
  const json = browserLike();
  const offCurve = Buffer.from(json.keys.p256dh, "base64url");
  offCurve[64] ^= 1;
  const bad: unknown[] = [
    null,
    "https://push.example/x",
    { endpoint: json.endpoint },
    { ...json, endpoint: "" },
    { ...json, endpoint: `https://push.example/${"a".repeat(1000)}` },
    { ...json, keys: { ...json.keys, p256dh: json.keys.p256dh.slice(4) } },
    { ...json, keys: { ...json.keys, p256dh: offCurve.toString("base64url") } },
    { ...json, keys: { ...json.keys, p256dh: json.keys.p256dh.replace(/.$/, "+") } },
    { ...json, keys: { ...json.keys, auth: json.keys.auth.slice(2) } },
    { ...json, keys: { ...json.keys, auth: 12 } },
  ];
  for (const input of bad) {
    await assert.rejects(loadSubscription(input), Error, JSON.stringify(input)?.slice(0, 80));
  }
});
