/**
 * What the push server knows about devices and their accounts.
 *
 * A device (identified by the UWPX client's `device_id`) has one WNS channel URI and any
 * number of accounts. Each account gets a PubSub node and a secret that the account's own
 * XMPP server uses to publish pushes for it.
 *
 * @module
 */

/** How long a registration lives after the device's last registration request. */
export const REGISTRATION_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;

/** One account of a device, with the node and secret minted for it. */
export interface AccountRegistration {
  /** Chosen by the client: SHA-256 hex of the device id and the account's bare JID. */
  readonly accountId: string;
  /** The PubSub node the account's XMPP server publishes to. */
  readonly node: string;
  /** The secret that XMPP server must send in its publish-options. */
  readonly secret: string;
}

/** A device as stored: its channel, the protocol version it spoke, and its accounts. */
export interface DeviceRegistration {
  readonly deviceId: string;
  /** The WNS channel URI, or null once WNS said the channel is gone. */
  readonly channelUri: string | null;
  readonly version: number;
  readonly accounts: readonly AccountRegistration[];
  /** Epoch milliseconds after which the registration is dead. */
  readonly expiresAt: number;
}

/** What a publish to a node resolves to: who to push and the secret to check. */
export interface NodeTarget {
  readonly node: string;
  readonly accountId: string;
  readonly deviceId: string;
  readonly secret: string;
  readonly channelUri: string | null;
}

/** Epoch milliseconds at which a registration refreshed at `now` expires. */
export function expiryFrom(now: number): number {
  return now + REGISTRATION_LIFETIME_MS;
}
