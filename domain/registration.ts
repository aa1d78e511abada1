/**
 * What the push server knows about devices and their accounts.
 *
 * A device (identified by the UWPX client's `device_id`) has one push target (service, app,
 * address) and any number of accounts. Each account gets a PubSub node and a secret that the account's own
 * XMPP server uses to publish pushes for it.
 *
 * @module
 */

import type { PushTarget } from "./push_target.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How long a registration lives after it was last used, by default: 210 days, what the
 * original server's code set (`30 * 7` days). The real client sends nothing unchanged (a
 * new channel about monthly, its accounts only when they change), so the lifetime slides:
 * every `set_channel_uri`, `set_push_accounts` and delivered push renews it.
 */
export const DEFAULT_LIFETIME_DAYS = 210;

/**
 * How long a device whose WNS channel is gone keeps its accounts and nodes, by default,
 * waiting for the device to send a new channel (WNS channels live up to 30 days, and the
 * client asks for a new one at every start and daily).
 */
export const DEFAULT_GONE_CHANNEL_GRACE_DAYS = 30;

/**
 * A delivered push renews the registration only when that moves its expiry by more than
 * this: at most about one write a day per device, however many pushes it gets.
 */
export const RENEW_STEP_MS = DAY_MS;

/** The lifetime rules, as configured (`registration.*`). */
export interface RegistrationPolicy {
  /** How long a registration lives after it was last used. */
  readonly lifetimeMs: number;
  /** How long a device whose channel is gone waits for a new one before it is deleted. */
  readonly goneChannelGraceMs: number;
}

/** The policy from days, as the configuration gives them. */
export function registrationPolicy(
  lifetimeDays = DEFAULT_LIFETIME_DAYS,
  goneChannelGraceDays = DEFAULT_GONE_CHANNEL_GRACE_DAYS,
): RegistrationPolicy {
  return { lifetimeMs: lifetimeDays * DAY_MS, goneChannelGraceMs: goneChannelGraceDays * DAY_MS };
}

/** The defaults: 210 days of life, 30 days of grace for a gone channel. */
export const DEFAULT_REGISTRATION_POLICY: RegistrationPolicy = registrationPolicy();

/** One account of a device, with the node and secret minted for it. */
export interface AccountRegistration {
  /** Chosen by the client: SHA-256 hex of the device id and the account's bare JID. */
  readonly accountId: string;
  /** The PubSub node the account's XMPP server publishes to. */
  readonly node: string;
  /** The secret that XMPP server must send in its publish-options. */
  readonly secret: string;
}

/** A device as stored: its push target, the protocol version it spoke, and its accounts. */
export interface DeviceRegistration {
  readonly deviceId: string;
  /** Where its pushes go, as stored; null once the push service said the target is gone. */
  readonly target: PushTarget | null;
  readonly version: number;
  readonly accounts: readonly AccountRegistration[];
  /** Epoch milliseconds after which the registration is dead. */
  readonly expiresAt: number;
}

/** What a publish to a node resolves to: who to push and the secret to check. */
export interface NodeTarget {
  readonly node: string;
  readonly accountId: string;
  /**
   * The device's id, or what the store keeps in its place (a store that keeps ids hashed
   * answers the hash): either way what the store's methods take to name this device.
   */
  readonly deviceId: string;
  readonly secret: string;
  /** The device's push target, as stored; null once the push service said it is gone. */
  readonly target: PushTarget | null;
  /**
   * Epoch milliseconds after which the registration is dead (the earliest expiry of the
   * entries behind the node); `Number.MAX_SAFE_INTEGER` when they never expire.
   */
  readonly expiresAt: number;
}

/** Epoch milliseconds at which a registration used at `now` expires. */
export function expiryFrom(
  now: number,
  policy: RegistrationPolicy = DEFAULT_REGISTRATION_POLICY,
): number {
  return now + policy.lifetimeMs;
}

/**
 * The expiry of a device whose channel WNS called gone at `goneAt`: the grace period, but
 * never later than it would have expired anyway.
 */
export function goneChannelExpiry(
  goneAt: number,
  currentExpiresAt: number,
  policy: RegistrationPolicy = DEFAULT_REGISTRATION_POLICY,
): number {
  return Math.min(currentExpiresAt, goneAt + policy.goneChannelGraceMs);
}

/**
 * Whether a push delivered at `now` should renew a registration that expires at
 * `expiresAt`: only when the fresh expiry is more than {@link RENEW_STEP_MS} later (or half
 * the lifetime, should that be shorter), so a busy device costs one write a day, not one
 * per push.
 */
export function pushRenews(
  expiresAt: number,
  now: number,
  policy: RegistrationPolicy = DEFAULT_REGISTRATION_POLICY,
): boolean {
  const step = Math.min(RENEW_STEP_MS, policy.lifetimeMs / 2);
  return expiryFrom(now, policy) - expiresAt > step;
}

/**
 * Rejects account lists that would break the one-node-one-account and one-id-per-device
 * rules (every store checks this before it writes).
 */
export function checkAccountList(accounts: readonly AccountRegistration[]): void {
  const nodes = new Set<string>();
  const ids = new Set<string>();
  for (const { accountId, node } of accounts) {
    if (nodes.has(node)) throw new Error("replaceAccounts: the same node appears twice");
    if (ids.has(accountId)) throw new Error("replaceAccounts: the same account id appears twice");
    nodes.add(node);
    ids.add(accountId);
  }
}
