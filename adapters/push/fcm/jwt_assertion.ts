/**
 * The RFC 7523 JWT bearer assertion a service account trades for an OAuth access token:
 * RS256 over `{iss, scope, aud, iat, exp}`, signed with WebCrypto.
 *
 * @module
 */

import type { ServiceAccount } from "./service_account.ts";

/** The scope FCM HTTP v1 needs. */
export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";

/** Google refuses assertions living longer than an hour. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 3600;

const RS256 = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/**
 * Imports the service account's PEM PKCS#8 private key for RS256 signing (not extractable).
 *
 * @throws {Error} when the key is not an RSA PKCS#8 key; the message holds no key material.
 */
export async function importServiceAccountKey(pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  let der: Uint8Array<ArrayBuffer>;
  try {
    der = Uint8Array.fromBase64(body);
  } catch {
    throw new Error("the service account's private_key is not base64 PEM");
  }
  try {
    return await crypto.subtle.importKey("pkcs8", der, RS256, false, ["sign"]);
  } catch {
    throw new Error("the service account's private_key is not an RSA PKCS#8 key");
  }
}

/** Claims of the assertion, in seconds since the epoch. */
export interface AssertionClaims {
  readonly iss: string;
  readonly scope: string;
  readonly aud: string;
  readonly iat: number;
  readonly exp: number;
}

/** What {@link signAssertion} needs. */
export interface AssertionInput {
  readonly account: Pick<ServiceAccount, "client_email" | "token_uri" | "private_key_id">;
  readonly key: CryptoKey;
  /** Epoch milliseconds. */
  readonly now: number;
  /** Default {@link FCM_SCOPE}. */
  readonly scope?: string;
  /** Default and maximum {@link MAX_ASSERTION_LIFETIME_SECONDS}. */
  readonly lifetimeSeconds?: number;
}

/** The claims {@link signAssertion} signs. */
export function assertionClaims(input: Omit<AssertionInput, "key">): AssertionClaims {
  const iat = Math.floor(input.now / 1000);
  const lifetime = Math.min(
    input.lifetimeSeconds ?? MAX_ASSERTION_LIFETIME_SECONDS,
    MAX_ASSERTION_LIFETIME_SECONDS,
  );
  return {
    iss: input.account.client_email,
    scope: input.scope ?? FCM_SCOPE,
    aud: input.account.token_uri,
    iat,
    exp: iat + lifetime,
  };
}

/** A signed compact JWT (`header.claims.signature`, base64url without padding). */
export async function signAssertion(input: AssertionInput): Promise<string> {
  const header: Record<string, string> = { alg: "RS256", typ: "JWT" };
  if (input.account.private_key_id !== undefined) header.kid = input.account.private_key_id;
  const encoder = new TextEncoder();
  const signingInput = `${base64UrlJson(header)}.${base64UrlJson(assertionClaims(input))}`;
  const signature = await crypto.subtle.sign(RS256, input.key, encoder.encode(signingInput));
  return `${signingInput}.${base64Url(new Uint8Array(signature))}`;
}

function base64UrlJson(value: unknown): string {
  return base64Url(new TextEncoder().encode(JSON.stringify(value)));
}

function base64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}
