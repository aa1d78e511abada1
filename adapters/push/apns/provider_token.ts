/**
 * The APNs provider token (apns.md §2): an ES256 JWT signed with the team's `.p8` key,
 * header `{alg: "ES256", kid}`, claims `{iss: teamId, iat}`, sent as `authorization: bearer`.
 * Apple wants it renewed no more than once per 20 minutes (else 429
 * TooManyProviderTokenUpdates) and no less than once per hour (else 403
 * ExpiredProviderToken), and the same token reused for every request meanwhile.
 *
 * Signed with WebCrypto, whose ECDSA signature already is the JWS form (raw r||s); the key
 * is imported non-extractable and neither it nor a JWT is ever logged or put in an error.
 *
 * @module
 */

import type { Clock } from "../../../domain/ports/clock.ts";

const MINUTE_MS = 60_000;
/** Apple: renew no more often than this. */
export const MIN_RENEWAL_INTERVAL_MS = 20 * MINUTE_MS;
/** Apple: a token older than this is refused (403 ExpiredProviderToken). */
export const PROVIDER_TOKEN_LIFETIME_MS = 60 * MINUTE_MS;
/** When a token is renewed by default: well inside both bounds. */
export const DEFAULT_RENEW_AFTER_MS = 45 * MINUTE_MS;

/** Apple's key ids and team ids: 10 upper-case letters and digits. */
const APPLE_ID = /^[A-Z0-9]{10}$/;

/** Settings of an {@link ApnsProviderToken}. */
export interface ProviderTokenOptions {
  /** The key's 10-character Key ID (`kid`). */
  readonly keyId: string;
  /** The developer account's 10-character Team ID (`iss`). */
  readonly teamId: string;
  /** The `AuthKey_<KEYID>.p8` file's text: a PKCS#8 PEM EC P-256 private key. */
  readonly privateKeyPem: string;
  readonly clock: Clock;
  /**
   * Age at which the token is renewed before use; at least 20 minutes and less than 60.
   * Default 45 minutes.
   */
  readonly renewAfterMs?: number;
}

/** What a provider token did, for metrics. */
export interface ProviderTokenCounters {
  /** Tokens signed, the first one included. */
  readonly signed: number;
  /** Renewals because APNs said ExpiredProviderToken. */
  readonly forcedRenewals: number;
  /** ExpiredProviderToken answers that did not renew (another renewal was too recent). */
  readonly refusedRenewals: number;
}

interface SignedToken {
  readonly jwt: string;
  /** Epoch ms of its `iat` (whole seconds). */
  readonly issuedAt: number;
}

/** The provider token of one Apple key and team: cached, renewed on schedule, single flight. */
export class ApnsProviderToken {
  readonly #key: CryptoKey;
  readonly #header: string;
  readonly #teamId: string;
  readonly #clock: Clock;
  readonly #renewAfterMs: number;
  #current: SignedToken | null = null;
  #signing: Promise<SignedToken> | null = null;
  /** Clock time of the last signing (scheduled or forced): the 20-minute rule counts from it. */
  #lastSignedAt = Number.NEGATIVE_INFINITY;
  #signed = 0;
  #forcedRenewals = 0;
  #refusedRenewals = 0;

  private constructor(key: CryptoKey, options: ProviderTokenOptions, renewAfterMs: number) {
    this.#key = key;
    this.#header = base64url(JSON.stringify({ alg: "ES256", kid: options.keyId }));
    this.#teamId = options.teamId;
    this.#clock = options.clock;
    this.#renewAfterMs = renewAfterMs;
  }

  /**
   * Imports the key and checks the settings; signs nothing yet.
   *
   * @throws Error when the key is not a PKCS#8 EC P-256 private key (the message never
   * contains the key), RangeError for bad ids or a renewal age outside [20, 60) minutes.
   */
  static async create(options: ProviderTokenOptions): Promise<ApnsProviderToken> {
    if (!APPLE_ID.test(options.keyId)) throw new RangeError("an APNs key id is 10 characters");
    if (!APPLE_ID.test(options.teamId)) throw new RangeError("an APNs team id is 10 characters");
    const renewAfterMs = options.renewAfterMs ?? DEFAULT_RENEW_AFTER_MS;
    if (
      !(renewAfterMs >= MIN_RENEWAL_INTERVAL_MS && renewAfterMs < PROVIDER_TOKEN_LIFETIME_MS)
    ) {
      throw new RangeError("an APNs provider token is renewed after 20 to 60 minutes");
    }
    const key = await importP8(options.privateKeyPem);
    return new ApnsProviderToken(key, options, renewAfterMs);
  }

  /** Counters for metrics. */
  get counters(): ProviderTokenCounters {
    return {
      signed: this.#signed,
      forcedRenewals: this.#forcedRenewals,
      refusedRenewals: this.#refusedRenewals,
    };
  }

  /** The JWT to send now: the cached one, or a new one when it is due for renewal. */
  async current(): Promise<string> {
    const cached = this.#current;
    if (cached !== null && !this.#isDue(cached)) return cached.jwt;
    return (await this.#sign()).jwt;
  }

  /**
   * APNs answered `rejectedJwt` with 403 ExpiredProviderToken: the JWT to retry with (once).
   * Concurrent callers share one renewal; a caller whose token was already replaced gets
   * the new one. No token is ever signed within 20 minutes of the previous one (Apple's
   * rule, scheduled and forced renewals alike), so an APNs that keeps saying "expired" (a
   * clock off by an hour) cannot make us earn 429 TooManyProviderTokenUpdates: then null (do
   * not retry; the push is answered `wait`).
   */
  async renewAfterExpired(rejectedJwt: string): Promise<string | null> {
    if (this.#signing !== null) return (await this.#signing).jwt;
    const cached = this.#current;
    if (cached !== null && cached.jwt !== rejectedJwt) return cached.jwt;
    const now = this.#clock.now();
    if (now - this.#lastSignedAt < MIN_RENEWAL_INTERVAL_MS) {
      this.#refusedRenewals++;
      return null;
    }
    this.#forcedRenewals++;
    return (await this.#sign()).jwt;
  }

  #isDue(token: SignedToken): boolean {
    const age = this.#clock.now() - token.issuedAt;
    // A clock that jumped back by more than a minute: the token's age is unknown, renew.
    return age >= this.#renewAfterMs || age < -MINUTE_MS;
  }

  #sign(): Promise<SignedToken> {
    this.#signing ??= this.#signNew().finally(() => this.#signing = null);
    return this.#signing;
  }

  async #signNew(): Promise<SignedToken> {
    const now = this.#clock.now();
    this.#lastSignedAt = now;
    const iat = Math.floor(now / 1000);
    const input = `${this.#header}.${base64url(JSON.stringify({ iss: this.#teamId, iat }))}`;
    const signature = await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      this.#key,
      new TextEncoder().encode(input),
    );
    const token = { jwt: `${input}.${base64url(new Uint8Array(signature))}`, issuedAt: iat * 1000 };
    this.#current = token;
    this.#signed++;
    return token;
  }
}

/** Imports a `.p8` file's PEM text as a non-extractable ECDSA P-256 signing key. */
async function importP8(pem: string): Promise<CryptoKey> {
  const match = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(
    pem,
  );
  try {
    if (match === null) throw new Error("no PEM block");
    const der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    return await crypto.subtle.importKey(
      "pkcs8",
      der,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign"],
    );
  } catch {
    // Deliberately without the cause: it could quote the key.
    throw new Error("the APNs key is not a PKCS#8 PEM EC P-256 private key (.p8)");
  }
}

function base64url(data: string | Uint8Array): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
