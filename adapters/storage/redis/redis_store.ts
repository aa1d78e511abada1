/**
 * A {@link RegistrationStore} on Redis, with exactly the original UWPX push server's key
 * layout, so this server can take over the original's Redis and existing devices keep
 * getting pushes:
 *
 * - `<device_id>` -> list `[channel_uri, version, <account key>...]`
 * - `<account key>` (lower-case hex SHA-256 of `device_id + "_" + account_id`) -> string `<node>`
 * - `<node>` -> list `[account_id, device_id, secret]`
 * - `"WNS"` -> list `[token, token_type, expires_unix_seconds]`
 *
 * Registrations of other push services and apps (FCM, APNs, Web Push: issue 15's
 * registrations by command) use the same three kinds of keys, so expiry, renewal, forgetting,
 * deleting and counting treat them alike; only slot 0 of the device list differs:
 *
 * - `<service>:<app>:<key>` (the registration's device id, e.g. `fcm:conversations:<40 hex>`)
 *   -> list `["target:<service>:<app>:<address>", version, <account key>...]`
 * - account key and node as above (`<node>` -> `[account_id, device_id, secret]`)
 * - `"token:<key>"` -> list `[token, token_type, expires_unix_seconds]` for every cached
 *   token but WNS's (e.g. `token:FCM:<app>`, an FCM app's OAuth token)
 *
 * WNS devices of the one app stay byte for byte the original's (a bare channel URI in slot
 * 0). A channel URI never starts with `target:`, and UWPX device ids are hex, so neither kind
 * of key can be taken for the other. The original server does not know `target:` slots: it
 * cannot push to those devices (it would not try: no UWPX device names them).
 *
 * Added beside it (no name the original uses or a device id can take, device ids being hex):
 * - `uwpx:secret:<key>` -> string: a secret of `keepFirstSecret` (the VAPID key pair), set
 *   once with `SET NX`, no TTL.
 *
 * Differences in what is written, all readable by the original server:
 * - A forgotten channel (WNS said it is gone) is stored as `""` in slot 0 and read as null.
 * - The WNS token's expiry keeps its milliseconds as a fraction (`"1700000000.123"`); the
 *   original parses the integer part. The `WNS` key gets no TTL: readers check the expiry.
 * - Every write of a device sets `PEXPIREAT expiresAt` on all of its keys (the original
 *   refreshed only some of them, with a relative 210-day TTL). A delivered push renews
 *   them the same way (at most about once a day); a gone channel brings them forward to
 *   the end of its grace period.
 *
 * Expiry is Redis's own: keys vanish at their `PEXPIREAT`, by Redis's clock. Reads also
 * hide entries whose expiry is not after the given `now`, but a `now` earlier than real
 * time cannot bring back keys Redis already dropped. {@link RedisStore.purgeExpired} has
 * nothing to do and returns 0.
 *
 * Every multi-key operation is one Lua script, so it is atomic: other clients (another
 * instance of this server, or the original) see the device before or after it, never in
 * between, and since Redis writes a script's effects to the AOF as one MULTI/EXEC block, a
 * crash mid-way leaves the old or the new state. Scripts touch keys they read from other
 * keys, which Redis Cluster forbids: standalone Redis and Sentinel only.
 *
 * URL forms: see `redis_url.ts`. The scripts are in `redis_scripts.ts`.
 *
 * @module
 */

import { settlesWithin, withTimeout } from "../../../lib/timeout.ts";
import { Redis, ReplyError } from "ioredis";
import type { PushTarget } from "../../../domain/push_target.ts";
import { type Logger } from "../../../domain/ports/logging.ts";
import {
  type AccessToken,
  type CreatedDevice,
  type RegistrationCount,
  type RegistrationStore,
  StorageUnavailableError,
} from "../../../domain/ports/storage.ts";
import {
  type AccountRegistration,
  checkAccountList,
  type DeviceRegistration,
  type NodeTarget,
} from "../../../domain/registration.ts";
import { Deadlines } from "./call_deadlines.ts";
import { AppTally } from "../app_tally.ts";
import { accountKey } from "./redis_keys.ts";
import {
  COUNT_BATCH,
  DEFAULT_VERSION,
  type FindDeviceReply,
  REFUSED,
  SCAN_BATCH,
  type ScriptCommands,
  SCRIPTS,
} from "./redis_scripts.ts";
import { clientOptions, parseRedisUrl, type RedisTarget } from "./redis_url.ts";

