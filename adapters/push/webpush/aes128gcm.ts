/**
 * RFC 8291 message encryption for Web Push: ECDH P-256 with the subscription's key and auth
 * secret, HKDF-SHA-256, and one RFC 8188 `aes128gcm` record, with WebCrypto and node:crypto
 * (no hand-written primitives).
 *
 * Body layout: salt (16) || rs (uint32 BE) || idlen (1) = 65 || sender public key (65) ||
 * AES-128-GCM(plaintext || 0x02 || zero padding) with its 16-byte tag. Header 86 bytes; the
 * body stays within 4096 bytes (RFC 8030's minimum a push service must accept, and
 * UnifiedPush's maximum), hence at most 3993 bytes of plaintext.
 *
 * The key pair and ECDH are WebCrypto's (the two P-256 scalar multiplications are most of a
 * push's CPU; see {@link generateEphemeralKey} for how the first is kept cheap), or, opt-in,
 * OpenSSL's through `EncryptOptions.agree` (`openssl_p256.ts`, about 4× less CPU; synchronous
 * FFI calls of ~140 µs in the calling thread); HKDF and AES-GCM are node:crypto's synchronous calls, which cost a fraction of
 * WebCrypto's asynchronous ones (bench/webpush_encrypt.ts: about a quarter of the CPU of an
 * encryption saved, issue 16).
 *
 * @module
 */

import { createCipheriv, hkdfSync } from "node:crypto";
import { exportRawPublicKey, importEcdhPublicKey, isUncompressedPoint } from "./p256_keys.ts";
import type { EphemeralAgreement } from "./openssl_p256.ts";

/** The record size written in the header; one record always fits. */
export const RECORD_SIZE = 4096;
/** salt (16) + rs (4) + idlen (1) + key id (65). */
export const HEADER_BYTES = 86;
/** AES-GCM tag length. */
const TAG_BYTES = 16;
/** Largest body we send (RFC 8030 §7.2: push services accept at least this). */
export const MAX_BODY_BYTES = 4096;
/** Largest plaintext (plus padding) that fits: 4096 − 86 − 16 − 1 (delimiter) = 3993. */
export const MAX_PLAINTEXT_BYTES = MAX_BODY_BYTES - HEADER_BYTES - TAG_BYTES - 1;
const SALT_BYTES = 16;
const AUTH_SECRET_BYTES = 16;

const encoder = new TextEncoder();
const KEY_INFO_PREFIX = encoder.encode("WebPush: info\0");
const CEK_INFO = encoder.encode("Content-Encoding: aes128gcm\0");
const NONCE_INFO = encoder.encode("Content-Encoding: nonce\0");

/** Thrown when the plaintext (with padding) does not fit one 4096-byte body. */
export class PlaintextTooLargeError extends RangeError {
  override name = "PlaintextTooLargeError";
  constructor(readonly bytes: number) {
    super(`Web Push plaintext of ${bytes} bytes exceeds ${MAX_PLAINTEXT_BYTES} bytes`);
  }
}

/**
 * A subscription's receiving keys, imported once and reused for every message to it (the
 * import checks the point is on the curve).
 */
export class ReceiverKeys {
  private constructor(
    /** The user agent's public key as an ECDH key. */
    readonly publicKey: CryptoKey,
    /** The same key as an uncompressed point (65 bytes). */
    readonly publicKeyBytes: Uint8Array<ArrayBuffer>,
    /** The 16-byte auth secret. */
    readonly authSecret: Uint8Array<ArrayBuffer>,
  ) {}

  /** Imports `p256dh` (65-byte point) and `auth` (16 bytes); rejects malformed keys. */
  static async import(
    p256dh: Uint8Array<ArrayBuffer>,
    auth: Uint8Array<ArrayBuffer>,
  ): Promise<ReceiverKeys> {
    if (!isUncompressedPoint(p256dh)) {
      throw new RangeError("p256dh must be a 65-byte uncompressed P-256 point");
    }
    if (auth.byteLength !== AUTH_SECRET_BYTES) {
      throw new RangeError("auth must be 16 bytes");
    }
    return new ReceiverKeys(await importEcdhPublicKey(p256dh), p256dh.slice(), auth.slice());
  }
}

