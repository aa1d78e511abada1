/**
 * An in-process {@link RegistrationStore}: for tests and demos. Registrations are lost on
 * restart, and the UWPX client does not send an unchanged registration again.
 *
 * @module
 */

import type { Clock } from "../../../domain/ports/clock.ts";
import type {
  AccessToken,
  CreatedDevice,
  RegistrationCount,
  RegistrationStore,
} from "../../../domain/ports/storage.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import {
  type AccountRegistration,
  checkAccountList,
  type DeviceRegistration,
  type NodeTarget,
} from "../../../domain/registration.ts";
import { AppTally } from "../app_tally.ts";
import { storedDeviceId } from "../device_key.ts";

/** A device as held in memory. Mutable on purpose; it never leaves this module. */
interface HeldDevice {
  /** Where its pushes go (a copy of what was saved); null once it was called gone. */
  target: PushTarget | null;
  /** The service and app of its target, kept once the target is gone (for `count`). */
  app: { service: string; app: string };
  version: number;
  expiresAt: number;
  accounts: AccountRegistration[];
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * Keeps registrations in Maps, with an index from node to device so that `findNode` (run on
 * every push) is a couple of lookups. Every value handed in or out is copied, so callers
 * can neither change the store by accident nor see later writes through an old result.
 * Devices are keyed by their stored key (`device_key.ts`), not by their ids.
 */
export class MemoryStore implements RegistrationStore {
  readonly #devices = new Map<string, HeldDevice>();
  /** node -> device id; kept in step with `#devices` by every write. */
  readonly #nodes = new Map<string, string>();
  readonly #clock: Clock;
  /** Cached access tokens by key. */
  readonly #tokens = new Map<string, AccessToken>();
  /** Secrets kept by {@link MemoryStore.keepFirstSecret}, by key. */
  readonly #secrets = new Map<string, string>();
  #closed = false;

