/**
 * The WNS access token (classic "client credentials" flow against login.live.com), cached in
 * memory and in the {@link RegistrationStore} so that other instances and restarts reuse it
 * instead of asking for a new one.
 *
 * @module
 */

import { z } from "zod";
import type { Clock } from "../../../domain/ports/clock.ts";
import type { Logger } from "../../../domain/ports/logging.ts";
import type { AccessToken, RegistrationStore } from "../../../domain/ports/storage.ts";
import { type FreshToken, OAuthTokenCache, refreshTime } from "../oauth_token_cache.ts";

/** The classic (UWP) token endpoint. */
export const DEFAULT_WNS_TOKEN_URL = "https://login.live.com/accesstoken.srf";

const DEFAULT_TIMEOUT_MS = 10_000;
/** Refresh this long before WNS would stop accepting the token (clock skew, slow sends). */
const DEFAULT_SAFETY_MARGIN_MS = 5 * 60_000;

/** The token could not be obtained. Never carries the client secret or a token. */
export class WnsTokenError extends Error {
  /** The token endpoint's HTTP status, or null when it gave no usable answer. */
  readonly status: number | null;
  /** Whether asking again later may work (false for rejected credentials). */
  readonly retryable: boolean;

  constructor(message: string, status: number | null, retryable: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = "WnsTokenError";
    this.status = status;
    this.retryable = retryable;
  }
}

/** What {@link WnsTokenSource} needs from the store: the token cache and nothing else. */
export type WnsTokenStore = Pick<RegistrationStore, "loadToken" | "saveToken">;

/** The key WNS's token is cached under (the original Redis layout's key). */
export const WNS_TOKEN_KEY = "WNS";

/** Options of {@link WnsTokenSource}. */
export interface WnsTokenSourceOptions {
  /** Token endpoint; defaults to {@link DEFAULT_WNS_TOKEN_URL}. */
  readonly tokenUrl?: string;
  /** The app's package SID (`ms-app://s-1-15-2-...`), sent as `client_id`. */
  readonly packetId: string;
  /** The app's client secret. Never logged. */
  readonly clientSecret: string;
  /** Shared token cache (other instances, restarts). */
  readonly store: WnsTokenStore;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Injectable for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** Timeout of one token request, body included; defaults to 10 s. */
  readonly requestTimeoutMs?: number;
  /** Refresh a token this long before it expires; defaults to 5 minutes. */
  readonly safetyMarginMs?: number;
  /** OAuth scope: {@link CLASSIC_SCOPE} (default) or {@link ENTRA_SCOPE}. */
  readonly scope?: string;
  /**
   * After the endpoint refused our credentials, fail fast for this long before asking it
   * again (a fixed secret at Microsoft's side is picked up without a restart); 60 s default.
   */
  readonly refusedRetryMs?: number;
}

/** The classic (login.live.com) flow's scope. */
export const CLASSIC_SCOPE = "notify.windows.com";
/** The Microsoft Entra client-credentials flow's scope. */
export const ENTRA_SCOPE = "https://wns.windows.com/.default";

/** The Entra token endpoint of a tenant. */
export function entraTokenUrl(tenantId: string): string {
  return `https://login.microsoftonline.com/${encodeURIComponent(tenantId)}/oauth2/v2.0/token`;
}

/** The endpoint sends `expires_in` as a number (classic) or a numeric string (Entra). */
const expiresInSchema = z.union([
  z.number(),
  z.string().regex(/^\s*\d+(\.\d+)?\s*$/).transform(Number),
]).pipe(z.number().positive().finite());

const tokenAnswerSchema = z.object({
  access_token: z.string().min(1),
  // Classic says "bearer", Entra "Bearer": compare without case.
  token_type: z.string().refine((t) => t.toLowerCase() === "bearer", "token_type is not bearer"),
  expires_in: expiresInSchema,
});

/** OAuth error answers, e.g. `{"error":"invalid_client"}`; only the code is ever shown. */
const oauthErrorSchema = z.object({ error: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/) });

/**
 * Hands out a valid WNS access token. Order: memory, then the store, then the token endpoint.
 * Concurrent callers that all need a new token share one request (single flight); the
 * caching is the shared {@link OAuthTokenCache}'s, the request this class's.
 */
export class WnsTokenSource {
  readonly #tokenUrl: string;
  readonly #packetId: string;
  readonly #clientSecret: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #marginMs: number;
  readonly #scope: string;
  readonly #cache: OAuthTokenCache<AccessToken>;

