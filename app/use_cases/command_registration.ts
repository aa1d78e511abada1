/**
 * Registrations by command, whatever the service (p2's `register-push-fcm` and kin, contract
 * §4): one stored "device" per registration key, id `<service>:<app>:<key>` (key: p2's device
 * hash unless the dialect brings its own), target {service, app, address}, exactly one account
 * whose id is the key (what the push carries) and whose node and secret are minted on the
 * first registration and kept across re-registrations and token changes. Every registration
 * renews the lifetime; unregistering deletes it, so its node stops resolving at once.
 *
 * @module
 */

import { bareJidOf, domainOfJid, p2DeviceHash } from "../../domain/p2_registration.ts";
import { mintNode, mintSecret, type RandomBytes } from "../../domain/minting.ts";
import type { Clock } from "../../domain/ports/clock.ts";
import type { Logger } from "../../domain/ports/logging.ts";
import type {
  CommandOutcome,
  RegisterRequest,
  RegistrationCommands,
  UnregisterRequest,
} from "../../domain/ports/registration_commands.ts";
import { type RegistrationStore, StorageUnavailableError } from "../../domain/ports/storage.ts";
import type { PushTarget } from "../../domain/push_target.ts";
import {
  type AccountRegistration,
  DEFAULT_REGISTRATION_POLICY,
  type DeviceRegistration,
  expiryFrom,
  type RegistrationPolicy,
} from "../../domain/registration.ts";
import type { GoneChannels } from "../gone_channels.ts";
import { KeyedLock } from "../keyed_lock.ts";
import { shortId } from "../log_ids.ts";
import { type NodeProvisioner, NodeSetupUnavailableError } from "../../domain/ports/xmpp_link.ts";

/**
 * The registration limits as commands use them: the source is the registering account's
 * domain (a command has no IP address of its own). `RegistrationLimits` implements it.
 */
export interface CommandAdmission {
  /**
   * A new registration by the account `jid` (bare) of the domain `source`: null to admit it
   * (then counted), or why not.
   */
  admitRegistration(source: string, jid: string): string | null;
  /** A registration admitted for `jid` of `source` was not made after all: it counts for nothing. */
  registrationWithdrawn(source: string, jid: string): void;
  /** A registration was deleted. */
  registrationRemoved(): void;
}

/** What the command registrations need. */
export interface CommandRegistrationDeps {
  readonly store: RegistrationStore;
  readonly clock: Clock;
  readonly random: RandomBytes;
  readonly logger: Logger;
  /** Lifetime; the default (210 days) when absent. */
  readonly policy?: RegistrationPolicy;
  /** Rates per source and global caps on new registrations; none by default. */
  readonly admission?: CommandAdmission;
  /** Addresses their service called gone, shared with the publish use case. */
  readonly goneChannels?: GoneChannels;
  /** Sets up and removes nodes on the XMPP side (client mode's PEP nodes); none needed by default. */
  readonly provisioner?: NodeProvisioner;
}

/**
 * The protocol version stored with command registrations: they speak no UWPX device
 * protocol (0 tells them apart in the stores' rows).
 */
export const COMMAND_REGISTRATION_VERSION = 0;

/** The stored device id of a registration: `<service>:<app>:<key>`. */
export function commandRegistrationId(service: string, app: string, key: string): string {
  return `${service}:${app}:${key}`;
}

/** The registration use cases behind the XEP-0050 door. */
export class CommandRegistration implements RegistrationCommands {
  readonly #deps: CommandRegistrationDeps;
  readonly #policy: RegistrationPolicy;
  readonly #lock = new KeyedLock();

  constructor(deps: CommandRegistrationDeps) {
    this.#deps = deps;
    this.#policy = deps.policy ?? DEFAULT_REGISTRATION_POLICY;
  }