/** The sender's ephemeral ECDH key pair for one message. */
export interface EphemeralKey {
  readonly privateKey: CryptoKey;
  /** Uncompressed point, 65 bytes: it becomes the record's key id. */
  readonly publicKeyBytes: Uint8Array<ArrayBuffer>;
}

/** Options of {@link encryptAes128gcm}; the injections exist for the RFC test vector. */
export interface EncryptOptions {
  /** The ephemeral key pair; default a fresh one per message (RFC 8291 requires that). */
  readonly ephemeralKey?: EphemeralKey;
  /** The 16-byte salt; default random. */
  readonly salt?: Uint8Array<ArrayBuffer>;
  /** Zero bytes after the delimiter, to hide the plaintext's length. Default 0. */
  readonly paddingBytes?: number;
  /**
   * Makes the fresh ephemeral pair and its ECDH secret with the receiver's point instead of
   * WebCrypto (OpenSSL's, `openssl_p256.ts`, opt-in). Not used with `ephemeralKey`.
   */
  readonly agree?: (receiverPoint: Uint8Array) => EphemeralAgreement;
}

/** `[1] { BIT STRING, 0 unused bits }` just before a 65-byte point at the end of a PKCS#8. */
const PKCS8_PUBLIC_KEY_TAIL = [0xa1, 0x44, 0x03, 0x42, 0x00];

/**
 * A fresh ephemeral P-256 key pair (one per message, RFC 8291).
 *
 * Why an ECDSA pair: Deno makes ECDSA pairs with a fast fixed-base multiplication and keeps
 * the public point inside the private key's PKCS#8 (RFC 5915 `publicKey`), which exports for
 * a copy, whereas exporting an ECDH pair's public key multiplies again, slowly (about 400 µs:
 * BENCHMARKS.md, Web Push). The scalar is imported back as an ECDH key (the algorithm OID is
 * the same id-ecPublicKey). A PKCS#8 without the point falls back to exporting it.
 */
export async function generateEphemeralKey(): Promise<EphemeralKey> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ]) as CryptoKeyPair;
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "ECDH", namedCurve: "P-256" },
    false,
    ["deriveBits"],
  );
  const at = der.byteLength - 65;
  const tailed = at > PKCS8_PUBLIC_KEY_TAIL.length &&
    PKCS8_PUBLIC_KEY_TAIL.every((byte, i) => der[at - PKCS8_PUBLIC_KEY_TAIL.length + i] === byte);
  const publicKeyBytes = tailed && isUncompressedPoint(der.subarray(at))
    ? der.slice(at)
    : await exportRawPublicKey(pair.publicKey);
  return { privateKey, publicKeyBytes };
}

/** HKDF-SHA-256 (extract and expand) of `lengthBytes` bytes. */
function hkdf(
  salt: Uint8Array,
  ikm: Uint8Array,
  info: Uint8Array,
  lengthBytes: number,
): Uint8Array<ArrayBuffer> {
  return new Uint8Array(hkdfSync("sha256", ikm, salt, info, lengthBytes));
}

/** The content-encryption key and nonce from the ECDH secret (RFC 8291 §3.3–3.4). */
function contentKeys(
  receiver: ReceiverKeys,
  ephemeralPublic: Uint8Array,
  ecdhSecret: Uint8Array,
  salt: Uint8Array,
): { ikm: Uint8Array; cek: Uint8Array<ArrayBuffer>; nonce: Uint8Array<ArrayBuffer> } {
  const keyInfo = new Uint8Array(KEY_INFO_PREFIX.byteLength + 130);
  keyInfo.set(KEY_INFO_PREFIX);
  keyInfo.set(receiver.publicKeyBytes, KEY_INFO_PREFIX.byteLength);
  keyInfo.set(ephemeralPublic, KEY_INFO_PREFIX.byteLength + 65);
  const ikm = hkdf(receiver.authSecret, ecdhSecret, keyInfo, 32);
  return { ikm, cek: hkdf(salt, ikm, CEK_INFO, 16), nonce: hkdf(salt, ikm, NONCE_INFO, 12) };
}

