/**
 * The Lua scripts of the Redis store, one per multi-key operation, on the original server's
 * key layout (see `redis_store.ts`). Each runs atomically in Redis; together with the
 * client-side reply types they are the store's whole protocol with Redis.
 *
 * @module
 */

/** Slot 1 of a device list written by the original before any `set_push_accounts`. */
export const DEFAULT_VERSION = 1;
/** Prefix of the errors our scripts return for refused input (not backend failures). */
export const REFUSED = "UWPX-REFUSED";

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
-- The address in slot 0 of a device list: a WNS channel URI as is; a non-WNS target is
-- stored as 'target:<service>:<app>:<address>' (see redis_store.ts).
local function address_of(slot)
  if type(slot) ~= 'string' then return nil end
  return string.match(slot, '^target:[^:]*:[^:]*:(.*)$') or slot
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
const FIND_DEVICE_FUNCTION = `
local function find_device(device)
  local d = list_at(device)
  if #d == 0 then return false end
  local accounts = {}
  for i = 3, #d do
    local node = string_at(d[i])
    if node then
      accounts[#accounts + 1] = {d[i], node, list_at(node), earliest(expiry_at(d[i]), expiry_at(node))}
    end
  end
  return {d, expiry_at(device), accounts}
end
`;
const FIND_DEVICE = `${LUA_HELPERS}${FIND_DEVICE_FUNCTION}
return find_device(KEYS[1])
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
  return redis.error_reply('${REFUSED} saveTarget: the device id names a key of another type')
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
 * they point at that points back at the device. Each node is read before its account key is
 * moved: a PEXPIREAT in the past (a registration ended now) deletes the key at once.
 */
const EACH_DEVICE_KEY = `
local function each_device_key(device, list, move)
  move(device)
  for i = 3, #list do
    local node = string_at(list[i])
    move(list[i])
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
if address_of(d[1]) ~= ARGV[1] then return 0 end
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
if d[1] == '' or address_of(d[1]) ~= ARGV[1] then return 0 end
local at = tonumber(ARGV[2])
each_device_key(KEYS[1], d, function(key)
  local current = expiry_at(key)
  if current >= 0 and current < at then redis.call('PEXPIREAT', key, ARGV[2]) end
end)
return 1
`;

/**
 * KEYS[1] = device; ARGV[1] = now (epoch ms). Deletes the device list, its account keys and
 * the nodes that point back at it. Returns 1 if the device was live at `now`, else 0.
 */
const DELETE_DEVICE = `${LUA_HELPERS}${EACH_DEVICE_KEY}
if redis.call('TYPE', KEYS[1])['ok'] ~= 'list' then return 0 end
local d = list_at(KEYS[1])
local at = expiry_at(KEYS[1])
local doomed = {}
each_device_key(KEYS[1], d, function(key) doomed[#doomed + 1] = key end)
for _, key in ipairs(doomed) do redis.call('DEL', key) end
if at == -1 or at > tonumber(ARGV[1]) then return 1 end
return 0
`;

/**
 * KEYS[1] = device; ARGV = slot 0, version, expiresAt, now, account key, node, account id,
 * secret. If the device is live at `now` and lists that account key, pointing at a node of
 * that account id that points back, live too: writes nothing and returns {0, the device as
 * FIND_DEVICE answers it}. Otherwise (no device, an expired one, or one without that
 * account) deletes the device's keys and writes `[slot 0, version, account key]`, the
 * account key and the node, all expiring at expiresAt, and returns {1}. The one script is
 * what makes racing first registrations agree: exactly one of them creates.
 */
const CREATE_IF_ABSENT = `${LUA_HELPERS}${EACH_DEVICE_KEY}${FIND_DEVICE_FUNCTION}
local device, at, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local key, node, account, secret = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local kind = redis.call('TYPE', device)['ok']
if kind ~= 'list' and kind ~= 'none' then
  return redis.error_reply('${REFUSED} createIfAbsent: the device id names a key of another type')
end
local live = function(expiry) return expiry == -1 or expiry > now end
local d = list_at(device)
if #d > 0 and live(expiry_at(device)) then
  for i = 3, #d do
    if d[i] == key then
      local n = string_at(key)
      local l = n and list_at(n) or {}
      if #l == 3 and l[1] == account and l[2] == device and live(earliest(expiry_at(key), expiry_at(n))) then
        return {0, find_device(device)}
      end
    end
  end
end
local nkind = redis.call('TYPE', node)['ok']
if nkind ~= 'none' then
  local n = list_at(node)
  if nkind ~= 'list' or #n ~= 3 then
    return redis.error_reply('${REFUSED} createIfAbsent: the node names a key of another kind')
  end
  if n[2] ~= device and owned_by(node, n[2]) then
    return redis.error_reply('${REFUSED} createIfAbsent: the node already belongs to another device')
  end
end
local doomed = {}
each_device_key(device, d, function(k) doomed[#doomed + 1] = k end)
for _, k in ipairs(doomed) do redis.call('DEL', k) end
redis.call('DEL', key, node)
redis.call('SET', key, node)
redis.call('PEXPIREAT', key, at)
redis.call('RPUSH', node, account, device, secret)
redis.call('PEXPIREAT', node, at)
redis.call('RPUSH', device, ARGV[1], ARGV[2], key)
redis.call('PEXPIREAT', device, at)
return {1}
`;

/** KEYS[1] = "WNS"; ARGV = token, type, expiry seconds. Replaces the list in one step. */
const SAVE_WNS_TOKEN = `
redis.call('DEL', KEYS[1])
redis.call('RPUSH', KEYS[1], ARGV[1], ARGV[2], ARGV[3])
return 1
`;

/**
 * KEYS = a batch of SCAN's keys; ARGV[1] = now (epoch ms). Returns {device, accounts, app,
 * ...} for each key that is a device live at `now`; `app` is what slot 0 says of it:
 * `<service>:<app>` of a `target:` slot, `uri` for a bare channel URI (the original layout's
 * WNS), "" when it says nothing (a forgotten target, or a `target:` slot without both
 * names). A device is a list whose slot 0 is a channel URI, a non-WNS target (`target:...`)
 * or "" and whose slot 1, if any, is a version number (the original wrote `[channel]` for a
 * new device); anything else (nodes `[account_id, device_id, secret]`, account keys, foreign
 * keys, keys deleted since SCAN returned them) is skipped. Reads slots 0 and 1 and the
 * length only, however many accounts a device lists.
 */
export const COUNT_BATCH = `${LUA_HELPERS}
local now = tonumber(ARGV[1])
local found = {}
for _, key in ipairs(KEYS) do
  if redis.call('TYPE', key)['ok'] == 'list' then
    local channel = redis.call('LINDEX', key, 0)
    if channel == '' or string.find(channel, '^%a[%w+.-]*://') or string.find(channel, '^target:') then
      local version = redis.call('LINDEX', key, 1)
      if not version or string.find(version, '^%d+$') then
        local at = expiry_at(key)
        if at == -1 or (at >= 0 and at > now) then
          local app = ''
          if string.find(channel, '^target:') then
            app = string.match(channel, '^target:([^:]+:[^:]+):') or ''
          elseif channel ~= '' then
            app = 'uri'
          end
          found[#found + 1] = key
          found[#found + 1] = math.max(redis.call('LLEN', key) - 2, 0)
          found[#found + 1] = app
        end
      end
    end
  end
end
return found
`;

/** How many keys one SCAN step asks for, and so the most one count script gets. */
export const SCAN_BATCH = 1000;

export type FindNodeReply = [string, string, string, string, string, number] | null;
export type FindDeviceReply = [string[], number, [string, string, string[], number][]] | null;
/** {1} when created; {0, the device found} when a live one had the account already. */
export type CreateIfAbsentReply = [1] | [0, NonNullable<FindDeviceReply>];

/** The scripts, as ioredis's `defineCommand` adds them to the client. */
export interface ScriptCommands {
  uwpxFindNode(node: string): Promise<FindNodeReply>;
  uwpxFindDevice(deviceId: string): Promise<FindDeviceReply>;
  uwpxSaveChannel(deviceId: string, channel: string, version: string, at: string): Promise<number>;
  uwpxReplaceAccounts(deviceId: string, at: string, ...accounts: string[]): Promise<number>;
  uwpxCreateIfAbsent(
    deviceId: string,
    slot: string,
    version: string,
    at: string,
    now: string,
    accountKey: string,
    node: string,
    accountId: string,
    secret: string,
  ): Promise<CreateIfAbsentReply>;
  uwpxForgetChannel(deviceId: string, channel: string, at: string): Promise<number>;
  uwpxRenew(deviceId: string, channel: string, at: string): Promise<number>;
  uwpxDeleteDevice(deviceId: string, now: string): Promise<number>;
  uwpxSaveWnsToken(key: string, token: string, type: string, expires: string): Promise<number>;
  /** Takes the number of keys, the keys, then `now`: {@link COUNT_BATCH}. */
  uwpxCountBatch(...keysThenNow: (string | number)[]): Promise<(string | number)[]>;
}

/** The scripts that take one key; {@link COUNT_BATCH} takes any number. */
export const SCRIPTS: Record<Exclude<keyof ScriptCommands, "uwpxCountBatch">, string> = {
  uwpxFindNode: FIND_NODE,
  uwpxFindDevice: FIND_DEVICE,
  uwpxSaveChannel: SAVE_CHANNEL,
  uwpxReplaceAccounts: REPLACE_ACCOUNTS,
  uwpxCreateIfAbsent: CREATE_IF_ABSENT,
  uwpxForgetChannel: FORGET_CHANNEL,
  uwpxRenew: RENEW,
  uwpxDeleteDevice: DELETE_DEVICE,
  uwpxSaveWnsToken: SAVE_WNS_TOKEN,
};
