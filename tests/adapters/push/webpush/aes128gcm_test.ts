import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createECDH } from "node:crypto";
import ece from "http_ece";
import {
  deriveContentKeys,
  encryptAes128gcm,
  generateEphemeralKey,
  MAX_PLAINTEXT_BYTES,
  PlaintextTooLargeError,
  ReceiverKeys,
} from "../../../../adapters/push/webpush/aes128gcm.ts";
import {
  fromBase64Url,
  importEcdhPrivateKey,
  toBase64Url,
} from "../../../../adapters/push/webpush/p256_keys.ts";

const vector = JSON.parse(
  await Deno.readTextFile(
    new URL("../../../fixtures/webpush/rfc8291_appendix_a.json", import.meta.url),
  ),
) as Record<string, string>;

async function vectorInputs() {
  const receiver = await ReceiverKeys.import(
    fromBase64Url(vector.uaPublic),
    fromBase64Url(vector.authSecret),
  );
  const publicKeyBytes = fromBase64Url(vector.asPublic);
  const ephemeralKey = {
    privateKey: await importEcdhPrivateKey(fromBase64Url(vector.asPrivate), publicKeyBytes),
    publicKeyBytes,
  };
  return { receiver, ephemeralKey, salt: fromBase64Url(vector.salt) };
}

/** A receiver made by node:crypto (another code base than ours), as a phone would hold it. */
function nodeReceiver() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = crypto.getRandomValues(new Uint8Array(16));
  return { ecdh, auth, p256dh: new Uint8Array(ecdh.getPublicKey()) };
}

function eceDecrypt(body: Uint8Array, ecdh: unknown, auth: Uint8Array): Uint8Array {
  return new Uint8Array(
    ece.decrypt(Buffer.from(body), {
      version: "aes128gcm",
      privateKey: ecdh,
      authSecret: toBase64Url(auth),
    }),
  );
}

Deno.test("RFC 8291 Appendix A: IKM, CEK and NONCE match the vector", async () => {
  const { receiver, ephemeralKey, salt } = await vectorInputs();
  const keys = await deriveContentKeys(receiver, ephemeralKey, salt);
  assert.equal(toBase64Url(keys.ikm), vector.ikm);
  assert.equal(toBase64Url(keys.cek), vector.cek);
  assert.equal(toBase64Url(keys.nonce), vector.nonce);
});

Deno.test("RFC 8291 Appendix A: the body matches byte for byte", async () => {
  const { receiver, ephemeralKey, salt } = await vectorInputs();
  const body = await encryptAes128gcm(
    new TextEncoder().encode(vector.plaintext),
    receiver,
    { ephemeralKey, salt },
  );
  assert.equal(body.byteLength, 144);
  assert.deepEqual(body, fromBase64Url(vector.body));
});

Deno.test("RFC 8291 Appendix A: http_ece decrypts the vector body with the UA key", () => {
  // Checks the fixture itself with an independent implementation.
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(fromBase64Url(vector.uaPrivate)));
  const plain = eceDecrypt(fromBase64Url(vector.body), ecdh, fromBase64Url(vector.authSecret));
  assert.equal(new TextDecoder().decode(plain), vector.plaintext);
});

Deno.test("aes128gcm: http_ece decrypts our bodies for node:crypto keys", async () => {
  const phone = nodeReceiver();
  const receiver = await ReceiverKeys.import(phone.p256dh, phone.auth);
  const text = JSON.stringify({ account: "a1", messages: 3, é: "ü" });
  const plain = new TextEncoder().encode(text);
  const first = await encryptAes128gcm(plain, receiver);
  const second = await encryptAes128gcm(plain, receiver);
  // Fresh salt and ephemeral key per message.
  assert.notDeepEqual(first.subarray(0, 16), second.subarray(0, 16));
  assert.notDeepEqual(first.subarray(21, 86), second.subarray(21, 86));
  for (const body of [first, second]) {
    assert.equal(body.byteLength, 86 + plain.byteLength + 1 + 16);
    assert.equal(new TextDecoder().decode(eceDecrypt(body, phone.ecdh, phone.auth)), text);
  }
});

Deno.test("aes128gcm: padding is added after the delimiter and stripped by the receiver", async () => {
  const phone = nodeReceiver();
  const receiver = await ReceiverKeys.import(phone.p256dh, phone.auth);
  const plain = new TextEncoder().encode("{}");
  const body = await encryptAes128gcm(plain, receiver, { paddingBytes: 100 });
  assert.equal(body.byteLength, 86 + 2 + 1 + 100 + 16);
  assert.deepEqual(eceDecrypt(body, phone.ecdh, phone.auth), plain);
});

Deno.test("aes128gcm: 3993 bytes fit in a 4096-byte body, 3994 are refused clearly", async () => {
  const phone = nodeReceiver();
  const receiver = await ReceiverKeys.import(phone.p256dh, phone.auth);
  assert.equal(MAX_PLAINTEXT_BYTES, 3993);
  const largest = new Uint8Array(3993).fill(0x61);
  const body = await encryptAes128gcm(largest, receiver);
  assert.equal(body.byteLength, 4096);
  assert.deepEqual(eceDecrypt(body, phone.ecdh, phone.auth), largest);
  await assert.rejects(
    encryptAes128gcm(new Uint8Array(3994), receiver),
    (error: unknown) =>
      error instanceof PlaintextTooLargeError && error.bytes === 3994 &&
      /3994 bytes exceeds 3993/.test(error.message),
  );
  await assert.rejects(
    encryptAes128gcm(new Uint8Array(3000), receiver, { paddingBytes: 994 }),
    PlaintextTooLargeError,
  );
});

Deno.test("aes128gcm: malformed subscription keys are refused at import", async () => {
  const phone = nodeReceiver();
  const notOnCurve = phone.p256dh.slice();
  notOnCurve[64] ^= 1;
  const compressed = new Uint8Array(phone.ecdh.getPublicKey(undefined, "compressed"));
  for (
    const [p256dh, auth] of [
      [phone.p256dh.subarray(0, 64), phone.auth],
      [compressed, phone.auth],
      [notOnCurve, phone.auth],
      [phone.p256dh, phone.auth.subarray(0, 15)],
    ] as const
  ) {
    await assert.rejects(ReceiverKeys.import(p256dh.slice(), auth.slice()));
  }
});

Deno.test("generateEphemeralKey: a fresh pair each time whose public point is its scalar's", async () => {
  const receiver = createECDH("prime256v1");
  receiver.generateKeys();
  const publicKey = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(receiver.getPublicKey()),
    { name: "ECDH", namedCurve: "P-256" },
    false,
    [],
  );
  const seen = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const ephemeral = await generateEphemeralKey();
    assert.equal(ephemeral.publicKeyBytes.byteLength, 65);
    assert.equal(ephemeral.publicKeyBytes[0], 0x04);
    seen.add(ephemeral.publicKeyBytes.toHex());
    // Both sides of the ECDH agree only if the point we send is the scalar's.
    const ours = new Uint8Array(
      await crypto.subtle.deriveBits(
        { name: "ECDH", public: publicKey },
        ephemeral.privateKey,
        256,
      ),
    );
    const theirs = receiver.computeSecret(Buffer.from(ephemeral.publicKeyBytes));
    assert.equal(ours.toHex(), theirs.toString("hex"));
  }
  assert.equal(seen.size, 5);
});
