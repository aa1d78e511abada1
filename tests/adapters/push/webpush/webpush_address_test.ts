import assert from "node:assert/strict";
import webpush from "web-push";
import { createECDH } from "node:crypto";
import { Buffer } from "node:buffer";
import {
  formatWebPushAddress,
  parseWebPushAddress,
  WebPushAddressError,
} from "../../../../adapters/push/webpush/webpush_address.ts";

function subscription() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  return {
    endpoint: "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
    p256dh: ecdh.getPublicKey().toString("base64url"),
    auth: Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url"),
  };
}

Deno.test("webpush address: endpoint#p256dh#auth round-trips", () => {
  const parts = subscription();
  const address = formatWebPushAddress(parts);
  assert.equal(address, `${parts.endpoint}#${parts.p256dh}#${parts.auth}`);
  assert.deepEqual(parseWebPushAddress(address), parts);
});

Deno.test("webpush address: padded keys are normalized when formatting", () => {
  const parts = subscription();
  const padded = { ...parts, auth: `${parts.auth}==` };
  assert.equal(formatWebPushAddress(padded), formatWebPushAddress(parts));
  // Only the canonical form parses: one subscription is one string.
  assert.throws(
    () => parseWebPushAddress(`${parts.endpoint}#${parts.p256dh}#${parts.auth}==`),
    WebPushAddressError,
  );
});

Deno.test("webpush address: web-push's generated keys make a valid subscription key", () => {
  // generateVAPIDKeys' public key is a P-256 point like a browser's p256dh.
  const { publicKey } = webpush.generateVAPIDKeys();
  const parts = { ...subscription(), p256dh: publicKey };
  assert.deepEqual(parseWebPushAddress(formatWebPushAddress(parts)), parts);
});

Deno.test("webpush address: bad input is refused without quoting it", () => {
  const good = subscription();
  const offCurve = Buffer.from(good.p256dh, "base64url");
  offCurve[64] ^= 1;
  const bad: string[] = [
    "",
    good.endpoint,
    `${good.endpoint}#${good.p256dh}`,
    `${good.endpoint}#${good.p256dh}#${good.auth}#more`,
    `http://push.example/x#${good.p256dh}#${good.auth}`,
    `ftp://push.example/x#${good.p256dh}#${good.auth}`,
    `https://push.example/a b#${good.p256dh}#${good.auth}`,
    `https://push.example/a\n#${good.p256dh}#${good.auth}`,
    `https://${"a".repeat(1000)}.example/#${good.p256dh}#${good.auth}`,
    `not a url#${good.p256dh}#${good.auth}`,
    `${good.endpoint}#${offCurve.toString("base64url")}#${good.auth}`,
    `${good.endpoint}#${good.p256dh.slice(1)}#${good.auth}`,
    `${good.endpoint}#${good.p256dh}#${good.auth.slice(2)}`,
    `${good.endpoint}#${good.p256dh}#${good.auth}!`,
    `${good.endpoint}#${good.p256dh.replace(/./, "+")}#${good.auth}`,
  ];
  for (const address of bad) {
    assert.throws(() => parseWebPushAddress(address), (error: Error) => {
      assert.ok(error instanceof WebPushAddressError, `not refused: ${JSON.stringify(address)}`);
      assert.ok(!error.message.includes(good.auth), "the message quotes the address");
      return true;
    });
  }
  assert.throws(
    () => formatWebPushAddress({ ...good, endpoint: "https://push.example/x#frag" }),
    WebPushAddressError,
  );
});
