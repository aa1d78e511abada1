/**
 * P-256 key conversions shared by message encryption (ECDH) and VAPID (ECDSA): raw
 * uncompressed points (65 bytes, 0x04 || x || y, the form Web Push puts on the wire), base64url,
 * and WebCrypto keys. WebCrypto cannot import a bare private scalar as "raw", so private keys go
 * through a JWK built from the scalar `d` and the public point.
 *
 * @module
 */

/** Length of an uncompressed P-256 point: 0x04 || x (32) || y (32). */
export const P256_PUBLIC_KEY_BYTES = 65;
/** Length of a P-256 private scalar. */
export const P256_PRIVATE_KEY_BYTES = 32;

/** URL-safe base64 without padding (RFC 4648 §5), as Web Push writes keys and JWTs. */
export function toBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Decodes URL-safe base64 (padding optional); throws SyntaxError on other characters. */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.fromBase64(text, { alphabet: "base64url" });
}

/** True when `bytes` has the shape of an uncompressed P-256 point (not yet checked on the curve). */
export function isUncompressedPoint(bytes: Uint8Array): boolean {
  return bytes.byteLength === P256_PUBLIC_KEY_BYTES && bytes[0] === 0x04;
}

// Curve parameters of P-256 (SEC 2 / FIPS 186-4), for the on-curve check below.
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

function bigEndian(bytes: Uint8Array): bigint {
  return BigInt(`0x${bytes.toHex()}`);
}

/**
 * True when `bytes` is an uncompressed point on P-256 (y² = x³ − 3x + b mod p). Deno's
 * WebCrypto imports any 65 bytes as a "raw" public key and only fails later, in ECDH, with a
 * misleading message: keys that come from users are checked here first.
 */
export function isP256Point(bytes: Uint8Array): boolean {
  if (!isUncompressedPoint(bytes)) return false;
  const x = bigEndian(bytes.subarray(1, 33));
  const y = bigEndian(bytes.subarray(33, 65));
  if (x >= P || y >= P) return false;
  const right = ((x * x % P) * x - 3n * x + B) % P;
  return (y * y - right) % P === 0n;
}

/** The public JWK members of an uncompressed point. */
function publicJwk(publicKey: Uint8Array): JsonWebKey {
  if (!isUncompressedPoint(publicKey)) {
    throw new RangeError("a P-256 public key is 65 bytes starting with 0x04");
  }
  return {
    kty: "EC",
    crv: "P-256",
    x: toBase64Url(publicKey.subarray(1, 33)),
    y: toBase64Url(publicKey.subarray(33, 65)),
  };
}

/** The private JWK of scalar `d` with public point `publicKey`. */
export function privateJwk(privateKey: Uint8Array, publicKey: Uint8Array): JsonWebKey {
  if (privateKey.byteLength !== P256_PRIVATE_KEY_BYTES) {
    throw new RangeError("a P-256 private key is 32 bytes");
  }
  return { ...publicJwk(publicKey), d: toBase64Url(privateKey) };
}

/** Imports an uncompressed point as an ECDH public key; rejects points not on the curve. */
export function importEcdhPublicKey(publicKey: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  if (!isP256Point(publicKey)) {
    return Promise.reject(new RangeError("not an uncompressed P-256 point on the curve"));
  }
  return crypto.subtle.importKey("raw", publicKey, { name: "ECDH", namedCurve: "P-256" }, true, []);
}

/** Imports scalar `d` (with its public point) as an ECDH private key. */
export function importEcdhPrivateKey(
  privateKey: Uint8Array,
  publicKey: Uint8Array,
): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "jwk",
    privateJwk(privateKey, publicKey),
    { name: "ECDH", namedCurve: "P-256" },
    false,
    ["deriveBits"],
  );
}

/** The uncompressed point of a public key. */
export async function exportRawPublicKey(publicKey: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
}