/** Options of {@link RedisStore.connect}. */
export interface RedisStoreOptions {
  /** Gets connection losses and recoveries (never the password). */
  readonly logger?: Logger;
  /** How long connecting may take before `connect` rejects. Default 5000. */
  readonly connectTimeoutMs?: number;
  /**
   * How long one call waits for Redis's answer before it rejects with
   * {@link StorageUnavailableError} (a hung or overloaded server). Default 2000.
   */
  readonly commandTimeoutMs?: number;
  /**
   * PEM certificates to trust for `rediss://`, instead of the system's roots (a private CA,
   * or a self-signed server certificate).
   */
  readonly tlsCaCerts?: readonly string[];
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const WNS_KEY = "WNS";
/** Prefix of the keys of `keepFirstSecret`: a colon, which no original key has. */
const SECRET_KEY_PREFIX = "uwpx:secret:";
/**
 * The one kind of target the original layout holds: WNS channels of the one app. It stores
 * the channel URI alone, so reads answer this service and app with it. The same names as the
 * wiring's WNS targets (`WNS_TARGETS` in `adapters/push/wns/wns_push_delivery.ts`, which the
 * device front door registers under); kept here so a storage adapter needs no push adapter,
 * and `tests/adapters/storage/redis/redis_store_test.ts` checks the two agree.
 */
export const REDIS_LAYOUT_TARGETS = { service: "wns", app: "wns" } as const;

/** Slot 0 of a non-WNS device list starts with this, then `<service>:<app>:<address>`. */
const TARGET_PREFIX = "target:";
/** Cached tokens other than WNS's live under this prefix and their key. */
const TOKEN_PREFIX = "token:";
/** Service and app names in a `target:` slot: no colon (it separates them). */
const TARGET_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Token keys: the port's (`WNS`, `FCM:<app>`...), printable, no spaces. */
const TOKEN_KEY = /^[A-Za-z0-9][\x21-\x7e]{0,199}$/;

/** The Redis key a token is cached under: `WNS` as the original has it, others prefixed. */
function tokenRedisKey(key: string): string {
  if (key === WNS_KEY) return WNS_KEY;
  if (!TOKEN_KEY.test(key)) throw new Error("a token key is printable ASCII, no spaces");
  return `${TOKEN_PREFIX}${key}`;
}
/** What a key without a TTL reports as its expiry: it never expires. */
const NEVER = Number.MAX_SAFE_INTEGER;
/** Reply error codes that mean "the backend cannot serve now", not "the caller erred". */
const UNAVAILABLE_CODES =
  /^(LOADING|READONLY|MASTERDOWN|BUSY|NOAUTH|WRONGPASS|OOM|MISCONF|NOREPLICAS|TRYAGAIN|CLUSTERDOWN|NOPERM)\b/;

/**
 * Registrations in Redis. Each method is one script or one command, so one round trip,
 * except {@link RedisStore.count}, which scans.
 *
 * Failure behaviour: commands are never queued while the connection is down, so every call
 * then rejects at once with {@link StorageUnavailableError}; a call in flight when the
 * connection drops, or unanswered within `commandTimeoutMs`, rejects the same way. The
 * client reconnects by itself (backoff up to 2 s) and calls succeed again once Redis is
 * back. Refused input (unknown device, node of another device) rejects with a plain Error.
 */
export class RedisStore implements RegistrationStore {
  readonly #redis: Redis;
  readonly #scripts: ScriptCommands;
  readonly #target: RedisTarget;
  readonly #state: ConnectionState;
  readonly #deadlines: Deadlines;

  private constructor(
    redis: Redis,
    target: RedisTarget,
    state: ConnectionState,
    commandTimeoutMs: number,
  ) {
    this.#redis = redis;
    this.#scripts = redis as unknown as ScriptCommands;
    this.#target = target;
    this.#state = state;
    this.#deadlines = new Deadlines(commandTimeoutMs);
  }

  /**
   * Connects to the Redis `url` names (see the module doc for the forms) and waits until it
   * is ready. Rejects with {@link StorageUnavailableError} naming host and port (never the
   * password) if that takes longer than `connectTimeoutMs` or fails (refused, wrong
   * password, no such Sentinel master...), and with a plain Error for a malformed URL.
   */
  static async connect(url: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const target = parseRedisUrl(url);
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const logger = options.logger;
    const redis = new Redis(
      clientOptions(target, { connectTimeoutMs, tlsCaCerts: options.tlsCaCerts }),
    );
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      redis.defineCommand(name, { numberOfKeys: 1, lua });
    }
    redis.defineCommand("uwpxCountBatch", { lua: COUNT_BATCH });

