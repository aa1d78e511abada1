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
 * URL forms (see {@link parseRedisUrl}):
 * - `redis://[[user]:password@]host[:port][/db]` (port 6379, db 0 by default)
 * - `rediss://...` the same over TLS (certificate checked against the host name)
 * - `redis-sentinel://[[user]:password@]host1[:port1][,host2[:port2]...]/masterName[/db]`:
 *   asks the Sentinels (port 26379 by default) for the master named `masterName`; the
 *   password is the master's (Sentinels are contacted without one).
 *
 * Special characters in the user or password must be percent-encoded.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { Redis, type RedisOptions, ReplyError } from "ioredis";
import { type Logger } from "../../domain/ports/logging.ts";
import {
  type RegistrationCount,
  type RegistrationStore,
  StorageUnavailableError,
  type WnsToken,
} from "../../domain/ports/storage.ts";
import type {
  AccountRegistration,
  DeviceRegistration,
  NodeTarget,
} from "../../domain/registration.ts";

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

/** A parsed Redis URL. The password is kept out of {@link RedisTarget.display}. */
export interface RedisTarget {
  readonly sentinel: boolean;
  readonly tls: boolean;
  /** The server (one), or the Sentinels (one or more). */
  readonly hosts: readonly { readonly host: string; readonly port: number }[];
  /** The Sentinel master's name; "" without Sentinel. */
  readonly masterName: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
  /** Where the store connects, for messages: `host:port[,host:port]` (and the master name). */
  readonly display: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const WNS_KEY = "WNS";
/** Slot 1 of a device list written by the original before any `set_push_accounts`. */
const DEFAULT_VERSION = 1;
/** What a key without a TTL reports as its expiry: it never expires. */
const NEVER = Number.MAX_SAFE_INTEGER;
/** Prefix of the errors our scripts return for refused input (not backend failures). */
const REFUSED = "UWPX-REFUSED";
/** Reply error codes that mean "the backend cannot serve now", not "the caller erred". */
const UNAVAILABLE_CODES =
  /^(LOADING|READONLY|MASTERDOWN|BUSY|NOAUTH|WRONGPASS|OOM|MISCONF|NOREPLICAS|TRYAGAIN|CLUSTERDOWN|NOPERM)\b/;

/**
 * Lua helpers shared by the scripts. A key of another type must not break a read: it reads
 * as missing. (\`redis.pcall\` turns the WRONGTYPE error into a value: one command per read
 * instead of a TYPE check and the read, about a third of the lookup's time in Redis.)
 */
const LUA_HELPERS = `
local function list_at(key)
  local list = redis.pcall('LRANGE', key, 0, -1)
  if list['err'] then return {} end
  return list
end
local function string_at(key)
  local value = redis.pcall('GET', key)
  if type(value) ~= 'string' then return false end
  return value
end
-- Absolute expiry in epoch ms, -1 without one, -2 without the key. PEXPIRETIME is Redis 7+;
-- older servers get PTTL plus the server's clock.
local function expiry_at(key)
  local at = redis.pcall('PEXPIRETIME', key)
  if type(at) == 'number' then return at end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then return ttl end
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + ttl
end
-- The earliest of some expiries: -2 if a key is missing, -1 if none has a TTL.
local function earliest(...)
  local result = -1
  for _, at in ipairs({...}) do
    if at == -2 then return -2 end
    if at >= 0 and (result < 0 or at < result) then result = at end
  end
  return result
end
-- True when node key n is a node of device d: d still lists an account key pointing at n.
local function owned_by(n, d)
  local keys = list_at(d)
  for i = 3, #keys do
    if string_at(keys[i]) == n then return true end
  end
  return false
end
`;

/**
 * The hot path, one round trip. KEYS[1] = node. Returns false, or
 * {account_id, device_id, secret, channel, account key, earliest expiry of the three keys}.
 * The node only resolves if its device still lists an account key that points back at it,
 * so a stale node key (the original server left those behind) finds nothing. The caller
 * checks that the account key is the hash of device id and account id.
 */
const FIND_NODE = `${LUA_HELPERS}
local n = list_at(KEYS[1])
if #n ~= 3 then return false end
local d = list_at(n[2])
for i = 3, #d do
  if string_at(d[i]) == KEYS[1] then
    return {n[1], n[2], n[3], d[1], d[i],
      earliest(expiry_at(KEYS[1]), expiry_at(d[i]), expiry_at(n[2]))}
  end
end
return false
`;

/**
 * KEYS[1] = device. Returns false, or {device list, device expiry, accounts}, each account
 * {account key, node, node list, earliest expiry of account key and node}, in list order.
 * Account keys that point nowhere are left out; the caller checks the rest.
 */
const FIND_DEVICE = `${LUA_HELPERS}
local d = list_at(KEYS[1])
if #d == 0 then return false end
local accounts = {}
for i = 3, #d do
  local node = string_at(d[i])
  if node then
    accounts[#accounts + 1] = {d[i], node, list_at(node), earliest(expiry_at(d[i]), expiry_at(node))}
  end
end
return {d, expiry_at(KEYS[1]), accounts}
`;

/**
 * KEYS[1] = device; ARGV = channel, version, expiresAt. Creates `[channel, version]` or
 * sets slots 0 and 1 of an existing list (keeping its account keys), then moves the expiry
 * of the device, its account keys and its nodes to expiresAt.
 */
const SAVE_CHANNEL = `${LUA_HELPERS}
local device, at = KEYS[1], ARGV[3]
local kind = redis.call('TYPE', device)['ok']
if kind ~= 'list' and kind ~= 'none' then
  return redis.error_reply('${REFUSED} saveChannel: the device id names a key of another type')
end
local d = list_at(device)
if #d == 0 then
  redis.call('RPUSH', device, ARGV[1], ARGV[2])
else
  redis.call('LSET', device, 0, ARGV[1])
  if #d >= 2 then
    redis.call('LSET', device, 1, ARGV[2])
  else
    redis.call('RPUSH', device, ARGV[2])
  end
  for i = 3, #d do
    local node = string_at(d[i])
    redis.call('PEXPIREAT', d[i], at)
    if node and list_at(node)[2] == device then redis.call('PEXPIREAT', node, at) end
  end
end
redis.call('PEXPIREAT', device, at)
return 1
`;

/**
 * KEYS[1] = device; ARGV = expiresAt, then per account: account key, node, account id,
 * secret. Checks everything first (Redis does not roll a script back), then deletes the
 * account keys and nodes no longer wanted, writes the wanted ones, rewrites the device
 * list keeping channel and version, and sets expiresAt on every key.
 */
const REPLACE_ACCOUNTS = `${LUA_HELPERS}
local device, at = KEYS[1], ARGV[1]
local d = list_at(device)
if #d == 0 then
  return redis.error_reply('${REFUSED} replaceAccounts: the device is not registered or has expired')
end
local wanted_keys, wanted_nodes = {}, {}
for i = 2, #ARGV, 4 do
  wanted_keys[ARGV[i]] = true
  wanted_nodes[ARGV[i + 1]] = true
end
for i = 2, #ARGV, 4 do
  local node = ARGV[i + 1]
  local kind = redis.call('TYPE', node)['ok']
  if kind ~= 'none' then
    local n = list_at(node)
    if kind ~= 'list' or #n ~= 3 then
      return redis.error_reply('${REFUSED} replaceAccounts: a node names a key of another kind')
    end
    if n[2] ~= device and owned_by(node, n[2]) then
      return redis.error_reply('${REFUSED} replaceAccounts: a node already belongs to another device')
    end
  end
end
for i = 3, #d do
  local old = string_at(d[i])
  if old and not wanted_nodes[old] and list_at(old)[2] == device then
    redis.call('DEL', old)
  end
  if not wanted_keys[d[i]] then redis.call('DEL', d[i]) end
end
local list = {d[1], d[2] or '${DEFAULT_VERSION}'}
for i = 2, #ARGV, 4 do
  local key, node = ARGV[i], ARGV[i + 1]
  redis.call('SET', key, node)
  redis.call('PEXPIREAT', key, at)
  redis.call('DEL', node)
  redis.call('RPUSH', node, ARGV[i + 2], device, ARGV[i + 3])
  redis.call('PEXPIREAT', node, at)
  list[#list + 1] = key
end
redis.call('DEL', device)
redis.call('RPUSH', device, unpack(list))
redis.call('PEXPIREAT', device, at)
return #list - 2
`;

/**
 * Calls \`move(key)\` for the device KEYS[1] (a list), each of its account keys, and each node
 * they point at that points back at the device.
 */
const EACH_DEVICE_KEY = `
local function each_device_key(device, list, move)
  move(device)
  for i = 3, #list do
    move(list[i])
    local node = string_at(list[i])
    if node and list_at(node)[2] == device then move(node) end
  end
end
`;

/**
 * KEYS[1] = device; ARGV = channel, expiresAt. Only if slot 0 still holds that channel:
 * blanks it and brings the expiry of every key of the device forward to expiresAt (keys
 * that expire earlier keep theirs; keys without a TTL, as the original may have left them,
 * get one).
 */
const FORGET_CHANNEL = `${LUA_HELPERS}${EACH_DEVICE_KEY}
if redis.call('TYPE', KEYS[1])['ok'] ~= 'list' then return 0 end
local d = list_at(KEYS[1])
if d[1] ~= ARGV[1] then return 0 end
redis.call('LSET', KEYS[1], 0, '')
local at = tonumber(ARGV[2])
each_device_key(KEYS[1], d, function(key)
  local current = expiry_at(key)
  if current == -1 or current > at then redis.call('PEXPIREAT', key, ARGV[2]) end
end)
return 1
`;

/**
 * KEYS[1] = device; ARGV = channel, expiresAt. Only if slot 0 still holds that channel:
 * pushes the expiry of every key of the device that expires earlier out to expiresAt.
 */
const RENEW = `${LUA_HELPERS}${EACH_DEVICE_KEY}
if redis.call('TYPE', KEYS[1])['ok'] ~= 'list' then return 0 end
local d = list_at(KEYS[1])
if d[1] ~= ARGV[1] then return 0 end
local at = tonumber(ARGV[2])
each_device_key(KEYS[1], d, function(key)
  local current = expiry_at(key)
  if current >= 0 and current < at then redis.call('PEXPIREAT', key, ARGV[2]) end
end)
return 1
`;

/** KEYS[1] = "WNS"; ARGV = token, type, expiry seconds. Replaces the list in one step. */
const SAVE_WNS_TOKEN = `
redis.call('DEL', KEYS[1])
redis.call('RPUSH', KEYS[1], ARGV[1], ARGV[2], ARGV[3])
return 1
`;

/**
 * KEYS = a batch of SCAN's keys; ARGV[1] = now (epoch ms). Returns {device, accounts, ...}
 * for each key that is a device live at `now`. A device is a list whose slot 0 is a channel
 * URI or "" and whose slot 1, if any, is a version number (the original wrote `[channel]`
 * for a new device); anything else (nodes `[account_id, device_id, secret]`, account keys,
 * foreign keys, keys deleted since SCAN returned them) is skipped. Reads slots 0 and 1 and
 * the length only, however many accounts a device lists.
 */
const COUNT_BATCH = `${LUA_HELPERS}
local now = tonumber(ARGV[1])
local found = {}
for _, key in ipairs(KEYS) do
  if redis.call('TYPE', key)['ok'] == 'list' then
    local channel = redis.call('LINDEX', key, 0)
    if channel == '' or string.find(channel, '^%a[%w+.-]*://') then
      local version = redis.call('LINDEX', key, 1)
      if not version or string.find(version, '^%d+$') then
        local at = expiry_at(key)
        if at == -1 or (at >= 0 and at > now) then
          found[#found + 1] = key
          found[#found + 1] = math.max(redis.call('LLEN', key) - 2, 0)
        end
      end
    end
  end
end
return found
`;

/** How many keys one SCAN step asks for, and so the most one count script gets. */
const SCAN_BATCH = 1000;

type FindNodeReply = [string, string, string, string, string, number] | null;
type FindDeviceReply = [string[], number, [string, string, string[], number][]] | null;

/** The scripts, as ioredis's `defineCommand` adds them to the client. */
interface ScriptCommands {
  uwpxFindNode(node: string): Promise<FindNodeReply>;
  uwpxFindDevice(deviceId: string): Promise<FindDeviceReply>;
  uwpxSaveChannel(deviceId: string, channel: string, version: string, at: string): Promise<number>;
  uwpxReplaceAccounts(deviceId: string, at: string, ...accounts: string[]): Promise<number>;
  uwpxForgetChannel(deviceId: string, channel: string, at: string): Promise<number>;
  uwpxRenew(deviceId: string, channel: string, at: string): Promise<number>;
  uwpxSaveWnsToken(key: string, token: string, type: string, expires: string): Promise<number>;
  /** Takes the number of keys, the keys, then `now`: {@link COUNT_BATCH}. */
  uwpxCountBatch(...keysThenNow: (string | number)[]): Promise<(string | number)[]>;
}

/** The scripts that take one key; {@link COUNT_BATCH} takes any number. */
const SCRIPTS: Record<Exclude<keyof ScriptCommands, "uwpxCountBatch">, string> = {
  uwpxFindNode: FIND_NODE,
  uwpxFindDevice: FIND_DEVICE,
  uwpxSaveChannel: SAVE_CHANNEL,
  uwpxReplaceAccounts: REPLACE_ACCOUNTS,
  uwpxForgetChannel: FORGET_CHANNEL,
  uwpxRenew: RENEW,
  uwpxSaveWnsToken: SAVE_WNS_TOKEN,
};

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
    const redis = new Redis(clientOptions(target, connectTimeoutMs, options));
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

    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${connectTimeoutMs} ms`)),
        connectTimeoutMs,
      );
    });
    try {
      await Promise.race([redis.connect(), timeout]);
    } catch (error) {
      // Stop the reconnect loop ioredis started.
      state.closed = true;
      redis.disconnect();
      const reason = state.lastError || scrub(messageOf(error), target.password);
      throw new StorageUnavailableError(`cannot connect to Redis at ${target.display}: ${reason}`);
    } finally {
      clearTimeout(timer);
    }
    logger?.info("redis connected", { redis: target.display, db: target.db });
    return new RedisStore(
      redis,
      target,
      state,
      options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    );
  }

  /** Creates the device or updates its channel and version, keeping its accounts. */
  async saveChannel(
    deviceId: string,
    channelUri: string,
    version: number,
    expiresAt: number,
  ): Promise<void> {
    this.#checkOpen();
    // "" is how a forgotten channel is stored.
    if (channelUri === "") throw new Error("saveChannel: the channel URI is empty");
    const at = ms(expiresAt);
    await this.#send(
      "saveChannel",
      () => this.#scripts.uwpxSaveChannel(deviceId, channelUri, String(version), at),
    );
  }

  /** The device's live registration, or null. */
  async findDevice(deviceId: string, now: number): Promise<DeviceRegistration | null> {
    this.#checkOpen();
    const reply = await this.#send("findDevice", () => this.#scripts.uwpxFindDevice(deviceId));
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
      channelUri: channelOf(list[0]),
      version: versionOf(list[1]),
      accounts,
      expiresAt: expiry === -1 ? NEVER : expiry,
    };
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
    return { node, accountId, deviceId, secret, channelUri: channelOf(channel), expiresAt };
  }

  /** Blanks the device's channel if it is still `channelUri`, shortening its keys' life. */
  async forgetChannel(deviceId: string, channelUri: string, expiresAt: number): Promise<void> {
    this.#checkOpen();
    const at = ms(expiresAt);
    await this.#send(
      "forgetChannel",
      () => this.#scripts.uwpxForgetChannel(deviceId, channelUri, at),
    );
  }

  /** Extends a device still on `channelUri` to `expiresAt` (PEXPIREAT on the same keys). */
  async renew(deviceId: string, channelUri: string, expiresAt: number): Promise<void> {
    this.#checkOpen();
    const at = ms(expiresAt);
    await this.#send("renew", () => this.#scripts.uwpxRenew(deviceId, channelUri, at));
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

  /** The cached WNS token, or null (also when the stored value is unreadable). */
  async loadWnsToken(): Promise<WnsToken | null> {
    this.#checkOpen();
    let list: string[];
    try {
      list = await this.#send("loadWnsToken", () => this.#redis.lrange(WNS_KEY, 0, -1));
    } catch (error) {
      // Not a list (an early original version wrote a string): no usable token.
      if (error instanceof ReplyError && /^WRONGTYPE/.test(messageOf(error))) return null;
      throw error;
    }
    if (list.length !== 3) return null;
    const expiresAt = parseSeconds(list[2]);
    return expiresAt === null ? null : { accessToken: list[0], tokenType: list[1], expiresAt };
  }

  /** Caches a WNS token, replacing the previous one in one step. */
  async saveWnsToken(token: WnsToken): Promise<void> {
    this.#checkOpen();
    const expires = formatSeconds(token.expiresAt);
    await this.#send(
      "saveWnsToken",
      () => this.#scripts.uwpxSaveWnsToken(WNS_KEY, token.accessToken, token.tokenType, expires),
    );
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
   */
  async count(now: number): Promise<RegistrationCount> {
    this.#checkOpen();
    if (Number.isNaN(now)) throw new Error("count: now must be a time, got NaN");
    // Expiries are integers: `at > now` is `at > floor(now)`; -1 is below every expiry.
    const bound = String(Math.max(-1, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(now))));
    const seen = new Set<string>();
    let devices = 0;
    let accounts = 0;
    const check = async (keys: string[]) => {
      const candidates = keys.filter((key) => key !== WNS_KEY && !seen.has(key));
      if (candidates.length === 0) return;
      const found = await this.#send(
        "count",
        () => this.#scripts.uwpxCountBatch(candidates.length, ...candidates, bound),
      );
      for (let i = 0; i + 1 < found.length; i += 2) {
        const key = String(found[i]);
        if (seen.has(key)) continue;
        seen.add(key);
        devices++;
        accounts += Number(found[i + 1]);
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
    return { devices, accounts };
  }

  /** Quits the connection (drops it if Redis does not answer); later calls reject. */
  async close(): Promise<void> {
    if (this.#state.closed) return;
    this.#state.closed = true;
    this.#deadlines.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#redis.quit(),
        new Promise((resolve) => timer = setTimeout(resolve, 1000)),
      ]);
    } catch {
      // Not connected: nothing to say goodbye to.
    } finally {
      clearTimeout(timer);
      this.#redis.disconnect();
    }
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

/** A call in flight: when it times out, and how. */
interface PendingCall {
  readonly at: number;
  readonly reject: (error: Error) => void;
}

/**
 * Call timeouts with one interval timer for all calls in flight (running only while there
 * are some), instead of a timer per call. A call rejects at most a tick (a quarter of the
 * timeout, 100 ms at most) after its deadline; its late answer is dropped by the caller.
 */
class Deadlines {
  readonly #pending = new Set<PendingCall>();
  readonly #timeoutMs: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** `work`, or a rejection once it has taken longer than the timeout. */
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: PendingCall = { at: Date.now() + this.#timeoutMs, reject };
      this.#pending.add(entry);
      this.#timer ??= setInterval(
        () => this.#expire(),
        Math.max(5, Math.min(100, this.#timeoutMs / 4)),
      );
      work.then((value) => {
        this.#settled(entry);
        resolve(value);
      }, (error) => {
        this.#settled(entry);
        reject(error);
      });
    });
  }

  /** Stops the timer (the store is closing). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #settled(entry: PendingCall): void {
    this.#pending.delete(entry);
    if (this.#pending.size === 0) this.stop();
  }

  #expire(): void {
    const now = Date.now();
    for (const entry of this.#pending) {
      if (now < entry.at) continue;
      this.#pending.delete(entry);
      entry.reject(new Error(`Command timed out after ${this.#timeoutMs} ms`));
    }
    if (this.#pending.size === 0) this.stop();
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

/**
 * Parses a Redis URL (forms in the module doc). Throws a plain Error naming the problem,
 * never quoting the password.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const match = /^(redis|rediss|redis-sentinel):\/\/(.*)$/s.exec(url);
  if (!match) {
    throw new Error("Redis URL must start with redis://, rediss:// or redis-sentinel://");
  }
  const scheme = match[1];
  let rest = match[2];
  let username: string | undefined;
  let password: string | undefined;
  // The last "@": an unencoded "@" or "/" in the password still parses.
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(":");
    const user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
    username = user === "" ? undefined : user;
    password = colon >= 0 ? decode(userinfo.slice(colon + 1)) : undefined;
  }
  if (/[?#]/.test(rest)) throw new Error(`${scheme}:// URLs take no query or fragment`);
  const slash = rest.indexOf("/");
  const hostPart = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1).split("/") : [];
  if (path.at(-1) === "") path.pop(); // A trailing slash.
  const sentinel = scheme === "redis-sentinel";
  const hosts = hostPart.split(",").map((h) => parseHost(h, sentinel ? 26379 : 6379, scheme));
  let masterName = "";
  if (sentinel) {
    masterName = decode(path.shift() ?? "");
    if (masterName === "") {
      throw new Error("redis-sentinel:// URL needs the master name: .../masterName[/db]");
    }
  } else if (hosts.length !== 1) {
    throw new Error(`${scheme}:// URL takes one host; use redis-sentinel:// for several`);
  }
  if (path.length > 1) throw new Error(`${scheme}:// URL path must be at most /db`);
  const db = path.length === 0 ? 0 : Number(path[0]);
  if (!/^\d{1,5}$/.test(path[0] ?? "0") || !Number.isSafeInteger(db)) {
    throw new Error(`${scheme}:// URL: the database must be a number, e.g. /0`);
  }
  const where = hosts.map((h) => `${h.host.includes(":") ? `[${h.host}]` : h.host}:${h.port}`);
  return {
    sentinel,
    tls: scheme === "rediss",
    hosts,
    masterName,
    username,
    password,
    db,
    display: sentinel ? `${where.join(",")} (sentinel master ${masterName})` : where[0],
  };
}

function parseHost(text: string, defaultPort: number, scheme: string) {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text);
  const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
  if (!match || port < 1 || port > 65535) {
    throw new Error(`${scheme}:// URL: bad host "${text}", expected host[:port]`);
  }
  return { host: match[1] ?? decode(match[2]), port };
}

function clientOptions(
  target: RedisTarget,
  connectTimeoutMs: number,
  options: RedisStoreOptions,
): RedisOptions {
  const where = target.sentinel
    ? { sentinels: [...target.hosts], name: target.masterName }
    : { host: target.hosts[0].host, port: target.hosts[0].port };
  return {
    ...where,
    username: target.username,
    password: target.password,
    db: target.db,
    // Node's TLS checks the certificate against the host name by itself.
    tls: target.tls ? (options.tlsCaCerts ? { ca: [...options.tlsCaCerts] } : {}) : undefined,
    connectionName: "uwpx-push",
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    // No commandTimeout: ioredis would arm a timer per command, which costs more than the
    // rest of a lookup; RedisStore times calls out itself with one shared timer.
    // Fail fast while Redis is away: no queueing, and calls in flight when the connection
    // drops fail at once instead of being replayed (a store call may have given up already).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Commands issued in the same tick (publishes arriving together) go out in one write:
    // one system call and one Redis read for many lookups instead of one each.
    enableAutoPipelining: true,
    // Reconnect forever, backing off to 2 s; sentinel lookups the same way.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    sentinelRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    // After a Sentinel failover the old master turns replica and refuses writes: reconnect
    // (which asks the Sentinels again) instead of failing every write from then on.
    reconnectOnError: (error) => error.message.startsWith("READONLY"),
  };
}

/** The original's account key: lower-case hex SHA-256 of `device_id + "_" + account_id`. */
export function accountKey(deviceId: string, accountId: string): string {
  return createHash("sha256").update(`${deviceId}_${accountId}`, "utf8").digest("hex");
}

function live(expiry: number, now: number): boolean {
  return expiry === -1 || (expiry >= 0 && expiry > now);
}

function channelOf(value: string | undefined): string | null {
  return value === undefined || value === "" ? null : value;
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

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new Error("Redis URL: bad percent-encoding in the user, password, host or path");
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Removes the password from a message, should a library ever quote it. */
function scrub(message: string, password: string | undefined): string {
  return password ? message.replaceAll(password, "***") : message;
}

/** Rejects lists that would break the one-node-one-account and one-id-per-device rules. */
function checkAccountList(accounts: readonly AccountRegistration[]): void {
  const nodes = new Set<string>();
  const ids = new Set<string>();
  for (const { accountId, node } of accounts) {
    if (nodes.has(node)) throw new Error("replaceAccounts: the same node appears twice");
    if (ids.has(accountId)) throw new Error("replaceAccounts: the same account id appears twice");
    nodes.add(node);
    ids.add(accountId);
  }
}
