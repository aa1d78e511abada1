/**
 * The device-facing use cases: register a channel, set the accounts, ask for a test push.
 * Transport-free: the TLS adapter parses frames and calls these.
 *
 * @module
 */

import type { DeviceUseCases } from "../../domain/ports/device_use_cases.ts";
import { planAccounts } from "../../domain/account_plan.ts";
import type { RandomBytes } from "../../domain/minting.ts";
import { type Clock } from "../../domain/ports/clock.ts";
import { type Logger } from "../../domain/ports/logging.ts";
import type { PushDelivery } from "../../domain/ports/push_delivery.ts";
import type { PushTarget, TargetDefaults } from "../../domain/push_target.ts";
import { type RegistrationStore, StorageUnavailableError } from "../../domain/ports/storage.ts";
import { type NodeProvisioner, NodeSetupUnavailableError } from "../../domain/ports/xmpp_link.ts";
import { isAllowedChannelUri } from "../../domain/channel_uri.ts";
import {
  DEFAULT_REGISTRATION_POLICY,
  expiryFrom,
  goneChannelExpiry,
  type RegistrationPolicy,
} from "../../domain/registration.ts";
import { GoneChannels } from "../gone_channels.ts";
import { KeyedLock } from "../keyed_lock.ts";
import { type DeviceAction, type DeviceMetrics, NO_METRICS } from "../../domain/ports/metrics.ts";
import { shortId } from "../log_ids.ts";
import type { RegistrationAdmission } from "../registration_limits.ts";

/** A use case's answer: success, or an error message the device sees. */
export type DeviceResult<T = undefined> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

/** The answer to `set_push_accounts`. */
export interface AccountsResult {
  readonly pushBareJid: string;
  readonly accounts: readonly {
    readonly accountId: string;
    readonly node: string;
    readonly secret: string;
    readonly success: boolean;
  }[];
}

/** What the device use cases need. */
export interface DeviceServiceDeps {
  readonly store: RegistrationStore;
  /** Sends the test pushes, whatever the target's push service. */
  readonly delivery: PushDelivery;
  /** The service and app of the targets this front door registers (addresses alone). */
  readonly targets: TargetDefaults;
  readonly provisioner: NodeProvisioner;
  readonly clock: Clock;
  readonly random: RandomBytes;
  readonly logger: Logger;
  /**
   * Channel URIs must match this whole (whatever its anchors) and be plain http(s) URLs, so
   * a device can never make the server POST elsewhere.
   */
  readonly channelUriPattern: RegExp;
  /** The JID the device gives its XMPP server as the push service. */
  readonly pushBareJid: string;
  /** Counts answers by action and outcome; none by default. */
  readonly metrics?: DeviceMetrics;
  /** Lifetime and grace period; the defaults (210 and 30 days) when absent. */
  readonly policy?: RegistrationPolicy;
  /** Addresses their service called gone, shared with the publish use case; private by default. */
  readonly goneChannels?: GoneChannels;
  /** Rates and caps on new devices and accounts; none by default. */
  readonly admission?: RegistrationAdmission;
}

const UNAVAILABLE = "storage unavailable, try again later";
/** Client mode: the push account's server could not set up a node now. Not final. */
const NODES_UNAVAILABLE = "the push service's XMPP server is not available, try again later";
const UNKNOWN_DEVICE = "unknown device: send set_channel_uri first";
const INTERNAL_ERROR = "internal error";

/** The device use cases. */
export class DeviceService implements DeviceUseCases {
  readonly #deps: DeviceServiceDeps;
  readonly #lock = new KeyedLock();
  readonly #policy: RegistrationPolicy;
  readonly #gone: GoneChannels;

  constructor(deps: DeviceServiceDeps) {
    this.#deps = deps;
    this.#policy = deps.policy ?? DEFAULT_REGISTRATION_POLICY;
    this.#gone = deps.goneChannels ?? new GoneChannels();
  }

