/**
 * The FCM access token cache in storage (`loadToken`/`saveToken` under `FCM:<app>`), so
 * every instance sharing the store and every restart reuse one token per app. A store whose
 * layout refuses the key (a plain Error, not a {@link StorageUnavailableError}) is given up
 * on after saying so once: the token then lives in this process only.
 *
 * @module
 */

import type { Logger } from "../../../domain/ports/logging.ts";
import { type RegistrationStore, StorageUnavailableError } from "../../../domain/ports/storage.ts";
import type { FcmAccessToken, FcmTokenCache } from "./fcm_token_source.ts";

/** The storage key of an FCM app's access token. */
export function fcmTokenKey(app: string): string {
  return `FCM:${app}`;
}

/** See the module comment. */
export class StoredFcmTokenCache implements FcmTokenCache {
  readonly #store: Pick<RegistrationStore, "loadToken" | "saveToken">;
  readonly #key: string;
  readonly #clientEmail: string;
  readonly #logger: Logger;
  #refused = false;

  /**
   * @param clientEmail the service account's: a token read back is taken as issued to it
   * (storage keeps no identity; a key file of another account for the same app is met by a
   * 401 from FCM, which fetches a new token once).
   */
  constructor(
    store: Pick<RegistrationStore, "loadToken" | "saveToken">,
    app: string,
    clientEmail: string,
    logger: Logger,
  ) {
    this.#store = store;
    this.#key = fcmTokenKey(app);
    this.#clientEmail = clientEmail;
    this.#logger = logger;
  }

  /** Whether the store refused the key and the cache is off. */
  get refused(): boolean {
    return this.#refused;
  }

  async load(): Promise<FcmAccessToken | null> {
    if (this.#refused) return null;
    try {
      const token = await this.#store.loadToken(this.#key);
      if (token === null) return null;
      return {
        accessToken: token.accessToken,
        expiresAt: token.expiresAt,
        clientEmail: this.#clientEmail,
      };
    } catch (error) {
      this.#giveUpUnlessTransient(error);
      return null;
    }
  }

  async save(token: FcmAccessToken): Promise<void> {
    if (this.#refused) return;
    try {
      await this.#store.saveToken(this.#key, {
        accessToken: token.accessToken,
        tokenType: "Bearer",
        expiresAt: token.expiresAt,
      });
    } catch (error) {
      this.#giveUpUnlessTransient(error);
    }
  }

  #giveUpUnlessTransient(error: unknown): void {
    // A backend that is down may come back: the token cache logs and goes on.
    if (error instanceof StorageUnavailableError) throw error;
    this.#refused = true;
    this.#logger.warn("storage does not keep FCM access tokens: each instance fetches its own", {
      key: this.#key,
      error: error instanceof Error ? error.message.slice(0, 120) : typeof error,
    });
  }
}
