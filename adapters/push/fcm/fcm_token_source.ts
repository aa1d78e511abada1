/**
 * The OAuth access token FCM HTTP v1 wants: a service-account JWT assertion (RS256) traded at
 * the account's `token_uri` (RFC 7523 JWT bearer grant), cached in memory and in a shared
 * {@link FcmTokenCache} (storage implements it, so instances and restarts reuse one token),
 * refreshed a margin before it expires, and dropped on demand when FCM answers 401.
 *
 * Concurrent callers that all need a new token share one request (single flight). Refused
 * credentials are logged once and then fail fast for a while, without a request per push.
 * Never logs the key, the assertion or a token.
 *
 * @module
 */

import { z } from "zod";
import type { Clock } from "../../../domain/ports/clock.ts";
import type { Logger } from "../../../domain/ports/logging.ts";
import { errorName, type FreshToken, OAuthTokenCache, refreshTime } from "../oauth_token_cache.ts";
import { HttpTimeoutError, type HttpTransport } from "./http_transport.ts";
import { FCM_SCOPE, importServiceAccountKey, signAssertion } from "./jwt_assertion.ts";
import type { ServiceAccount } from "./service_account.ts";

/** An access token and when it stops working. */
export interface FcmAccessToken {
  readonly accessToken: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
  /** The service account (`client_email`) it was issued to: a cache may outlive a key change. */
  readonly clientEmail: string;
}

/** Shared token cache; storage adapters implement it (one per app). */
export interface FcmTokenCache {
  load(): Promise<FcmAccessToken | null>;
  save(token: FcmAccessToken): Promise<void>;
}

/** {@link FcmTokenCache} in memory, for one process and for tests. */
export class MemoryFcmTokenCache implements FcmTokenCache {
  #token: FcmAccessToken | null = null;
  /** How often each method ran. */
  readonly calls = { load: 0, save: 0 };

  load(): Promise<FcmAccessToken | null> {
    this.calls.load++;
    return Promise.resolve(this.#token);
  }

  save(token: FcmAccessToken): Promise<void> {
    this.calls.save++;
    this.#token = token;
    return Promise.resolve();
  }
}

/** No token could be had. Never carries the key, the assertion or a token. */
export class FcmTokenError extends Error {
  override name = "FcmTokenError";
  /** The token endpoint's status, null without an answer. */
  readonly status: number | null;
  /** False when the credentials were refused or unusable: asking again will not help soon. */
  readonly retryable: boolean;

  constructor(message: string, status: number | null, retryable: boolean) {
    super(message);
    this.status = status;
    this.retryable = retryable;
  }
}

/** Where a sender gets tokens; {@link FcmTokenSource} is the real one. */
export interface FcmTokenProvider {
  /** A token valid for at least the safety margin; rejects with {@link FcmTokenError}. */
  get(): Promise<FcmAccessToken>;
  /** Forgets a token FCM answered 401 to, so the next {@link get} fetches another. */
  invalidate(token: FcmAccessToken): void;
}

/** Options of {@link FcmTokenSource}. */
export interface FcmTokenSourceOptions {
  readonly account: ServiceAccount;
  readonly cache: FcmTokenCache;
  readonly transport: HttpTransport;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Default {@link FCM_SCOPE}. */
  readonly scope?: string;
  /** One token request, answer included. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Refresh this long before expiry. Default 5 minutes. */
  readonly safetyMarginMs?: number;
  /** After refused credentials, fail fast this long before asking again. Default 60 s. */
  readonly refusedRetryMs?: number;
}

const GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const MAX_ANSWER_BYTES = 16 * 1024;

const tokenAnswerSchema = z.object({
  access_token: z.string().min(1).max(4096),
  expires_in: z.number().positive().finite(),
  token_type: z.string().refine((t) => t.toLowerCase() === "bearer", "not bearer"),
});

/** `{"error":"invalid_grant","error_description":"..."}`; only the code is ever logged. */
const oauthErrorSchema = z.object({ error: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/) });

/** See the module comment; the caching is the shared {@link OAuthTokenCache}'s. */
export class FcmTokenSource implements FcmTokenProvider {
  readonly #account: ServiceAccount;
  readonly #transport: HttpTransport;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #scope: string;
  readonly #timeoutMs: number;
  readonly #marginMs: number;
  readonly #cache: OAuthTokenCache<FcmAccessToken>;
  #key: Promise<CryptoKey> | null = null;

