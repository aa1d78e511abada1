/**
 * Authorization headers for Web Push requests: one VAPID JWT per audience (push service
 * origin), kept for its lifetime and renewed before it expires, so a push costs no signature
 * in the common case. Concurrent requests to a new audience share one signature.
 *
 * @module
 */

import { z } from "zod";
import { MAX_VAPID_LIFETIME_SECONDS, signVapidJwt, vapidAuthorization } from "./vapid_jwt.ts";
import type { VapidKeys } from "./vapid_keys.ts";

/** The contact of the `sub` claim: a `mailto:` address or an `https:` URL (RFC 8292 §2.1). */
export const vapidSubjectSchema = z.string().max(256).refine((text) => {
  if (/^mailto:[^\s@]+@[^\s@]+$/.test(text)) return true;
  return URL.canParse(text) && new URL(text).protocol === "https:";
}, "the VAPID subject must be a mailto: address or an https: URL");

/** Options of {@link VapidAuthorizer}. */
export interface VapidAuthorizerOptions {
  readonly keys: VapidKeys;
  /** The `sub` claim; validated with {@link vapidSubjectSchema}. */
  readonly subject: string;
  /** JWT lifetime; default 12 h, at most 24 h. */
  readonly lifetimeSeconds?: number;
  /** A cached JWT is replaced once less than this is left; default 1 h. */
  readonly renewBeforeSeconds?: number;
  /** Audiences kept; the least recently signed is dropped beyond. Default 1024. */
  readonly maxAudiences?: number;
  /** Epoch milliseconds; injectable for tests. */
  readonly now?: () => number;
}

interface Entry {
  /** Epoch ms after which the entry is renewed. */
  readonly renewAt: number;
  readonly header: Promise<string>;
}

/** Makes and caches `Authorization: vapid t=..., k=...` values per audience. */
export class VapidAuthorizer {
  readonly #keys: VapidKeys;
  readonly #subject: string;
  readonly #lifetimeSeconds: number;
  readonly #renewBeforeSeconds: number;
  readonly #maxAudiences: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, Entry>();
  #signatures = 0;

  constructor(options: VapidAuthorizerOptions) {
    this.#keys = options.keys;
    this.#subject = vapidSubjectSchema.parse(options.subject);
    this.#lifetimeSeconds = options.lifetimeSeconds ?? 12 * 60 * 60;
    this.#renewBeforeSeconds = options.renewBeforeSeconds ?? 60 * 60;
    this.#maxAudiences = options.maxAudiences ?? 1024;
    this.#now = options.now ?? Date.now;
    if (
      !Number.isInteger(this.#lifetimeSeconds) || this.#lifetimeSeconds <= 0 ||
      this.#lifetimeSeconds > MAX_VAPID_LIFETIME_SECONDS
    ) {
      throw new RangeError("VAPID JWT lifetime must be 1 s to 24 h");
    }
    if (this.#renewBeforeSeconds < 0 || this.#renewBeforeSeconds >= this.#lifetimeSeconds) {
      throw new RangeError("renewBeforeSeconds must be shorter than the lifetime");
    }
  }

  /** How many JWTs were signed so far (for tests and metrics). */
  get signatures(): number {
    return this.#signatures;
  }

  /** The server's public key, base64url (the `k=` value). */
  get publicKey(): string {
    return this.#keys.publicKey;
  }

  /**
   * The Authorization value for a push to `audience`, the endpoint's origin
   * (`new URL(endpoint).origin`).
   */
  authorization(audience: string): Promise<string> {
    const now = this.#now();
    const cached = this.#cache.get(audience);
    if (cached !== undefined && now < cached.renewAt) return cached.header;
    if (cached !== undefined) this.#cache.delete(audience);
    const exp = Math.floor(now / 1000) + this.#lifetimeSeconds;
    this.#signatures++;
    const header = signVapidJwt({ aud: audience, exp, sub: this.#subject }, this.#keys.privateKey)
      .then((jwt) => vapidAuthorization(jwt, this.#keys.publicKey));
    // A failed signature is not cached: the next push tries again.
    header.catch(() => {
      if (this.#cache.get(audience)?.header === header) this.#cache.delete(audience);
    });
    this.#cache.set(audience, {
      renewAt: (exp - this.#renewBeforeSeconds) * 1000,
      header,
    });
    // Map order is insertion order: the first key is the least recently signed audience.
    if (this.#cache.size > this.#maxAudiences) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    return header;
  }
}
