/**
 * What every push service's OAuth token source does around its token request: hands out
 * the token in memory until a margin before it expires, then the one in the shared cache
 * (storage: other instances and restarts), then asks the endpoint; concurrent callers that
 * all need a new token share one request (single flight); refused credentials fail fast for
 * a while, without a request per push; a token the service answered 401 to is never taken
 * from the shared cache again. The service's source says how to ask and what to log.
 *
 * @module
 */

import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";

/** The least a token must say for the cache. */
export interface CacheableToken {
  readonly accessToken: string;
  /** Epoch milliseconds at which the service stops accepting it. */
  readonly expiresAt: number;
}

/** A token and when the cache fetches the next one. */
export interface FreshToken<T extends CacheableToken> {
  readonly token: T;
  readonly refreshAt: number;
}

/** What a token cache is built from. */
export interface OAuthTokenCacheOptions<T extends CacheableToken> {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Refresh this long before expiry. */
  readonly marginMs: number;
  /** After refused credentials, fail fast this long before asking again. */
  readonly refusedRetryMs: number;
  /** What the log lines call the token, e.g. "WNS token". */
  readonly name: string;
  /** The shared cache. */
  load(): Promise<T | null>;
  save(token: T): Promise<void>;
  /** Whether a token from the shared cache was issued for these credentials. Default: yes. */
  accepts?(token: T): boolean;
  /**
   * Asks the endpoint once; throws when no token could be had, after calling
   * {@link OAuthTokenCache.refuse} if the credentials were refused.
   */
  request(): Promise<FreshToken<T>>;
}

/**
 * When a token requested at `requestedAt`, living `lifetimeMs`, is refreshed: `marginMs`
 * before it expires, but not before half its life (a lifetime under twice the margin would
 * otherwise mean one request per use).
 */
export function refreshTime(requestedAt: number, lifetimeMs: number, marginMs: number): number {
  return requestedAt + Math.max(lifetimeMs - marginMs, lifetimeMs / 2);
}

/** See the module comment. */
export class OAuthTokenCache<T extends CacheableToken> {
  readonly #options: OAuthTokenCacheOptions<T>;
  #cached: FreshToken<T> | null = null;
  #inFlight: Promise<T> | null = null;
  /** The endpoint's last refusal of our credentials, replayed until `until`. */
  #refused: { error: Error; until: number } | null = null;
  /** Whether the current run of refusals was reported (see {@link refuse}). */
  #refusalReported = false;
  /** Tokens the service rejected: the shared cache may still hold one. */
  readonly #rejected = new Set<string>();

  constructor(options: OAuthTokenCacheOptions<T>) {
    this.#options = options;
  }

  /** A token valid for at least the margin; rejects with the request's error. */
  get(): Promise<T> {
    const now = this.#options.clock.now();
    const cached = this.#cached;
    if (cached !== null && now < cached.refreshAt) return Promise.resolve(cached.token);
    // Wrong credentials stay wrong: fail fast, without a request or a log line per push.
    if (this.#refused !== null && now < this.#refused.until) {
      return Promise.reject(this.#refused.error);
    }
    if (this.#inFlight === null) {
      this.#inFlight = this.#refresh().finally(() => {
        this.#inFlight = null;
      });
    }
    return this.#inFlight;
  }

  /** Drops `token` (the service answered 401 to it); a newer token already in place is kept. */
  invalidate(token: T): void {
    this.#rejected.add(token.accessToken);
    if (this.#cached?.token.accessToken === token.accessToken) this.#cached = null;
  }

  /**
   * Records that the endpoint refused our credentials: {@link get} fails with `error` for a
   * while. Returns true for the first refusal since the last token (report it), else false.
   */
  refuse(error: Error): boolean {
    this.#refused = { error, until: this.#options.clock.now() + this.#options.refusedRetryMs };
    const first = !this.#refusalReported;
    this.#refusalReported = true;
    return first;
  }

  async #refresh(): Promise<T> {
    const shared = await this.#loadShared();
    if (shared !== null) {
      this.#cached = shared;
      return shared.token;
    }
    const fresh = await this.#options.request();
    this.#cached = fresh;
    this.#refused = null;
    this.#refusalReported = false;
    // The set only exists to skip stale shared entries; a new token makes older ones moot.
    this.#rejected.clear();
    try {
      await this.#options.save(fresh.token);
    } catch (error) {
      // The token works without the shared cache; other instances will fetch their own.
      this.#options.logger.warn(`could not cache the ${this.#options.name}`, {
        error: errorName(error),
      });
    }
    return fresh.token;
  }

  async #loadShared(): Promise<FreshToken<T> | null> {
    const { logger, name, accepts, clock, marginMs } = this.#options;
    let token: T | null;
    try {
      token = await this.#options.load();
    } catch (error) {
      logger.warn(`could not read the cached ${name}`, { error: errorName(error) });
      return null;
    }
    if (token === null || this.#rejected.has(token.accessToken)) return null;
    if (accepts && !accepts(token)) return null;
    const refreshAt = token.expiresAt - marginMs;
    return clock.now() < refreshAt ? { token, refreshAt } : null;
  }
}

/** Error names only, for errors of unknown origin (store backends, ...). */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