  constructor(options: FcmTokenSourceOptions) {
    this.#account = options.account;
    this.#transport = options.transport;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#scope = options.scope ?? FCM_SCOPE;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#marginMs = options.safetyMarginMs ?? 5 * 60_000;
    const shared = options.cache;
    this.#cache = new OAuthTokenCache({
      clock: options.clock,
      logger: options.logger,
      marginMs: this.#marginMs,
      refusedRetryMs: options.refusedRetryMs ?? 60_000,
      name: "FCM access token",
      load: () => shared.load(),
      save: (token) => shared.save(token),
      // A shared cache may outlive a key change.
      accepts: (token) => token.clientEmail === this.#account.client_email,
      request: () => this.#request(),
    });
  }

  /** See {@link FcmTokenProvider.get}. */
  get(): Promise<FcmAccessToken> {
    return this.#cache.get();
  }

  /** See {@link FcmTokenProvider.invalidate}. A newer token already in place is kept. */
  invalidate(token: FcmAccessToken): void {
    this.#cache.invalidate(token);
  }

  async #request(): Promise<FreshToken<FcmAccessToken>> {
    const now = this.#clock.now();
    let assertion: string;
    try {
      this.#key ??= importServiceAccountKey(this.#account.private_key);
      assertion = await signAssertion({
        account: this.#account,
        key: await this.#key,
        now,
        scope: this.#scope,
      });
    } catch (error) {
      // A key that does not import will not import next time either.
      return this.#refuse(
        new FcmTokenError(
          error instanceof Error ? error.message : "cannot sign the assertion",
          null,
          false,
        ),
        "the FCM service account's private key is unusable: fix the key file",
        {},
      );
    }
    const body = `grant_type=${encodeURIComponent(GRANT_TYPE)}&assertion=${assertion}`;
    let status: number;
    let text: string;
    try {
      const answer = await this.#transport({
        url: this.#account.token_uri,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body,
        timeoutMs: this.#timeoutMs,
        maxResponseBytes: MAX_ANSWER_BYTES,
      });
      status = answer.status;
      text = answer.body;
    } catch (error) {
      const detail = error instanceof HttpTimeoutError
        ? `FCM token request timed out after ${this.#timeoutMs} ms`
        : `FCM token request failed (${errorName(error)})`;
      this.#logger.warn(detail, { host: hostOf(this.#account.token_uri) });
      throw new FcmTokenError(detail, null, true);
    }
    if (status !== 200) {
      const code = oauthErrorSchema.safeParse(safeJson(text)).data?.error ?? null;
      const detail = `FCM token endpoint answered ${status}${code ? ` (${code})` : ""}`;
      // 400/401/403: the assertion was refused (bad key, revoked, clock skew): not per push.
      if (status === 400 || status === 401 || status === 403) {
        return this.#refuse(
          new FcmTokenError(detail, status, false),
          "the FCM token endpoint refused the service account: check the key file and the clock",
          { status, error: code },
        );
      }
      this.#logger.warn("FCM token request refused", { status, error: code });
      throw new FcmTokenError(detail, status, true);
    }
    const parsed = tokenAnswerSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      // Field names only: the body holds the token.
      const fields = parsed.error.issues.map((issue) => issue.path.join(".") || "(body)");
      const detail = `FCM token endpoint sent an unusable answer (${fields.join(", ")})`;
      this.#logger.error(detail, { status });
      throw new FcmTokenError(detail, status, true);
    }
    const lifetimeMs = parsed.data.expires_in * 1000;
    const token: FcmAccessToken = {
      accessToken: parsed.data.access_token,
      expiresAt: now + lifetimeMs,
      clientEmail: this.#account.client_email,
    };
    const refreshAt = refreshTime(now, lifetimeMs, this.#marginMs);
    this.#logger.info("obtained an FCM access token", { expiresInSeconds: parsed.data.expires_in });
    return { token, refreshAt };
  }

  #refuse(
    error: FcmTokenError,
    message: string,
    fields: Record<string, string | number | null>,
  ): never {
    // One log line per run of refusals: the cache fails fast meanwhile.
    if (this.#cache.refuse(error)) {
      this.#logger.error(message, { ...fields, detail: error.message });
    }
    throw error;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function hostOf(url: string): string | null {
  return URL.canParse(url) ? new URL(url).host : null;
}