    const state: ConnectionState = { closed: false, lastError: "", wasReady: false, down: false };
    redis.on("error", (error: Error) => {
      state.lastError = scrub(error.message, target.password);
      // ioredis reports every failed reconnect attempt: the transitions below say enough.
      logger?.debug("redis error", { redis: target.display, reason: state.lastError });
    });
    redis.on("close", () => {
      if (state.wasReady && !state.down && !state.closed) {
        state.down = true;
        logger?.warn("redis connection lost; reconnecting", { redis: target.display });
      }
    });
    redis.on("ready", () => {
      if (state.down) logger?.info("redis connection restored", { redis: target.display });
      state.wasReady = true;
      state.down = false;
    });

    try {
      await withTimeout(
        redis.connect(),
        connectTimeoutMs,
        () => new Error(`no answer within ${connectTimeoutMs} ms`),
      );
    } catch (error) {
      // Stop the reconnect loop ioredis started.
      state.closed = true;
      redis.disconnect();
      const reason = state.lastError || scrub(messageOf(error), target.password);
      throw new StorageUnavailableError(`cannot connect to Redis at ${target.display}: ${reason}`);
    }
    logger?.info("redis connected", { redis: target.display, db: target.db });
    return new RedisStore(
      redis,
      target,
      state,
      options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    );
  }