  /**
   * Registers (or re-registers) a device: node and secret are those of the first
   * registration of its key; the target moves to `address`; the lifetime starts again. The
   * first registration is created only if absent (`RegistrationStore.createIfAbsent`), so
   * instances racing for one key (or commands interleaving) all answer the same node.
   */
  async register(request: RegisterRequest): Promise<CommandOutcome> {
    const key = request.key ?? await p2DeviceHash(bareJidOf(request.from), request.deviceId);
    const id = commandRegistrationId(request.service, request.app, key);
    const { service, app, address } = request;
    return await this.#guarded(id, async () => {
      const { store, clock, random, logger, admission, goneChannels } = this.#deps;
      const now = clock.now();
      const expiresAt = expiryFrom(now, this.#policy);
      const target = { service, app, address };
      const existing = await store.findDevice(id, now);
      const account = existing?.accounts.find((a) => a.accountId === key);
      if (existing && account) return await this.#renew(id, target, expiresAt, existing, account);
      const source = domainOfJid(request.from);
      const jid = bareJidOf(request.from);
      // A live device without the account (half-written by a crash) was counted when made.
      const admitted = existing === null ? admission : undefined;
      const refusal = admitted?.admitRegistration(source, jid) ?? null;
      if (refusal !== null) return { kind: "throttled", reason: refusal };
      const minted = { accountId: key, node: mintNode(random), secret: mintSecret(random) };
      if (!await this.#provision(minted.node)) {
        admitted?.registrationWithdrawn(source, jid);
        return {
          kind: "unavailable",
          reason: "the push node could not be set up, try again later",
        };
      }
      const { created, device } = await store.createIfAbsent(
        id,
        target,
        COMMAND_REGISTRATION_VERSION,
        minted,
        expiresAt,
        now,
      );
      if (!created) {
        // Another instance (or command) created it meanwhile: its node is the one to answer,
        // and the key counts once, for the creator.
        admitted?.registrationWithdrawn(source, jid);
        await this.#unprovision(minted.node);
        const kept = device.accounts.find((a) => a.accountId === key);
        if (!kept) throw new Error("createIfAbsent answered a device without the account");
        return await this.#renew(id, target, expiresAt, device, kept);
      }
      goneChannels?.delete(address);
      logger.info("registered", { service, app, account: shortId(key) });
      return { kind: "registered", node: minted.node, secret: minted.secret };
    });
  }

  /** A registration of a known key: a token change updates the target in place. */
  async #renew(
    id: string,
    target: PushTarget,
    expiresAt: number,
    existing: DeviceRegistration,
    account: AccountRegistration,
  ): Promise<CommandOutcome> {
    const { store, logger, goneChannels } = this.#deps;
    const { service, app, address } = target;
    // Node and secret stay.
    await store.saveTarget(id, target, COMMAND_REGISTRATION_VERSION, expiresAt);
    goneChannels?.delete(address);
    const changed = existing.target?.address !== address;
    logger.info("registration renewed", {
      service,
      app,
      account: shortId(account.accountId),
      changed,
    });
    return { kind: "registered", node: account.node, secret: account.secret };
  }

  /** Deletes a registration at once; `not-found` when there was none. */
  async unregister(request: UnregisterRequest): Promise<CommandOutcome> {
    const key = request.key ?? await p2DeviceHash(bareJidOf(request.from), request.deviceId);
    const id = commandRegistrationId(request.service, request.app, key);
    return await this.#guarded(id, async () => {
      const { store, clock, logger, admission, provisioner } = this.#deps;
      const nodes = provisioner
        ? (await store.findDevice(id, clock.now()))?.accounts.map((a) => a.node) ?? []
        : [];
      const deleted = await store.deleteDevice(id, clock.now());
      if (!deleted) return { kind: "not-found" };
      admission?.registrationRemoved();
      // Best effort: a node left behind resolves to nothing.
      if (nodes.length > 0) await provisioner?.provision([], nodes).catch(() => {});
      logger.info("unregistered", {
        service: request.service,
        app: request.app,
        account: shortId(key),
      });
      return { kind: "unregistered" };
    });
  }

  /** Whether the node is ready on the XMPP side (always, without a provisioner). */
  async #provision(node: string): Promise<boolean> {
    const { provisioner, logger } = this.#deps;
    if (!provisioner) return true;
    try {
      return (await provisioner.provision([node], [])).has(node);
    } catch (error) {
      if (!(error instanceof NodeSetupUnavailableError)) throw error;
      logger.warn("registration: node unavailable", { reason: error.message });
      return false;
    }
  }

  /** Removes a node set up for a registration that was not made (best effort). */
  async #unprovision(node: string): Promise<void> {
    await this.#deps.provisioner?.provision([], [node]).catch(() => {});
  }

  /** One command per registration at a time; storage trouble becomes `unavailable`. */
  async #guarded(id: string, work: () => Promise<CommandOutcome>): Promise<CommandOutcome> {
    try {
      return await this.#lock.run(id, work);
    } catch (error) {
      if (error instanceof StorageUnavailableError) {
        this.#deps.logger.warn("storage unavailable", { reason: error.message });
        return { kind: "unavailable", reason: "storage unavailable, try again later" };
      }
      this.#deps.logger.error("registration command failed", { reason: String(error) });
      return { kind: "unavailable", reason: "internal error, try again later" };
    }
  }
}
