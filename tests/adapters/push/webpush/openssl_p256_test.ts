import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createECDH } from "node:crypto";
import ece from "http_ece";
import { encryptAes128gcm, ReceiverKeys } from "../../../../adapters/push/webpush/aes128gcm.ts";
import { EncryptionPool } from "../../../../adapters/push/webpush/encryption_pool.ts";
import {
  OpenSslP256,
  OpenSslP256Error,
  OpenSslUnavailableError,
} from "../../../../adapters/push/webpush/openssl_p256.ts";
import { toBase64Url } from "../../../../adapters/push/webpush/p256_keys.ts";

// No skip: without libcrypto.so.3 (package libssl3) or --allow-ffi these tests fail.
const p256 = OpenSslP256.open();
const agree = (point: Uint8Array) => p256.agree(point);

/** A receiver made by node:crypto, as a phone would hold it. */
function nodeReceiver() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = crypto.getRandomValues(new Uint8Array(16));
  return { ecdh, auth, p256dh: new Uint8Array(ecdh.getPublicKey()) };
}

function eceDecrypt(body: Uint8Array, ecdh: unknown, auth: Uint8Array): string {
  return new TextDecoder().decode(
    ece.decrypt(Buffer.from(body), {
      version: "aes128gcm",
      privateKey: ecdh,
      authSecret: toBase64Url(auth),
    }),
  );
}

Deno.test("OpenSSL P-256: its secret equals WebCrypto's for the same keys, both sides", async () => {
  const receiver = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const point = new Uint8Array(await crypto.subtle.exportKey("raw", receiver.publicKey));
  const seen = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const made = p256.agreeRevealingPrivateKey(point);
    assert.equal(made.publicKeyBytes.byteLength, 65);
    assert.equal(made.publicKeyBytes[0], 0x04);
    assert.equal(made.secret.byteLength, 32);
    // The same scalar in WebCrypto; the receiver side below checks the point is its.
    const ephemeral = await crypto.subtle.importKey(
      "jwk",
      {
        kty: "EC",
        crv: "P-256",
        d: toBase64Url(made.privateKey),
        x: toBase64Url(made.publicKeyBytes.subarray(1, 33)),
        y: toBase64Url(made.publicKeyBytes.subarray(33)),
      },
      { name: "ECDH", namedCurve: "P-256" },
      false,
      ["deriveBits"],
    );
    const ours = await crypto.subtle.deriveBits(
      { name: "ECDH", public: receiver.publicKey },
      ephemeral,
      256,
    );
    assert.deepEqual(new Uint8Array(ours), made.secret);
    // And the receiver's side, from the ephemeral public point alone.
    const ephemeralPublic = await crypto.subtle.importKey(
      "raw",
      made.publicKeyBytes,
      { name: "ECDH", namedCurve: "P-256" },
      false,
      [],
    );
    const theirs = await crypto.subtle.deriveBits(
      { name: "ECDH", public: ephemeralPublic },
      receiver.privateKey,
      256,
    );
    assert.deepEqual(new Uint8Array(theirs), made.secret);
    seen.add(made.publicKeyBytes.toHex());
  }
  assert.equal(seen.size, 10, "a fresh key pair each call");
});

Deno.test("OpenSSL P-256: bad peer points are refused with an error", () => {
  const good = nodeReceiver().p256dh;
  const offCurve = good.slice();
  offCurve[64] ^= 1;
  const compressed = new Uint8Array(65);
  compressed.set(good.subarray(0, 33));
  compressed[0] = 0x02;
  const bad = [offCurve, good.subarray(0, 64), new Uint8Array(65), compressed, new Uint8Array(0)];
  for (const point of bad) {
    assert.throws(() => p256.agree(point), OpenSslP256Error);
  }
  // Still usable afterwards.
  assert.equal(p256.agree(good).secret.byteLength, 32);
});

Deno.test("OpenSSL P-256: a library that cannot be loaded is a clear error", () => {
  assert.throws(
    () => OpenSslP256.open("/nonexistent/libcrypto.so.3"),
    (error) => error instanceof OpenSslUnavailableError && /libcrypto/.test(error.message),
  );
});

Deno.test("aes128gcm with OpenSSL's ECDH: http_ece decrypts the bodies, fresh keys each", async () => {
  const phone = nodeReceiver();
  const receiver = await ReceiverKeys.import(phone.p256dh, phone.auth);
  const text = JSON.stringify({ account: "a1", messages: 3, é: "ü" });
  const plain = new TextEncoder().encode(text);
  const first = await encryptAes128gcm(plain, receiver, { agree });
  const second = await encryptAes128gcm(plain, receiver, { agree, paddingBytes: 7 });
  assert.notDeepEqual(first.subarray(21, 86), second.subarray(21, 86));
  assert.equal(first.byteLength, 86 + plain.byteLength + 1 + 16);
  assert.equal(second.byteLength, 86 + plain.byteLength + 1 + 7 + 16);
  for (const body of [first, second]) assert.equal(eceDecrypt(body, phone.ecdh, phone.auth), text);
});

Deno.test("EncryptionPool with OpenSSL's ECDH: the workers' bodies decrypt with http_ece", async () => {
  const pool = new EncryptionPool(2, "openssl");
  try {
    const phone = nodeReceiver();
    const receiver = await ReceiverKeys.import(phone.p256dh, phone.auth);
    const texts = Array.from({ length: 6 }, (_, i) => `message ${i}`);
    const bodies = await Promise.all(
      texts.map((t) => pool.encrypt(new TextEncoder().encode(t), receiver)),
    );
    assert.deepEqual(bodies.map((b) => eceDecrypt(b, phone.ecdh, phone.auth)), texts);
    assert.equal(new Set(bodies.map((b) => b.subarray(21, 86).toHex())).size, 6);
  } finally {
    pool.close();
  }
});