  /**
   * Creates the device or updates its target and version, keeping its accounts. WNS
   * channels of the one app are stored as the original has them; other targets as
   * `target:<service>:<app>:<address>` (see the module doc).
   */
  async saveTarget(
    deviceId: string,
    target: PushTarget,
    version: number,
    expiresAt: number,
  ): Promise<void> {
    this.#checkOpen();
    const channelUri = slotOf(target);
    const at = ms(expiresAt);
    await this.#send(
      "saveTarget",
      () => this.#scripts.uwpxSaveChannel(deviceId, channelUri, String(version), at),
    );
  }

  /**
   * Creates the device with one account unless a live one has that account already: one
   * script (`CREATE_IF_ABSENT`), so of instances sharing the Redis exactly one creates. The
   * keys are those `saveTarget` and `replaceAccounts` write.
   */
  async createIfAbsent(
    deviceId: string,
    target: PushTarget,
    version: number,
    account: AccountRegistration,
    expiresAt: number,
    now: number,
  ): Promise<CreatedDevice> {
    this.#checkOpen();
    checkAccountList([account]);
    if (Number.isNaN(now)) throw new Error("createIfAbsent: now must be a time, got NaN");
    const slot = slotOf(target);
    const at = ms(expiresAt);
    const bound = String(Math.max(-1, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(now))));
    const key = accountKey(deviceId, account.accountId);
    const { node, accountId, secret } = account;
    const reply = await this.#send(
      "createIfAbsent",
      () =>
        this.#scripts.uwpxCreateIfAbsent(
          deviceId,
          slot,
          String(version),
          at,
          bound,
          key,
          node,
          accountId,
          secret,
        ),
    );
    if (reply[0] === 0) {
      const found = deviceOf(deviceId, reply[1], now);
      // The script checked the device and the account live at `now`.
      if (found === null) throw new Error("createIfAbsent: the device found is not live");
      return { created: false, device: found };
    }
    const device: DeviceRegistration = {
      deviceId,
      target: targetOf(slot),
      version,
      accounts: [{ accountId, node, secret }],
      expiresAt: Number(at),
    };
    return { created: true, device };
  }

  /** The device's live registration, or null. */
  async findDevice(deviceId: string, now: number): Promise<DeviceRegistration | null> {
    this.#checkOpen();
    const reply = await this.#send("findDevice", () => this.#scripts.uwpxFindDevice(deviceId));
    return deviceOf(deviceId, reply, now);
  }

  /** Replaces the device's accounts; throws if it is unknown or expired. */
  async replaceAccounts(
    deviceId: string,
    accounts: readonly AccountRegistration[],
    expiresAt: number,
  ): Promise<void> {
    this.#checkOpen();
    checkAccountList(accounts);
    const at = ms(expiresAt);
    const args = accounts.flatMap((a) => [
      accountKey(deviceId, a.accountId),
      a.node,
      a.accountId,
      a.secret,
    ]);
    await this.#send(
      "replaceAccounts",
      () => this.#scripts.uwpxReplaceAccounts(deviceId, at, ...args),
    );
  }

  /** The live registration behind a node, or null. One round trip. */
  async findNode(node: string, now: number): Promise<NodeTarget | null> {
    this.#checkOpen();
    const reply = await this.#send("findNode", () => this.#scripts.uwpxFindNode(node));
    if (!reply) return null;
    const [accountId, deviceId, secret, channel, key, expiry] = reply;
    if (!live(expiry, now) || key !== accountKey(deviceId, accountId)) return null;
    const expiresAt = expiry === -1 ? NEVER : expiry;
    return { node, accountId, deviceId, secret, target: targetOf(channel), expiresAt };
  }

  /** Blanks the device's channel if it is still `address`, shortening its keys' life. */
  async forgetChannel(deviceId: string, address: string, expiresAt: number): Promise<void> {
    this.#checkOpen();
    const at = ms(expiresAt);
    await this.#send(
      "forgetChannel",
      () => this.#scripts.uwpxForgetChannel(deviceId, address, at),
    );
  }

  /** Extends a device still on `address` to `expiresAt` (PEXPIREAT on the same keys). */
  async renew(deviceId: string, address: string, expiresAt: number): Promise<void> {
    this.#checkOpen();
    const at = ms(expiresAt);
    await this.#send("renew", () => this.#scripts.uwpxRenew(deviceId, address, at));
  }

  /** Deletes the device list, its account keys and its nodes in one script. */
  async deleteDevice(deviceId: string, now: number): Promise<boolean> {
    this.#checkOpen();
    const at = String(Math.max(-1, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(now))));
    const deleted = await this.#send(
      "deleteDevice",
      () => this.#scripts.uwpxDeleteDevice(deviceId, at),
    );
    return deleted === 1;
  }

  /**
   * Returns 0: Redis deletes every key at its own expiry (set on each write), so there is
   * never anything left to purge, whatever `now` says.
   */
  purgeExpired(_now: number): Promise<number> {
    return new Promise((resolve) => {
      this.#checkOpen();
      resolve(0);
    });
  }

  /**
   * The cached token, or null (also when the stored value is unreadable): WNS's under `WNS`
   * as the original has it, any other under `token:<key>`.
   */
  async loadToken(key: string): Promise<AccessToken | null> {
    this.#checkOpen();
    const redisKey = tokenRedisKey(key);
    let list: string[];
    try {
      list = await this.#send("loadToken", () => this.#redis.lrange(redisKey, 0, -1));
    } catch (error) {
      // Not a list (an early original version wrote a string): no usable token.
      if (error instanceof ReplyError && /^WRONGTYPE/.test(messageOf(error))) return null;
      throw error;
    }
    if (list.length !== 3) return null;
    const expiresAt = parseSeconds(list[2]);
    return expiresAt === null ? null : { accessToken: list[0], tokenType: list[1], expiresAt };
  }

  /** Caches a token (WNS's under `WNS`, others under `token:<key>`) in one step. */
  async saveToken(key: string, token: AccessToken): Promise<void> {
    this.#checkOpen();
    const redisKey = tokenRedisKey(key);
    const expires = formatSeconds(token.expiresAt);
    await this.#send(
      "saveToken",
      () => this.#scripts.uwpxSaveWnsToken(redisKey, token.accessToken, token.tokenType, expires),
    );
  }

  /**
   * Keeps `value` under `uwpx:secret:<key>` unless one is kept already; answers the kept
   * one. One `SET NX GET` (Redis 7): atomic, so instances starting at once agree.
   */
  async keepFirstSecret(key: string, value: string): Promise<string> {
    this.#checkOpen();
    const redisKey = SECRET_KEY_PREFIX + key;
    const previous = await this.#send(
      "keepFirstSecret",
      () => this.#redis.call("SET", redisKey, value, "NX", "GET") as Promise<string | null>,
    );
    return previous ?? value;
  }

  /**
   * One PING, within the command timeout. Rejects with {@link StorageUnavailableError}
   * (naming the host, never the password) whatever went wrong, Redis's own error replies
   * included; with a plain Error once the store is closed.
   */
  async ping(): Promise<void> {
    this.#checkOpen();
    try {
      await this.#send("ping", () => this.#redis.ping());
    } catch (error) {
      if (error instanceof StorageUnavailableError) throw error;
      const reason = scrub(messageOf(error), this.#target.password);
      throw new StorageUnavailableError(
        `Redis ping failed at ${this.#target.display}: ${reason}`,
        { cause: error },
      );
    }
  }

  /**
   * Live devices at `now` and the accounts they list, by SCANning the whole database (batches
   * of {@link SCAN_BATCH} keys, each checked by one script, the next SCAN step in flight
   * meanwhile). Each step is a call of its own, with its own timeout; Redis stays free for
   * other clients between them. Not a snapshot: a device written or deleted during the scan
   * may or may not be counted, but a device that exists throughout is counted exactly once
   * (SCAN may return a key twice; device keys seen are remembered, about 100 bytes each).
   * A device's accounts are its list's length minus 2, as the original's layout has it.
   * Its app is the one its slot 0 names (a bare channel URI: {@link REDIS_LAYOUT_TARGETS});
   * a forgotten target's, the one its key names (`<service>:<app>:<key>`), else the
   * original layout's: all from what the batch's script reads anyway.
   */
  async count(now: number): Promise<RegistrationCount> {
    this.#checkOpen();
    if (Number.isNaN(now)) throw new Error("count: now must be a time, got NaN");
    // Expiries are integers: `at > now` is `at > floor(now)`; -1 is below every expiry.
    const bound = String(Math.max(-1, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(now))));
    const seen = new Set<string>();
    let devices = 0;
    let accounts = 0;
    const byApp = new AppTally();
    const check = async (keys: string[]) => {
      const candidates = keys.filter((key) =>
        key !== WNS_KEY && !key.startsWith(TOKEN_PREFIX) && !seen.has(key)
      );
      if (candidates.length === 0) return;
      const found = await this.#send(
        "count",
        () => this.#scripts.uwpxCountBatch(candidates.length, ...candidates, bound),
      );
      for (let i = 0; i + 2 < found.length; i += 3) {
        const key = String(found[i]);
        if (seen.has(key)) continue;
        seen.add(key);
        const listed = Number(found[i + 1]);
        devices++;
        accounts += listed;
        const { service, app } = appOf(key, String(found[i + 2]));
        byApp.add(service, app, listed);
      }
    };
    let cursor = "0";
    let pending: Promise<void> = Promise.resolve();
    do {
      const [next, keys] = await this.#send(
        "count",
        () => this.#redis.scan(cursor, "COUNT", SCAN_BATCH),
      );
      // Check this batch while the next SCAN step runs; batches are checked in order.
      await pending;
      pending = check(keys);
      // Handled: a failure surfaces at the next await, not as an unhandled rejection.
      pending.catch(() => {});
      cursor = next;
    } while (cursor !== "0");
    await pending;
    return { devices, accounts, byApp: byApp.result() };
  }

  /** Quits the connection (drops it if Redis does not answer); later calls reject. */
  async close(): Promise<void> {
    if (this.#state.closed) return;
    this.#state.closed = true;
    this.#deadlines.stop();
    // A failed quit means not connected: nothing to say goodbye to.
    await settlesWithin(this.#redis.quit(), 1000);
    this.#redis.disconnect();
  }

  #checkOpen(): void {
    if (this.#state.closed) throw new Error("RedisStore is closed");
  }

  /**
   * Sends one command or script. Its failures become {@link StorageUnavailableError}, except
   * our scripts' refusals (plain Errors) and reply errors that are not about availability.
   */
  async #send<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      return await this.#deadlines.race(command());
    } catch (error) {
      if (error instanceof ReplyError) {
        const message = messageOf(error);
        if (message.startsWith(`${REFUSED} `)) throw new Error(message.slice(REFUSED.length + 1));
        if (!UNAVAILABLE_CODES.test(message)) throw error;
      }
      const reason = scrub(messageOf(error), this.#target.password);
      throw new StorageUnavailableError(
        `Redis ${what} failed at ${this.#target.display}: ${reason}`,
        { cause: error },
      );
    }
  }
}

