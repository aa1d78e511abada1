/**
 * p2's registration rules (the app server of Conversations and its forks), as p2 applies them
 * to `register-push-<service>` / `unregister-push-<service>` commands:
 *
 * - the *device hash* is SHA-1 over `bareJid + U+0000 + deviceId`, lowercase hex. It is both
 *   the registration's key and the `account` value pushed to the phone, which computes the
 *   same value per account to know which account a wakeup is for;
 * - a MUC registration adds a *channel hash* over `mucBareJid + U+0000 + deviceId`;
 * - node and secret are random, NOT derived from anything: minted on the first registration
 *   of a (service, device hash, channel) key and kept for every later registration of that
 *   key, whatever its token, so a token refresh never changes what the user's server holds.
 *
 * Pure except for the SHA-1, which WebCrypto computes (deterministic, no I/O).
 *
 * @module
 */

import { mintNode, mintSecret, type RandomBytes } from "./minting.ts";

/** The push services p2's command node names (`register-push-fcm`, `register-push-apns`). */
export type P2Service = "fcm" | "apns";

/** A 40-character lowercase hex SHA-1, as p2 and Conversations write it. */
export const P2_HASH_PATTERN = /^[0-9a-f]{40}$/;

/** Length of p2's collapse key: the first characters of the device (or channel) hash. */
export const P2_COLLAPSE_KEY_LENGTH = 6;

/**
 * The bare JID of a JID (`local@domain/resource` → `local@domain`). The resource starts at
 * the first `/`; local part and domain cannot contain one. Escaped form (XEP-0106) is what
 * arrives on the wire, and is what p2 hashes.
 */
export function bareJidOf(jid: string): string {
  const slash = jid.indexOf("/");
  return slash === -1 ? jid : jid.slice(0, slash);
}

/** The domain part of a JID, lower-cased: domains compare without case. */
export function domainOfJid(jid: string): string {
  const bare = bareJidOf(jid);
  const at = bare.indexOf("@");
  return (at === -1 ? bare : bare.slice(at + 1)).toLowerCase();
}

/**
 * SHA-1 over the parts joined with a single NUL, lowercase hex (p2's `combineAndHash`,
 * Conversations' `CryptoHelper.getFingerprint(jid + "\00" + androidId)`).
 */
export async function combineAndHash(...parts: readonly string[]): Promise<string> {
  const bytes = new TextEncoder().encode(parts.join("\u0000"));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", bytes));
  return digest.toHex();
}

/**
 * The device hash: the registration key and the `account` value of every push. `bareJid` is
 * the registering account's bare JID exactly as its server stamped it on the command.
 */
export function p2DeviceHash(bareJid: string, deviceId: string): Promise<string> {
  return combineAndHash(bareJid, deviceId);
}

/** The channel hash of a MUC registration: over the room's bare JID and the device id. */
export function p2ChannelHash(mucBareJid: string, deviceId: string): Promise<string> {
  return combineAndHash(mucBareJid, deviceId);
}

/** p2's collapse key for a hash: its first {@link P2_COLLAPSE_KEY_LENGTH} characters. */
export function p2CollapseKey(hash: string): string {
  return hash.slice(0, P2_COLLAPSE_KEY_LENGTH);
}

/** What identifies a p2 registration: a re-registration with the same key keeps node and secret. */
export interface P2RegistrationKey {
  readonly service: P2Service;
  /** {@link p2DeviceHash} of the account and the device. */
  readonly device: string;
  /** {@link p2ChannelHash} for a MUC registration, "" for the account itself. */
  readonly channel: string;
}

/**
 * A stored p2 registration. Like p2 it keeps no JID, only the account's domain (the publishing
 * server's domain scopes node look-ups) and the salted hash.
 */
export interface P2Registration extends P2RegistrationKey {
  /** Domain of the registering account. */
  readonly domain: string;
  /** The push service's address for the device (the FCM registration token). */
  readonly token: string;
  readonly node: string;
  readonly secret: string;
}

/** A validated registration command, as the XMPP front door hands it over. */
export interface P2RegisterRequest {
  readonly service: P2Service;
  /** The full or bare JID the command came from. */
  readonly from: string;
  readonly token: string;
  readonly deviceId: string;
  /** Bare JID of a room, for a MUC registration (dormant in Conversations). */
  readonly muc?: string;
}

/** The key of a registration command: hashes of the sender's bare JID (and room). */
export async function p2RegistrationKey(
  request: Pick<P2RegisterRequest, "service" | "from" | "deviceId" | "muc">,
): Promise<P2RegistrationKey> {
  const device = await p2DeviceHash(bareJidOf(request.from), request.deviceId);
  const channel = request.muc === undefined
    ? ""
    : await p2ChannelHash(request.muc, request.deviceId);
  return { service: request.service, device, channel };
}

/** What registering changes, for the store to apply and the logs to say. */
export type P2RegistrationPlan =
  | { readonly action: "create"; readonly registration: P2Registration }
  | { readonly action: "update-token"; readonly registration: P2Registration }
  | { readonly action: "unchanged"; readonly registration: P2Registration };

/**
 * Decides a registration: the stored one for the key (if any) keeps its node and secret and
 * takes the new token; without one, node and secret are minted from `random`.
 */
export function planP2Registration(
  key: P2RegistrationKey,
  request: Pick<P2RegisterRequest, "from" | "token">,
  existing: P2Registration | null,
  random: RandomBytes,
): P2RegistrationPlan {
  if (existing !== null) {
    if (
      existing.service !== key.service || existing.device !== key.device ||
      existing.channel !== key.channel
    ) {
      throw new Error("planP2Registration: the stored registration has another key");
    }
    if (existing.token === request.token) return { action: "unchanged", registration: existing };
    return { action: "update-token", registration: { ...existing, token: request.token } };
  }
  return {
    action: "create",
    registration: {
      ...key,
      domain: domainOfJid(request.from),
      token: request.token,
      node: mintNode(random),
      secret: mintSecret(random),
    },
  };
}
