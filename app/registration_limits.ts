/**
 * What new registrations may cost: per source network (an IPv4 /24 or IPv6 /56), a token
 * bucket of new devices and one of new accounts; over all, a cap on live devices and
 * accounts. Only what is new counts: a known device registering its channel again, or
 * setting accounts it already has, costs nothing, so many real devices behind one carrier
 * NAT keep working while a flood of made-up device ids from one network is held.
 *
 * The global caps need the number of live registrations. Counting them is a scan of the
 * whole backend (`RegistrationStore.count`), far too dear per request: {@link
 * RegistrationCounter} counts once at start and then every `refreshMs`, and in between adds
 * what this instance admitted and takes off what it removed. Between refreshes it may be off
 * by what expired meanwhile (it over-counts: safe) and by what other instances sharing the
 * store did (each counts its own).
 *
 * @module
 */

import { prefixOf } from "../adapters/device/connection_sources.ts";
import type { Clock } from "../domain/ports/clock.ts";
import type { Logger } from "../domain/ports/logging.ts";
import type { AppRegistrationCount, RegistrationStore } from "../domain/ports/storage.ts";
import type { ReportLimit } from "./limit_reporter.ts";
import type { RegistrationLevels } from "../domain/ports/metrics.ts";
import { KeyedRateLimiter, type Rate } from "./rate_limiter.ts";
import type { CommandAdmission } from "./use_cases/command_registration.ts";

/** What a device is told when its network registered too many new devices or accounts. */
export const TOO_MANY_REGISTRATIONS =
  "too many new registrations from your network: try again later";
/** What an account is told when it made too many new registrations by command. */
export const TOO_MANY_FOR_ACCOUNT = "too many new registrations for your account: try again later";
/** What a device is told when the server holds as many registrations as it may. */
export const REGISTRATIONS_FULL = "push server full: no new registrations accepted";

/** Decides whether new registrations are admitted (see `DeviceService`). */
export interface RegistrationAdmission {
  /**
   * A device id storage does not know wants to register, from `address` (the peer's IP
   * address, when known): null to admit it (it is then counted), or the error to answer.
   */
  admitDevice(address: string | undefined): string | null;
  /** A device adds `count` accounts it did not have: null to admit them, or the error. */
  admitAccounts(address: string | undefined, count: number): string | null;
  /** A device dropped `count` accounts. */
  accountsRemoved(count: number): void;
}

/** Settings of {@link RegistrationLimits}. */
export interface RegistrationLimitsOptions {
  readonly newDevicesPerPrefix: Rate;
  readonly newAccountsPerPrefix: Rate;
  /**
   * New registrations by command per account (bare JID), within its domain's: one account
   * cannot spend its domain's allowance (every other user of a big server would be refused).
   */
  readonly newRegistrationsPerJid: Rate;
  /** Live devices and accounts at most; 0: no cap. */
  readonly maxDevices: number;
  readonly maxAccounts: number;
  /** Networks tracked at once (see `KeyedRateLimiter`). */
  readonly maxPrefixes: number;
  readonly counter: RegistrationCounter;
  readonly clock: Clock;
  readonly report: ReportLimit;
}

/**
 * Per-network rates and global caps on new devices and accounts; for registrations by
 * command (one device with one account each), per registering domain.
 */
export class RegistrationLimits implements RegistrationAdmission, CommandAdmission {
  readonly #options: RegistrationLimitsOptions;
  readonly #devices: KeyedRateLimiter<string>;
  readonly #accounts: KeyedRateLimiter<string>;
  readonly #jids: KeyedRateLimiter<string>;

  constructor(options: RegistrationLimitsOptions) {
    this.#options = options;
    const { maxPrefixes: maxKeys, clock } = options;
    this.#devices = new KeyedRateLimiter({ rate: options.newDevicesPerPrefix, maxKeys, clock });
    this.#accounts = new KeyedRateLimiter({ rate: options.newAccountsPerPrefix, maxKeys, clock });
    this.#jids = new KeyedRateLimiter({ rate: options.newRegistrationsPerJid, maxKeys, clock });
  }

  /** Live devices and accounts as counted, and the caps: for metrics. */
  levels(): RegistrationLevels {
    const { counter, maxDevices, maxAccounts } = this.#options;
    return { devices: counter.devices, accounts: counter.accounts, maxDevices, maxAccounts };
  }

  admitDevice(address: string | undefined): string | null {
    const { counter, maxDevices, report } = this.#options;
    if (maxDevices > 0 && counter.devices >= maxDevices) {
      report("registrations_full", { max: maxDevices, kind: "devices" });
      return REGISTRATIONS_FULL;
    }
    if (!this.#devices.take(networkOf(address))) {
      report("new_devices_per_prefix");
      return TOO_MANY_REGISTRATIONS;
    }
    counter.added(1, 0);
    return null;
  }