/** What the connection's event handlers and the store share. */
interface ConnectionState {
  /** Set by `close` (or a failed connect): later calls reject, and no loss is logged. */
  closed: boolean;
  /** The last error ioredis reported (password scrubbed), for the connect failure message. */
  lastError: string;
  wasReady: boolean;
  down: boolean;
}

/** The device of a FIND_DEVICE reply, with the accounts that are its own and live at `now`. */
function deviceOf(
  deviceId: string,
  reply: FindDeviceReply,
  now: number,
): DeviceRegistration | null {
  if (!reply) return null;
  const [list, expiry, found] = reply;
  if (!live(expiry, now)) return null;
  const accounts: AccountRegistration[] = [];
  for (const [key, node, nodeList, accountExpiry] of found) {
    // Only nodes that point back at this device, under the key the layout prescribes.
    if (nodeList.length !== 3 || nodeList[1] !== deviceId) continue;
    if (key !== accountKey(deviceId, nodeList[0]) || !live(accountExpiry, now)) continue;
    accounts.push({ accountId: nodeList[0], node, secret: nodeList[2] });
  }
  return {
    deviceId,
    target: targetOf(list[0]),
    version: versionOf(list[1]),
    accounts,
    expiresAt: expiry === -1 ? NEVER : expiry,
  };
}

