/**
 * The storage port: where registrations (and the cached access tokens of push services)
 * live. `adapters/storage/` implements it: memory, SQLite and Redis.
 *
 * @module
 */

import type { PushTarget } from "../push_target.ts";
import type { AccountRegistration, DeviceRegistration, NodeTarget } from "../registration.ts";

/** Thrown by adapters when their backend cannot be reached or failed: a transient error. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StorageUnavailableError";
  }
}

/**
 * Where registrations live. Times are epoch milliseconds; the store hides anything whose
 * `expiresAt` is not after `now`, and refreshes the expiry of every entry of a device it
 * writes. Each method is atomic.
 */
export interface RegistrationStore {
  /**
   * Creates the device or updates its push target and version, keeping its accounts. The
   * reads answer the target as saved (`target`: service, app, address). A store whose layout
   * holds one service's targets only (the original Redis layout: WNS) rejects others with an
   * Error.
   */
  saveTarget(
    deviceId: string,
    target: PushTarget,
    version: number,
    expiresAt: number,
  ): Promise<void>;
  /**
   * The first registration of a key (registrations by command): creates the device with
   * `target`, `version` and exactly `account`, unless a live device (at `now`) already
   * lists an account with `account.accountId`; then nothing is written. Answers the device
   * as stored: the one created (`created: true`) or the one that was there. An expired
   * device counts as absent, and so does a live one without that account (half-written by
   * a crash): it is replaced, nodes of its other accounts stop resolving. Atomic across
   * instances sharing the backend: of callers racing for one device id, exactly one creates
   * and all answer its node and secret. Fails, writing nothing, if the node belongs to
   * another device.
   */
  createIfAbsent(
    deviceId: string,
    target: PushTarget,
    version: number,
    account: AccountRegistration,
    expiresAt: number,
    now: number,
  ): Promise<CreatedDevice>;
  /** The device's live registration, or null. */
  findDevice(deviceId: string, now: number): Promise<DeviceRegistration | null>;
  /**
   * Replaces the device's accounts with exactly `accounts`. Nodes of accounts not in the
   * list stop resolving at once. Fails if the device does not exist.
   */
  replaceAccounts(
    deviceId: string,
    accounts: readonly AccountRegistration[],
    expiresAt: number,
  ): Promise<void>;
  /** The live registration behind a node, or null. */
  findNode(node: string, now: number): Promise<NodeTarget | null>;
  /**
   * The push service said the target at `address` is gone: if it is still the device's
   * target's address, forgets the target (the reads answer `target: null`) and brings the
   * expiry of the device, its accounts and its nodes forward to `expiresAt` (never later
   * than it was: the grace period of a gone channel). The accounts and nodes stay, so a new
   * target (`saveTarget`, which restores the full lifetime) makes them deliver again. Does
   * nothing when the device has moved to another address meanwhile.
   */
  forgetChannel(deviceId: string, address: string, expiresAt: number): Promise<void>;
  /**
   * A push was delivered to `address`: if the device is live and its target still has that
   * address, moves the expiry of the device, its accounts and its nodes to `expiresAt` when
   * that is later (never earlier, and never for a device whose target is gone: that would
   * undo its grace period).
   */
  renew(deviceId: string, address: string, expiresAt: number): Promise<void>;
  /**
   * Deletes the device with its accounts at once (their nodes stop resolving); returns
   * whether a live device was there to delete (an unregister command's answer depends on it).
   */
  deleteDevice(deviceId: string, now: number): Promise<boolean>;
  /** Deletes every expired registration; returns how many devices went. */
  purgeExpired(now: number): Promise<number>;
  /**
   * The access token cached under `key` (one per push service and app, e.g. `WNS`), or
   * null. A store may keep some keys only (the original Redis layout: `WNS`) and rejects
   * others with an Error.
   */
  loadToken(key: string): Promise<AccessToken | null>;
  /** Caches an access token under `key` for this and other instances and restarts. */
  saveToken(key: string, token: AccessToken): Promise<void>;
  /**
   * Keeps `value` under `key` unless a value is kept there already, and answers the value
   * kept: the first writer wins, for good (e.g. the VAPID key pair, which must never change
   * once subscriptions were made with it, so instances starting at once must agree). Atomic
   * across instances sharing the backend. The value is a secret: stores never log it.
   */
  keepFirstSecret(key: string, value: string): Promise<string>;
  /** Releases the backend's resources. */
  close(): Promise<void>;
  /**
   * One cheap round trip to the backend, for readiness probes: resolves when it answers,
   * rejects with {@link StorageUnavailableError} when it does not (with a plain Error once
   * the store is closed).
   */
  ping(): Promise<void>;
  /**
   * How many live registrations there are at `now`, for operators (`deno task cli count`).
   * May scan the whole backend; not necessarily a snapshot while others write.
   */
  count(now: number): Promise<RegistrationCount>;
}

/** What {@link RegistrationStore.createIfAbsent} came to. */
export interface CreatedDevice {
  /** Whether this call created the device (false: another registration was there first). */
  readonly created: boolean;
  /** The device as stored: the one created, or the one found. */
  readonly device: DeviceRegistration;
}

/** Live registrations, as {@link RegistrationStore.count} reports them. */
export interface RegistrationCount {
  readonly devices: number;
  readonly accounts: number;
  /**
   * The same devices and accounts by the app they were registered for, sorted by service
   * then app; apps without a live device are left out. Its figures add up to the totals.
   * A device whose target is gone counts under the app it had.
   */
  readonly byApp: readonly AppRegistrationCount[];
}

/** Live registrations of one app of one push service. */
export interface AppRegistrationCount {
  /** The push service (`wns`, `fcm`, `apns`, `webpush`). */
  readonly service: string;
  /** The app registered with it (UWPX's WNS devices: `wns`). */
  readonly app: string;
  readonly devices: number;
  readonly accounts: number;
}

/** A push service's OAuth access token. */
export interface AccessToken {
  readonly accessToken: string;
  readonly tokenType: string;
  /** Epoch milliseconds at which the service stops accepting it. */
  readonly expiresAt: number;
}