  /**
   * @param clock Only used by the writes that get no `now` from the port (`saveTarget`,
   *   `replaceAccounts` and `renew`) to tell a live device from an expired one not yet purged.
   */
  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** Creates the device or updates its target and version, keeping its accounts. */
  saveTarget(
    deviceId: string,
    target: PushTarget,
    version: number,
    expiresAt: number,
  ): Promise<void> {
    const key = storedDeviceId(deviceId);
    const { service, app, address } = target;
    const held = { service, app, address };
    return this.#run(() => {
      const device = this.#liveDevice(key, this.#clock.now());
      if (device) {
        device.target = held;
        device.app = { service, app };
        device.version = version;
        device.expiresAt = expiresAt;
        return;
      }
      // An expired device's accounts died with it: start afresh, as a TTL-based store would.
      this.#dropDevice(key);
      const created = { target: held, app: { service, app }, version, expiresAt, accounts: [] };
      this.#devices.set(key, created);
    });
  }

  /** Creates the device with one account unless a live one has that account already. */
  createIfAbsent(
    deviceId: string,
    target: PushTarget,
    version: number,
    account: AccountRegistration,
    expiresAt: number,
    now: number,
  ): Promise<CreatedDevice> {
    const key = storedDeviceId(deviceId);
    return this.#run(() => {
      const live = this.#liveDevice(key, now);
      if (live && live.accounts.some((a) => a.accountId === account.accountId)) {
        return { created: false, device: copyDevice(deviceId, live) };
      }
      checkAccountList([account]);
      const owner = this.#nodes.get(account.node);
      if (owner !== undefined && owner !== key) {
        throw new Error("createIfAbsent: the node already belongs to another device");
      }
      this.#dropDevice(key);
      const { service, app, address } = target;
      const held: HeldDevice = {
        target: { service, app, address },
        app: { service, app },
        version,
        expiresAt,
        accounts: [copyAccount(account)],
      };
      this.#devices.set(key, held);
      this.#nodes.set(account.node, key);
      return { created: true, device: copyDevice(deviceId, held) };
    });
  }

  /** The device's live registration (a copy), or null. */
  findDevice(deviceId: string, now: number): Promise<DeviceRegistration | null> {
    return this.#run(() => {
      const device = this.#liveDevice(storedDeviceId(deviceId), now);
      return device ? copyDevice(deviceId, device) : null;
    });
  }

  /** Replaces the device's accounts; throws if it is unknown or expired. */
  replaceAccounts(
    deviceId: string,
    accounts: readonly AccountRegistration[],
    expiresAt: number,
  ): Promise<void> {
    const key = storedDeviceId(deviceId);
    return this.#run(() => {
      const device = this.#liveDevice(key, this.#clock.now());
      if (!device) {
        throw new Error("replaceAccounts: the device is not registered or has expired");
      }
      checkAccountList(accounts);
      for (const { node } of accounts) {
        const owner = this.#nodes.get(node);
        if (owner !== undefined && owner !== key) {
          throw new Error("replaceAccounts: a node already belongs to another device");
        }
      }
      // All checks passed: from here on nothing throws, so the write is all-or-nothing.
      for (const { node } of device.accounts) this.#nodes.delete(node);
      device.accounts = accounts.map(copyAccount);
      for (const { node } of device.accounts) this.#nodes.set(node, key);
      device.expiresAt = expiresAt;
    });
  }

  /** The live registration behind a node, or null. */
  findNode(node: string, now: number): Promise<NodeTarget | null> {
    return this.#run(() => {
      const deviceId = this.#nodes.get(node);
      if (deviceId === undefined) return null;
      const device = this.#liveDevice(deviceId, now);
      const account = device?.accounts.find((a) => a.node === node);
      if (!device || !account) return null;
      return {
        node,
        accountId: account.accountId,
        deviceId,
        secret: account.secret,
        target: copyTarget(device.target),
        expiresAt: device.expiresAt,
      };
    });
  }

  /** Nulls the device's target if its address is still `address`, shortening its life. */
  forgetChannel(deviceId: string, address: string, expiresAt: number): Promise<void> {
    return this.#run(() => {
      const device = this.#devices.get(storedDeviceId(deviceId));
      // Only the address the service rejected: the device may have sent a new one meanwhile.
      if (!device || device.target?.address !== address) return;
      device.target = null;
      device.expiresAt = Math.min(device.expiresAt, expiresAt);
    });
  }

  /** Extends a live device still at `address` to `expiresAt`, if that is later. */
  renew(deviceId: string, address: string, expiresAt: number): Promise<void> {
    return this.#run(() => {
      const device = this.#liveDevice(storedDeviceId(deviceId), this.#clock.now());
      if (!device || device.target === null || device.target.address !== address) return;
      device.expiresAt = Math.max(device.expiresAt, expiresAt);
    });
  }

  /** Deletes the device and its accounts; true if it was live. */
  deleteDevice(deviceId: string, now: number): Promise<boolean> {
    return this.#run(() => {
      const key = storedDeviceId(deviceId);
      const live = this.#liveDevice(key, now) !== null;
      this.#dropDevice(key);
      return live;
    });
  }

  /** Deletes expired devices with their accounts; returns how many devices went. */
  purgeExpired(now: number): Promise<number> {
    return this.#run(() => {
      let purged = 0;
      for (const [deviceId, device] of this.#devices) {
        if (device.expiresAt <= now) {
          this.#dropDevice(deviceId);
          purged++;
        }
      }
      return purged;
    });
  }

  /** The token cached under `key` (a copy), or null. */
  loadToken(key: string): Promise<AccessToken | null> {
    return this.#run(() => {
      const token = this.#tokens.get(key);
      return token ? { ...token } : null;
    });
  }

  /** Caches a token under `key`, replacing the previous one. */
  saveToken(key: string, token: AccessToken): Promise<void> {
    return this.#run(() => {
      this.#tokens.set(key, {
        accessToken: token.accessToken,
        tokenType: token.tokenType,
        expiresAt: token.expiresAt,
      });
    });
  }

  /** Keeps `value` under `key` unless one is kept already; answers the kept one. */
  keepFirstSecret(key: string, value: string): Promise<string> {
    return this.#run(() => {
      const kept = this.#secrets.get(key);
      if (kept !== undefined) return kept;
      this.#secrets.set(key, value);
      return value;
    });
  }

  /** Resolves while the store is open. */
  ping(): Promise<void> {
    return this.#run(() => {});
  }

  /** Live devices and their accounts at `now`, in all and by the app of their target. */
  count(now: number): Promise<RegistrationCount> {
    return this.#run(() => {
      let devices = 0;
      let accounts = 0;
      const byApp = new AppTally();
      for (const device of this.#devices.values()) {
        if (device.expiresAt <= now) continue;
        devices++;
        accounts += device.accounts.length;
        byApp.add(device.app.service, device.app.app, device.accounts.length);
      }
      return { devices, accounts, byApp: byApp.result() };
    });
  }

  /** Drops everything; later calls reject. */
  close(): Promise<void> {
    this.#devices.clear();
    this.#nodes.clear();
    this.#tokens.clear();
    this.#closed = true;
    return Promise.resolve();
  }

  /** Runs `body` synchronously (so each method is atomic) and turns throws into rejections. */
  #run<T>(body: () => T): Promise<T> {
    return new Promise((resolve) => {
      if (this.#closed) throw new Error("MemoryStore is closed");
      resolve(body());
    });
  }

  #liveDevice(deviceId: string, now: number): HeldDevice | null {
    const device = this.#devices.get(deviceId);
    return device && device.expiresAt > now ? device : null;
  }

  #dropDevice(deviceId: string): void {
    const device = this.#devices.get(deviceId);
    if (!device) return;
    for (const { node } of device.accounts) this.#nodes.delete(node);
    this.#devices.delete(deviceId);
  }
}

function copyAccount(account: AccountRegistration): AccountRegistration {
  return { accountId: account.accountId, node: account.node, secret: account.secret };
}

function copyDevice(deviceId: string, device: HeldDevice): DeviceRegistration {
  return {
    deviceId,
    target: copyTarget(device.target),
    version: device.version,
    accounts: device.accounts.map(copyAccount),
    expiresAt: device.expiresAt,
  };
}

function copyTarget(target: PushTarget | null): PushTarget | null {
  return target === null ? null : { ...target };
}
