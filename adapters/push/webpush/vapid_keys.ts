/**
 * The server's VAPID key pair (RFC 8292): one long-lived ECDSA P-256 key that signs every
 * push's JWT; subscriptions made with its public key accept only pushes signed with it, so it
 * must survive restarts and be shared by every instance.
 *
 * Serialized form (configuration and storage), the same strings as web-push's
 * `generateVAPIDKeys()` / `web-push generate-vapid-keys`, so an operator can bring keys made
 * with that tool:
 *
 * ```json
 * { "publicKey": "<base64url of the 65-byte uncompressed point, 87 chars>",
 *   "privateKey": "<base64url of the 32-byte private scalar: the JWK `d` member, 43 chars>" }
 * ```
 *
 * The private key is imported as the JWK `{kty: "EC", crv: "P-256", d, x, y}` built from both
 * strings; loading checks that the two halves belong together (a test signature).
 *
 * @module
 */

import { z } from "zod";
import {
  exportRawPublicKey,
  fromBase64Url,
  isP256Point,
  P256_PRIVATE_KEY_BYTES,
  privateJwk,
  toBase64Url,
} from "./p256_keys.ts";

const ECDSA_IMPORT = { name: "ECDSA", namedCurve: "P-256" } as const;
const ES256 = { name: "ECDSA", hash: "SHA-256" } as const;

function base64UrlOfLength(bytes: number, what: string) {
  return z.string().regex(/^[A-Za-z0-9_-]+$/, `${what} must be base64url without padding`)
    .refine((text) => {
      try {
        return fromBase64Url(text).byteLength === bytes;
      } catch {
        return false;
      }
    }, `${what} must encode ${bytes} bytes`);
}

/** The serialized key pair, as it comes from configuration or storage. */
export const vapidKeysSchema = z.object({
  publicKey: base64UrlOfLength(65, "publicKey").refine(
    (text) => isP256Point(fromBase64Url(text)),
    "publicKey must be an uncompressed P-256 point",
  ),
  privateKey: base64UrlOfLength(P256_PRIVATE_KEY_BYTES, "privateKey"),
}).strict();

/** The serialized key pair; see the module comment. */
export type SerializedVapidKeys = z.infer<typeof vapidKeysSchema>;

/** Thrown when serialized VAPID keys are malformed or do not belong together. */
export class VapidKeyError extends Error {
  override name = "VapidKeyError";
}

/** The server's VAPID key pair, ready to sign. */
export class VapidKeys {
  readonly #privateScalar: string;

  private constructor(
    /** ECDSA P-256 signing key. */
    readonly privateKey: CryptoKey,
    /** The public key as an uncompressed point (65 bytes). */
    readonly publicKeyBytes: Uint8Array<ArrayBuffer>,
    /** Its base64url form: the `k=` of the Authorization header and the application server key. */
    readonly publicKey: string,
    privateScalar: string,
  ) {
    this.#privateScalar = privateScalar;
  }

  /** A new random key pair. */
  static async generate(): Promise<VapidKeys> {
    const pair = await crypto.subtle.generateKey(ECDSA_IMPORT, true, ["sign", "verify"]);
    const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    const publicKeyBytes = await exportRawPublicKey(pair.publicKey);
    return new VapidKeys(pair.privateKey, publicKeyBytes, toBase64Url(publicKeyBytes), jwk.d!);
  }

  /**
   * Loads serialized keys (configuration or storage: untrusted shape). Throws
   * {@link VapidKeyError} naming the bad field, or when the halves do not match. The message
   * never quotes the private key.
   */
  static async load(input: unknown): Promise<VapidKeys> {
    const parsed = vapidKeysSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new VapidKeyError(`invalid VAPID keys: ${issue.path.join(".")}: ${issue.message}`);
    }
    const publicKeyBytes = fromBase64Url(parsed.data.publicKey);
    let privateKey: CryptoKey;
    let publicKey: CryptoKey;
    try {
      privateKey = await crypto.subtle.importKey(
        "jwk",
        privateJwk(fromBase64Url(parsed.data.privateKey), publicKeyBytes),
        ECDSA_IMPORT,
        false,
        ["sign"],
      );
      publicKey = await crypto.subtle.importKey("raw", publicKeyBytes, ECDSA_IMPORT, false, [
        "verify",
      ]);
    } catch {
      throw new VapidKeyError("invalid VAPID keys: the private key cannot be imported");
    }
    // WebCrypto does not check that d matches x, y: a signature does.
    const probe = new TextEncoder().encode("vapid key check");
    const signature = await crypto.subtle.sign(ES256, privateKey, probe);
    if (!await crypto.subtle.verify(ES256, publicKey, signature, probe)) {
      throw new VapidKeyError("invalid VAPID keys: the private key does not match the public key");
    }
    return new VapidKeys(privateKey, publicKeyBytes, parsed.data.publicKey, parsed.data.privateKey);
  }

  /** The serialized form, for storage; it contains the private key: never log it. */
  serialize(): SerializedVapidKeys {
    return { publicKey: this.publicKey, privateKey: this.#privateScalar };
  }

  /** Only the public key: keeps the private scalar out of logs and JSON dumps. */
  toJSON(): { publicKey: string } {
    return { publicKey: this.publicKey };
  }
}