  /**
   * `set_channel_uri`: creates the device or moves it to a new channel. `address`: the
   * device's IP address, for the registration limits.
   */
  setChannelUri(
    deviceId: string,
    channelUri: string,
    version: number,
    address?: string,
  ): Promise<DeviceResult> {
    return this.#counted(
      "set_channel_uri",
      this.#setChannelUri(deviceId, channelUri, version, address),
    );
  }

  /** `set_push_accounts`: the device's accounts become exactly `accountIds`. */
  setPushAccounts(
    deviceId: string,
    accountIds: readonly string[],
    address?: string,
  ): Promise<DeviceResult<AccountsResult>> {
    return this.#counted(
      "set_push_accounts",
      this.#setPushAccounts(deviceId, accountIds, address),
    );
  }

  /** `request_test_push`: succeeds only when the push service accepted the test notification. */
  requestTestPush(deviceId: string): Promise<DeviceResult> {
    return this.#counted("request_test_push", this.#requestTestPush(deviceId));
  }

  /** Reports how a request ended. */
  async #counted<T>(
    action: DeviceAction,
    work: Promise<DeviceResult<T>>,
  ): Promise<DeviceResult<T>> {
    const result = await work;
    const metrics = this.#deps.metrics ?? NO_METRICS;
    if (result.ok) metrics.deviceRequest(action, "ok");
    else if (result.error === UNAVAILABLE || result.error === NODES_UNAVAILABLE) {
      metrics.deviceRequest(action, "unavailable");
    } else if (result.error === INTERNAL_ERROR) metrics.deviceRequest(action, "error");
    else metrics.deviceRequest(action, "refused");
    return result;
  }

  #setChannelUri(
    deviceId: string,
    channelUri: string,
    version: number,
    address: string | undefined,
  ): Promise<DeviceResult> {
    const { store, clock, logger, channelUriPattern, admission } = this.#deps;
    if (!isAllowedChannelUri(channelUri, channelUriPattern)) {
      return Promise.resolve({ ok: false, error: "channel_uri is not a WNS channel URI" });
    }
    return this.#guarded(deviceId, async () => {
      // Only a device storage does not know counts against the registration limits.
      if (admission && await store.findDevice(deviceId, clock.now()) === null) {
        const refusal = admission.admitDevice(address);
        if (refusal !== null) return { ok: false, error: refusal };
      }
      // Keeps the accounts (of a device whose channel was gone too: they deliver again),
      // and restores the full lifetime.
      await store.saveTarget(
        deviceId,
        { ...this.#deps.targets, address: channelUri },
        version,
        expiryFrom(clock.now(), this.#policy),
      );
      this.#gone.delete(channelUri);
      logger.info("channel registered", { device: shortId(deviceId) });
      return { ok: true, value: undefined };
    });
  }

  #setPushAccounts(
    deviceId: string,
    accountIds: readonly string[],
    address: string | undefined,
  ): Promise<DeviceResult<AccountsResult>> {
    const { store, clock, random, logger, provisioner, pushBareJid, admission } = this.#deps;
    return this.#guarded(deviceId, async () => {
      const now = clock.now();
      const device = await store.findDevice(deviceId, now);
      if (device === null) return { ok: false, error: UNKNOWN_DEVICE };
      const plan = planAccounts(device.accounts, accountIds, random);
      // Only accounts the device did not have count against the registration limits.
      const refusal = admission?.admitAccounts(address, plan.added.length) ?? null;
      if (refusal !== null) return { ok: false, error: refusal };
      let ready: ReadonlySet<string>;
      try {
        ready = await provisioner.provision(
          plan.added.map((a) => a.node),
          plan.removed.map((a) => a.node),
        );
      } catch (error) {
        if (!(error instanceof NodeSetupUnavailableError)) throw error;
        // Not `success: false`, which the client takes as final: a failed request, which
        // it sends again at its next start. Nothing was stored.
        logger.warn("accounts not registered: nodes unavailable", { device: shortId(deviceId) });
        return { ok: false, error: NODES_UNAVAILABLE };
      }
      const addedNodes = new Set(plan.added.map((a) => a.node));
      const works = (node: string) => !addedNodes.has(node) || ready.has(node);
      // A node that could not be set up is not stored: the next request tries a fresh one.
      await store.replaceAccounts(
        deviceId,
        plan.accounts.filter((a) => works(a.node)),
        expiryFrom(now, this.#policy),
      );
      admission?.accountsRemoved(plan.removed.length);
      logger.info("accounts registered", {
        device: shortId(deviceId),
        accounts: plan.accounts.length,
        added: plan.added.length,
        removed: plan.removed.length,
      });
      return {
        ok: true,
        value: {
          pushBareJid,
          accounts: plan.accounts.map((a) => ({
            ...a,
            success: works(a.node),
          })),
        },
      };
    });
  }

  async #requestTestPush(deviceId: string): Promise<DeviceResult> {
    const { store, clock, delivery, logger } = this.#deps;
    let target: PushTarget | null;
    let expiresAt: number;
    try {
      const device = await store.findDevice(deviceId, clock.now());
      if (device === null) return { ok: false, error: UNKNOWN_DEVICE };
      target = device.target;
      expiresAt = device.expiresAt;
    } catch (error) {
      return this.#storageFailure(error);
    }
    if (target === null || this.#gone.has(target.address)) {
      return { ok: false, error: "channel expired: send set_channel_uri again" };
    }
    // The stored target as it is: its service picks the adapter.
    const outcome = await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 });
    logger.info("test push", { device: shortId(deviceId), outcome: outcome.kind });
    switch (outcome.kind) {
      case "delivered":
        return { ok: true, value: undefined };
      case "target-gone":
        this.#gone.add(target.address);
        await store.forgetChannel(
          deviceId,
          target.address,
          goneChannelExpiry(clock.now(), expiresAt, this.#policy),
        ).catch(() => {});
        return { ok: false, error: "WNS says the channel is gone: send set_channel_uri again" };
      case "throttled":
        return { ok: false, error: "WNS is throttling this channel: try again later" };
      case "failed":
        return { ok: false, error: `WNS did not accept the test push (${failureText(outcome)})` };
    }
  }

  /** Runs a device's registration step alone, turning storage trouble into an answer. */
  async #guarded<T>(
    deviceId: string,
    work: () => Promise<DeviceResult<T>>,
  ): Promise<DeviceResult<T>> {
    try {
      return await this.#lock.run(deviceId, work);
    } catch (error) {
      return this.#storageFailure(error);
    }
  }

  #storageFailure(error: unknown): { ok: false; error: string } {
    if (error instanceof StorageUnavailableError) {
      this.#deps.logger.warn("storage unavailable", { reason: error.message });
      return { ok: false, error: UNAVAILABLE };
    }
    this.#deps.logger.error("device request failed", { reason: String(error) });
    return { ok: false, error: INTERNAL_ERROR };
  }
}

function failureText(outcome: { status: number | null; detail: string }): string {
  return outcome.status === null ? outcome.detail : `HTTP ${outcome.status}`;
}
