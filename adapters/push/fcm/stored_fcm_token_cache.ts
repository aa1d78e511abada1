/**
 * The FCM access token cache in storage (`loadToken`/`saveToken` under `FCM:<app>`), so
 * every instance sharing the store and every restart reuse one token per app. Every store
 * keeps it (SQLite: the `kv` row `fcm:<app>_token`; Redis: `token:FCM:<app>`; memory). A
 * store that fails is the shared token cache's to handle: it logs and fetches a token of
 * its own meanwhile.
 *
 * @module
 */

import type { RegistrationStore } from "../../../domain/ports/storage.ts";
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

  /**
   * @param clientEmail the service account's: a token read back is taken as issued to it
   * (storage keeps no identity; a key file of another account for the same app is met by a
   * 401 from FCM, which fetches a new token once).
   */
  constructor(
    store: Pick<RegistrationStore, "loadToken" | "saveToken">,
    app: string,
    clientEmail: string,
  ) {
    this.#store = store;
    this.#key = fcmTokenKey(app);
    this.#clientEmail = clientEmail;
  }

  async load(): Promise<FcmAccessToken | null> {
    const token = await this.#store.loadToken(this.#key);
    if (token === null) return null;
    return {
      accessToken: token.accessToken,
      expiresAt: token.expiresAt,
      clientEmail: this.#clientEmail,
    };
  }

  async save(token: FcmAccessToken): Promise<void> {
    await this.#store.saveToken(this.#key, {
      accessToken: token.accessToken,
      tokenType: "Bearer",
      expiresAt: token.expiresAt,
    });
  }
}