  constructor(options: WnsTokenSourceOptions) {
    this.#tokenUrl = options.tokenUrl ?? DEFAULT_WNS_TOKEN_URL;
    this.#packetId = options.packetId;
    this.#clientSecret = options.clientSecret;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#marginMs = options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
    this.#scope = options.scope ?? CLASSIC_SCOPE;
    const store = options.store;
    this.#cache = new OAuthTokenCache({
      clock: options.clock,
      logger: options.logger,
      marginMs: this.#marginMs,
      refusedRetryMs: options.refusedRetryMs ?? 60_000,
      name: "WNS token",
      load: () => store.loadToken(WNS_TOKEN_KEY),
      save: (token) => store.saveToken(WNS_TOKEN_KEY, token),
      request: () => this.#requestToken(),
    });
  }

  /**
   * A token that stays valid for at least the safety margin.
   *
   * @throws {WnsTokenError} when no token could be obtained.
   */
  get(): Promise<AccessToken> {
    return this.#cache.get();
  }

  /**
   * Drops `token` (WNS answered 401 with it) so that the next {@link get} fetches a new one.
   * A newer token already in place is kept.
   */
  invalidate(token: AccessToken): void {
    this.#cache.invalidate(token);
  }

  async #requestToken(): Promise<FreshToken<AccessToken>> {
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: this.#packetId,
      client_secret: this.#clientSecret,
      scope: this.#scope,
    });
    const requestedAt = this.#clock.now();
    let status: number;
    let text: string;
    try {
      const response = await this.#fetch(this.#tokenUrl, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: form.toString(),
        redirect: "manual",
        // Covers the body read too, so a stalled answer cannot hang every send.
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      const detail = `WNS token request failed: ${describeFetchError(error, this.#timeoutMs)}`;
      this.#logger.warn("WNS token request failed", { error: detail });
      throw new WnsTokenError(detail, null, true, { cause: error });
    }

    if (status !== 200) {
      const code = parseOAuthError(text);
      // 400/401/403 mean the credentials are wrong: asking again will not help.
      const retryable = !(status === 400 || status === 401 || status === 403);
      const detail = `WNS token endpoint answered ${status}${code ? ` (${code})` : ""}`;
      const error = new WnsTokenError(detail, status, retryable);
      if (!retryable) {
        // Logged at every refusal, once per retry period (the cache fails fast in between).
        this.#cache.refuse(error);
        this.#logger.error(
          "WNS refused our credentials: check wns.packetId and wns.clientSecret; pushes fail until then",
          { status, error: code },
        );
      } else {
        this.#logger.warn("WNS token request refused", { status, error: code });
      }
      throw error;
    }

    const parsed = tokenAnswerSchema.safeParse(safeJson(text));
    if (!parsed.success) {
      // Do not echo the body or zod's input: it may hold the token.
      const fields = parsed.error.issues.map((issue) => issue.path.join(".") || "(body)");
      const detail = `WNS token endpoint sent an unusable answer (${fields.join(", ")})`;
      this.#logger.error(detail, { status });
      throw new WnsTokenError(detail, status, true);
    }
    const lifetimeMs = parsed.data.expires_in * 1000;
    const token: AccessToken = {
      accessToken: parsed.data.access_token,
      tokenType: parsed.data.token_type,
      expiresAt: requestedAt + lifetimeMs,
    };
    const refreshAt = refreshTime(requestedAt, lifetimeMs, this.#marginMs);
    this.#logger.info("obtained a WNS access token", { expiresInSeconds: parsed.data.expires_in });
    return { token, refreshAt };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseOAuthError(text: string): string | null {
  const parsed = oauthErrorSchema.safeParse(safeJson(text));
  return parsed.success ? parsed.data.error : null;
}

/**
 * A loggable description of a failed fetch. Deno's messages embed the full request URL
 * (a channel URI's token is a credential), so every URL is cut down to its host.
 * Shared by the adapters in this folder.
 */
export function describeFetchError(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return `timed out after ${timeoutMs} ms`;
  }
  if (!(error instanceof Error)) return "unknown error";
  const parts = [error.message];
  if (error.cause instanceof Error) parts.push(error.cause.message);
  return parts.join(": ").replace(/[a-z][a-z0-9+.-]*:\/\/[^\s()"'<>]+/gi, hostOnly);
}

function hostOnly(url: string): string {
  return URL.canParse(url) ? `<${new URL(url).host}>` : "<url>";
}
