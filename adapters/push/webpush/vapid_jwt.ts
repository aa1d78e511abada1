/**
 * The RFC 8292 VAPID JWT: `{"typ":"JWT","alg":"ES256"}` with `aud` (the push service's
 * origin), `exp` (at most 24 h ahead) and `sub` (a contact), signed ES256 with the raw
 * 64-byte r || s signature WebCrypto produces (what JWS wants, no DER).
 *
 * @module
 */

import { toBase64Url } from "./p256_keys.ts";

/** Push services refuse JWTs that expire more than 24 hours after the request. */
export const MAX_VAPID_LIFETIME_SECONDS = 24 * 60 * 60;

/** The claims of a VAPID JWT. */
export interface VapidClaims {
  /** Origin of the push resource: `https://host[:port]`, no path. */
  readonly aud: string;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
  /** Contact: `mailto:` or `https:` URI. */
  readonly sub: string;
}

const encoder = new TextEncoder();
const HEADER = toBase64Url(encoder.encode(JSON.stringify({ typ: "JWT", alg: "ES256" })));

/** Signs a VAPID JWT with the server's ECDSA P-256 key. */
export async function signVapidJwt(claims: VapidClaims, privateKey: CryptoKey): Promise<string> {
  const payload = toBase64Url(
    encoder.encode(JSON.stringify({ aud: claims.aud, exp: claims.exp, sub: claims.sub })),
  );
  const signingInput = `${HEADER}.${payload}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    privateKey,
    encoder.encode(signingInput),
  );
  return `${signingInput}.${toBase64Url(new Uint8Array(signature))}`;
}

/** The RFC 8292 §3 header value: `vapid t=<JWT>, k=<public key>`. */
export function vapidAuthorization(jwt: string, publicKey: string): string {
  return `vapid t=${jwt}, k=${publicKey}`;
}