  admitAccounts(address: string | undefined, count: number): string | null {
    if (count <= 0) return null;
    const { counter, maxAccounts, report, newAccountsPerPrefix } = this.#options;
    if (maxAccounts > 0 && counter.accounts + count > maxAccounts) {
      report("registrations_full", { max: maxAccounts, kind: "accounts" });
      return REGISTRATIONS_FULL;
    }
    // A request may add more accounts than a bucket holds: it then needs a full bucket.
    if (!this.#accounts.take(networkOf(address), Math.min(count, newAccountsPerPrefix.burst))) {
      report("new_accounts_per_prefix");
      return TOO_MANY_REGISTRATIONS;
    }
    counter.added(0, count);
    return null;
  }

  /**
   * A new registration by command by the account `jid` of the domain `source`: one device
   * and one account, against the caps, the account's bucket, then the domain's (domains are
   * keyed apart from IP networks). The account's comes first: an account over its rate
   * takes nothing from its domain's.
   */
  admitRegistration(source: string, jid: string): string | null {
    const { counter, maxDevices, maxAccounts, report } = this.#options;
    if (
      (maxDevices > 0 && counter.devices >= maxDevices) ||
      (maxAccounts > 0 && counter.accounts >= maxAccounts)
    ) {
      report("registrations_full", { max: maxDevices, kind: "registrations" });
      return REGISTRATIONS_FULL;
    }
    if (!this.#jids.take(jid)) {
      report("new_registrations_per_jid", { source });
      return TOO_MANY_FOR_ACCOUNT;
    }
    if (!this.#devices.take(domainKey(source))) {
      this.#jids.giveBack(jid);
      report("new_devices_per_prefix", { source });
      return TOO_MANY_REGISTRATIONS;
    }
    counter.added(1, 1);
    return null;
  }

  /**
   * A registration by command admitted from `source` was not made after all (another
   * instance or command created it first, or its node could not be set up): its token goes
   * back to the source's bucket and it leaves the count, so a key counts once.
   */
  registrationWithdrawn(source: string, jid: string): void {
    this.#jids.giveBack(jid);
    this.#devices.giveBack(domainKey(source));
    this.#options.counter.added(-1, -1);
  }

  /** A registration by command was deleted. */
  registrationRemoved(): void {
    this.#options.counter.added(-1, -1);
  }

  accountsRemoved(count: number): void {
    if (count > 0) this.#options.counter.added(0, -count);
  }
}

/** The bucket of a registering domain: keyed apart from IP networks. */
function domainKey(source: string): string {
  return `domain:${source}`;
}

/** The network a request comes from; requests of unknown origin share one bucket. */
function networkOf(address: string | undefined): string {
  return address === undefined || address === "" ? "unknown" : prefixOf(address);
}

/** Settings of {@link RegistrationCounter}. */
export interface RegistrationCounterOptions {
  readonly store: Pick<RegistrationStore, "count">;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often the store is counted again; 0: only at start. */
  readonly refreshMs: number;
}

/** Live devices and accounts: counted by the store now and then, tracked in between. */
export class RegistrationCounter {
  readonly #options: RegistrationCounterOptions;
  #devices = 0;
  #accounts = 0;
  #byApp: readonly AppRegistrationCount[] = [];
  /** Changes admitted while a count is running: added to its result. */
  #pending: { devices: number; accounts: number } | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(options: RegistrationCounterOptions) {
    this.#options = options;
  }

  get devices(): number {
    return this.#devices;
  }

  get accounts(): number {
    return this.#accounts;
  }

  /**
   * Live devices and accounts per app as of the last count that succeeded (none before the
   * first): not tracked in between, unlike the totals.
   */
  get byApp(): readonly AppRegistrationCount[] {
    return this.#byApp;
  }

  /** Counts now, then every `refreshMs` in the background; resolves after the first count. */
  start(): Promise<void> {
    if (this.#options.refreshMs > 0 && this.#timer === undefined) {
      this.#timer = setInterval(() => this.refresh(), this.#options.refreshMs);
    }
    return this.refresh();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** `devices` and `accounts` were added (negative: removed) by this instance. */
  added(devices: number, accounts: number): void {
    this.#devices = Math.max(0, this.#devices + devices);
    this.#accounts = Math.max(0, this.#accounts + accounts);
    if (this.#pending) {
      this.#pending.devices += devices;
      this.#pending.accounts += accounts;
    }
  }

  /** Counts the store again; one count at a time. A failed count keeps the last figures. */
  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      const { store, clock, logger } = this.#options;
      this.#pending = { devices: 0, accounts: 0 };
      try {
        const counted = await store.count(clock.now());
        this.#devices = Math.max(0, counted.devices + this.#pending.devices);
        this.#accounts = Math.max(0, counted.accounts + this.#pending.accounts);
        this.#byApp = counted.byApp;
      } catch (error) {
        logger.warn("registration count failed", { reason: String(error) });
      } finally {
        this.#pending = null;
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }
}