function ecdh(receiver: ReceiverKeys, privateKey: CryptoKey): Promise<ArrayBuffer> {
  return crypto.subtle.deriveBits({ name: "ECDH", public: receiver.publicKey }, privateKey, 256);
}

/**
 * The content-encryption key and nonce of one message (RFC 8291 §3.3–3.4, RFC 8188 §2.2):
 * exported for tests that check intermediate values.
 */
export async function deriveContentKeys(
  receiver: ReceiverKeys,
  ephemeral: EphemeralKey,
  salt: Uint8Array<ArrayBuffer>,
): Promise<{ ikm: Uint8Array; cek: Uint8Array<ArrayBuffer>; nonce: Uint8Array<ArrayBuffer> }> {
  const secret = new Uint8Array(await ecdh(receiver, ephemeral.privateKey));
  return contentKeys(receiver, ephemeral.publicKeyBytes, secret, salt);
}

/**
 * Encrypts `plaintext` for one subscription into an `aes128gcm` body (one record, rs 4096).
 * Throws {@link PlaintextTooLargeError} when plaintext and padding exceed 3993 bytes.
 */
export async function encryptAes128gcm(
  plaintext: Uint8Array,
  receiver: ReceiverKeys,
  options: EncryptOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const padding = options.paddingBytes ?? 0;
  if (!Number.isSafeInteger(padding) || padding < 0) {
    throw new RangeError("paddingBytes must be a non-negative integer");
  }
  if (plaintext.byteLength + padding > MAX_PLAINTEXT_BYTES) {
    throw new PlaintextTooLargeError(plaintext.byteLength + padding);
  }
  const salt = options.salt ?? crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  if (salt.byteLength !== SALT_BYTES) throw new RangeError("salt must be 16 bytes");
  let ephemeralPublic: Uint8Array;
  let secret: ArrayBuffer | Uint8Array;
  if (options.ephemeralKey !== undefined) {
    ephemeralPublic = options.ephemeralKey.publicKeyBytes;
    secret = await ecdh(receiver, options.ephemeralKey.privateKey);
  } else if (options.agree !== undefined) {
    const agreed = options.agree(receiver.publicKeyBytes);
    ephemeralPublic = agreed.publicKeyBytes;
    secret = agreed.secret;
  } else {
    // A fresh pair per message (RFC 8291).
    const ephemeral = await generateEphemeralKey();
    ephemeralPublic = ephemeral.publicKeyBytes;
    secret = await ecdh(receiver, ephemeral.privateKey);
  }
  if (!isUncompressedPoint(ephemeralPublic)) {
    throw new RangeError("the ephemeral public key must be a 65-byte uncompressed point");
  }
  const { cek, nonce } = contentKeys(receiver, ephemeralPublic, new Uint8Array(secret), salt);

  // plaintext || 0x02 (last record) || zero padding; the array is zero-filled already.
  const record = new Uint8Array(plaintext.byteLength + 1 + padding);
  record.set(plaintext);
  record[plaintext.byteLength] = 0x02;
  const cipher = createCipheriv("aes-128-gcm", cek, nonce);
  const head = cipher.update(record);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  const sealed = new Uint8Array(head.byteLength + tail.byteLength + tag.byteLength);
  sealed.set(head);
  sealed.set(tail, head.byteLength);
  sealed.set(tag, head.byteLength + tail.byteLength);

  const body = new Uint8Array(HEADER_BYTES + sealed.byteLength);
  body.set(salt, 0);
  new DataView(body.buffer).setUint32(16, RECORD_SIZE);
  body[20] = ephemeralPublic.byteLength;
  body.set(ephemeralPublic, 21);
  body.set(sealed, HEADER_BYTES);
  return body;
}
