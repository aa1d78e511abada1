import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createECDH } from "node:crypto";
import ece from "http_ece";
import {
  MAX_PLAINTEXT_BYTES,
  PlaintextTooLargeError,
  ReceiverKeys,
} from "../../../../adapters/push/webpush/aes128gcm.ts";
import { EncryptionPool } from "../../../../adapters/push/webpush/encryption_pool.ts";

async function receiver() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = crypto.getRandomValues(new Uint8Array(16));
  const keys = await ReceiverKeys.import(new Uint8Array(ecdh.getPublicKey()), auth);
  return { ecdh, auth, keys };
}

Deno.test("EncryptionPool: bodies from the workers decrypt with http_ece, a fresh key each", async () => {
  const pool = new EncryptionPool(2);
  try {
    const r = await receiver();
    const texts = Array.from({ length: 20 }, (_, i) => `message ${i}`);
    const bodies = await Promise.all(
      texts.map((text) => pool.encrypt(new TextEncoder().encode(text), r.keys)),
    );
    const decrypted = bodies.map((body) =>
      ece.decrypt(Buffer.from(body), {
        version: "aes128gcm",
        privateKey: r.ecdh,
        authSecret: Buffer.from(r.auth).toString("base64url"),
      }).toString()
    );
    assert.deepEqual(decrypted, texts);
    // The key id (bytes 21-85) is the ephemeral public key: never the same twice.
    const keyIds = new Set(bodies.map((body) => body.subarray(21, 86).toHex()));
    assert.equal(keyIds.size, bodies.length);
  } finally {
    pool.close();
  }
});

Deno.test("EncryptionPool: too large is refused before a worker; closed rejects", async () => {
  const pool = new EncryptionPool(1);
  const r = await receiver();
  await assert.rejects(
    pool.encrypt(new Uint8Array(MAX_PLAINTEXT_BYTES + 1), r.keys),
    PlaintextTooLargeError,
  );
  const pending = pool.encrypt(new TextEncoder().encode("x"), r.keys);
  pool.close();
  await assert.rejects(pending, /closed/);
  await assert.rejects(pool.encrypt(new TextEncoder().encode("x"), r.keys), /closed/);
  assert.throws(() => new EncryptionPool(0), RangeError);
});
