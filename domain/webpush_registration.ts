/**
 * The rules of our own Web Push registration dialect (`register-push-webpush`,
 * `unregister-push-webpush`; see the README), as p2's rules are for FCM and APNs:
 *
 * - the *registration key* is the SHA-256 over `bareJid + U+0000 + endpoint`, lowercase hex
 *   (64 characters). A Web Push subscription has no device id apart from its endpoint (a
 *   new subscription is a new endpoint with new keys), so the account and the endpoint are
 *   what one registration is. Registering the same subscription again (or the same endpoint
 *   with new keys) keeps node and secret; a new endpoint is a new registration, which the
 *   client enables on its server as usual, and the old one is unregistered or expires;
 * - the key is also the account id every push carries (`account` in the encrypted
 *   payload): the client computes the same hash for each of its accounts to know which one
 *   woke, as p2's device hash works. The store keeps the hash, never the JID;
 * - the stored device id is `webpush:<app>:<key>` (contract §4); node and secret are minted
 *   once per key and kept.
 *
 * @module
 */

/** The push service's name in targets and device ids. */
export const WEBPUSH = "webpush";

/** A registration key: 64 lowercase hex characters. */
export const WEBPUSH_KEY_PATTERN = /^[0-9a-f]{64}$/;

/** The registration key of `bareJid`'s subscription at `endpoint`; see the module comment. */
export async function webPushRegistrationKey(bareJid: string, endpoint: string): Promise<string> {
  const bytes = new TextEncoder().encode(`${bareJid}\u0000${endpoint}`);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
}

/** The stored device id of a registration of `app` with `key`. */
export function webPushDeviceId(app: string, key: string): string {
  return `${WEBPUSH}:${app}:${key}`;
}