function live(expiry: number, now: number): boolean {
  return expiry === -1 || (expiry >= 0 && expiry > now);
}

/**
 * The service and app of a counted device: `slotApp` is what {@link COUNT_BATCH} read in its
 * slot 0 (`<service>:<app>`, `uri` for a bare channel URI, "" for nothing); when that is
 * nothing, the key's (registrations by command are keyed `<service>:<app>:<key>`); failing
 * that, the original layout's (its device ids are hex).
 */
function appOf(key: string, slotApp: string): { service: string; app: string } {
  if (slotApp === "uri") return REDIS_LAYOUT_TARGETS;
  const named = /^([^:]+):([^:]+)$/.exec(slotApp) ?? /^([^:]+):([^:]+):/.exec(key);
  if (named && TARGET_NAME.test(named[1]) && TARGET_NAME.test(named[2])) {
    return { service: named[1], app: named[2] };
  }
  return REDIS_LAYOUT_TARGETS;
}

/** A stored slot 0 as a target ("" is how a forgotten target is stored). */
function targetOf(value: string | undefined): PushTarget | null {
  if (value === undefined || value === "") return null;
  if (!value.startsWith(TARGET_PREFIX)) return { ...REDIS_LAYOUT_TARGETS, address: value };
  const rest = value.slice(TARGET_PREFIX.length);
  const first = rest.indexOf(":");
  const second = first === -1 ? -1 : rest.indexOf(":", first + 1);
  if (second === -1) return null;
  const address = rest.slice(second + 1);
  if (address === "") return null;
  return { service: rest.slice(0, first), app: rest.slice(first + 1, second), address };
}

/** Slot 0 for a target: the original's bare channel URI for WNS, else `target:...`. */
function slotOf(target: PushTarget): string {
  const { service, app, address } = target;
  // "" is how a forgotten target is stored.
  if (address === "") throw new Error("saveTarget: the address is empty");
  if (service === REDIS_LAYOUT_TARGETS.service && app === REDIS_LAYOUT_TARGETS.app) {
    if (address.startsWith(TARGET_PREFIX)) {
      throw new Error("saveTarget: a WNS channel URI cannot start with target:");
    }
    return address;
  }
  if (!TARGET_NAME.test(service) || !TARGET_NAME.test(app)) {
    throw new Error("saveTarget: service and app are lower-case names without colons");
  }
  return `${TARGET_PREFIX}${service}:${app}:${address}`;
}

function versionOf(value: string | undefined): number {
  return value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : DEFAULT_VERSION;
}

/** An epoch-ms argument for PEXPIREAT: an integer, as Redis wants. */
function ms(epochMs: number): string {
  if (!Number.isFinite(epochMs)) throw new Error(`expiry must be a finite time, got ${epochMs}`);
  return String(Math.ceil(epochMs));
}

/**
 * Epoch ms as the original's seconds, keeping milliseconds as a fraction ("12.005") so the
 * token round-trips exactly while the original still reads the whole seconds.
 */
function formatSeconds(epochMs: number): string {
  const whole = Math.round(epochMs);
  const seconds = Math.floor(whole / 1000);
  const rest = whole - seconds * 1000;
  return rest === 0 ? String(seconds) : `${seconds}.${String(rest).padStart(3, "0")}`;
}

function parseSeconds(text: string): number | null {
  const match = /^(-?\d{1,15})(?:\.(\d{1,3}))?$/.exec(text);
  if (!match) return null;
  // The inverse of formatSeconds: whole seconds plus a non-negative millisecond part.
  return Number(match[1]) * 1000 + Number((match[2] ?? "").padEnd(3, "0"));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Removes the password from a message, should a library ever quote it. */
function scrub(message: string, password: string | undefined): string {
  return password ? message.replaceAll(password, "***") : message;
}
