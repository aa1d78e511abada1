import { wnsDelivery, wnsTarget } from "../../../support/wns_delivery.ts";
import { totalsOf } from "../../../support/registration_totals.ts";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { accountKey } from "../../../../adapters/storage/redis/redis_keys.ts";
import {
  REDIS_LAYOUT_TARGETS,
  RedisStore,
} from "../../../../adapters/storage/redis/redis_store.ts";
import { WNS_TARGETS } from "../../../../adapters/push/wns/wns_push_delivery.ts";
import { parseRedisUrl } from "../../../../adapters/storage/redis/redis_url.ts";
import { MemoryWnsSender } from "../../../../adapters/push/wns/memory_wns_sender.ts";
import { DeviceService } from "../../../../app/use_cases/device_service.ts";
import { PushService } from "../../../../app/use_cases/push_service.ts";
import { StorageUnavailableError } from "../../../../domain/ports/storage.ts";
import {
  type AccountRegistration,
  DEFAULT_REGISTRATION_POLICY,
  expiryFrom,
} from "../../../../domain/registration.ts";

const LIFETIME_MS = DEFAULT_REGISTRATION_POLICY.lifetimeMs;
import { serverTestGate } from "../../../support/prosody.ts";
import { RecordingLogger } from "../../../support/recording_logger.ts";
import { testCertificate } from "../../../support/tls_cert.ts";
import { type RunningRedis, startRedis, startSentinel } from "../../../support/redis.ts";
import { storeContract } from "../store_contract.ts";
import { scaledMs } from "../../../support/timing.ts";

const gate = serverTestGate("redis-server");
const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAB";
const DAY = 24 * 60 * 60 * 1000;
/** Device ids and account ids as the UWPX client makes them: 64 hex characters. */
const DEVICE = "4f".repeat(32);
const ACCOUNT_A = "a1".repeat(32);
const ACCOUNT_B = "b2".repeat(32);
const ACCOUNT_C = "c3".repeat(32);

storeContract("RedisStore", async () => {
  const redis = await startRedis();
  try {
    const store = await RedisStore.connect(redis.url);
    const peers: RedisStore[] = [];
    return {
      store,
      peer: async () => {
        // Another instance on the same Redis.
        const peer = await RedisStore.connect(redis.url);
        peers.push(peer);
        return peer;
      },
      cleanup: async () => {
        for (const peer of peers) await peer.close();
        await store.close();
        await redis.stop();
      },
    };
  } catch (error) {
    await redis.stop();
    throw error;
  }
}, { realTimeExpiry: true, ignore: gate.ignore });

/** One test with its own redis-server, stopped however the test ends. */
function redisTest(
  name: string,
  body: (redis: RunningRedis) => Promise<void>,
  options: { password?: string } = {},
): void {
  Deno.test({
    name: `RedisStore: ${name}`,
    ...gate,
    fn: async () => {
      const redis = await startRedis(options);
      try {
        await body(redis);
      } finally {
        await redis.stop();
      }
    },
  });
}

redisTest("keepFirstSecret writes one key outside the original layout's names", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    assert.equal(await store.keepFirstSecret("VAPID:webpush", "kept"), "kept");
    assert.deepEqual(await raw.keys("*"), ["uwpx:secret:VAPID:webpush"]);
    assert.equal(await raw.get("uwpx:secret:VAPID:webpush"), "kept");
    assert.equal(await raw.ttl("uwpx:secret:VAPID:webpush"), -1);
    // Not a device of the original layout: the count leaves it out.
    assert.equal((await store.count(Date.now())).devices, 0);
  } finally {
    raw.disconnect();
    await store.close();
  }
});

/** A raw client for writing and checking keys behind the store's back. */
async function rawClient(redis: RunningRedis, db = 0): Promise<Redis> {
  const raw = new Redis({
    host: redis.host,
    port: redis.port,
    password: redis.password,
    db,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  await raw.connect();
  return raw;
}

/** Lower-case hex SHA-256 by WebCrypto: an implementation independent of the store's. */
async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Writes a device exactly as the original server's `set_push_accounts` did: account key and
 * node per account, then the device list, each with a relative TTL (the original's 30 days).
 */
async function writeLikeOriginal(
  raw: Redis,
  deviceId: string,
  channel: string,
  version: string,
  accounts: readonly AccountRegistration[],
): Promise<string[]> {
  const ttlSeconds = 30 * 24 * 60 * 60;
  const keys: string[] = [];
  for (const a of accounts) {
    const key = await sha256Hex(`${deviceId}_${a.accountId}`);
    keys.push(key);
    await raw.set(key, a.node);
    await raw.expire(key, ttlSeconds);
    await raw.rpush(a.node, a.accountId, deviceId, a.secret);
    await raw.expire(a.node, ttlSeconds);
  }
  await raw.del(deviceId);
  await raw.rpush(deviceId, channel, version, ...keys);
  await raw.expire(deviceId, ttlSeconds);
  return keys;
}

/** Every key in the db with its remaining TTL in ms. */
async function keysWithTtl(raw: Redis): Promise<Map<string, number>> {
  const result = new Map<string, number>();
  for (const key of await raw.keys("*")) result.set(key, await raw.pttl(key));
  return result;
}

const accountA = { accountId: ACCOUNT_A, node: "nodeAAAAAAAAAAAAAAAA", secret: "secret-a" };
const accountB = { accountId: ACCOUNT_B, node: "nodeBBBBBBBBBBBBBBBB", secret: "secret-b" };
const accountC = { accountId: ACCOUNT_C, node: "nodeCCCCCCCCCCCCCCCC", secret: "secret-c" };

redisTest("writes exactly the original server's key layout", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    const expiresAt = expiryFrom(Date.now());
    await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiresAt);
    await store.replaceAccounts(DEVICE, [accountA, accountB], expiresAt);
    const keyA = await sha256Hex(`${DEVICE}_${ACCOUNT_A}`);
    const keyB = await sha256Hex(`${DEVICE}_${ACCOUNT_B}`);
    assert.equal(accountKey(DEVICE, ACCOUNT_A), keyA);
    assert.match(keyA, /^[0-9a-f]{64}$/);
    assert.deepEqual(await raw.lrange(DEVICE, 0, -1), [CHANNEL, "2", keyA, keyB]);
    assert.equal(await raw.get(keyA), accountA.node);
    assert.equal(await raw.get(keyB), accountB.node);
    assert.deepEqual(await raw.lrange(accountA.node, 0, -1), [ACCOUNT_A, DEVICE, "secret-a"]);
    assert.deepEqual(await raw.lrange(accountB.node, 0, -1), [ACCOUNT_B, DEVICE, "secret-b"]);
    const keys = await keysWithTtl(raw);
    assert.deepEqual(
      [...keys.keys()].sort(),
      [DEVICE, keyA, keyB, accountA.node, accountB.node].sort(),
    );
    for (const key of keys.keys()) {
      assert.equal(await raw.call("PEXPIRETIME", key), expiresAt, `expiry of ${key}`);
    }

    // A forgotten channel is "" in slot 0; the rest stays, each key until the grace ends.
    const graceEnd = Date.now() + 30 * DAY;
    await store.forgetChannel(DEVICE, CHANNEL, graceEnd);
    assert.deepEqual(await raw.lrange(DEVICE, 0, -1), ["", "2", keyA, keyB]);
    for (const key of keys.keys()) {
      assert.equal(await raw.call("PEXPIRETIME", key), graceEnd, `grace of ${key}`);
    }
    // A renewal cannot undo the grace; a new channel restores the full lifetime on every
    // key, and a renewal then moves every key (PEXPIREAT on the same keys).
    await store.renew(DEVICE, CHANNEL, expiresAt + DAY);
    assert.equal(await raw.call("PEXPIRETIME", accountB.node), graceEnd);
    const restored = expiryFrom(Date.now());
    await store.saveTarget(DEVICE, wnsTarget(`${CHANNEL}2`), 2, restored);
    await store.renew(DEVICE, `${CHANNEL}2`, restored + DAY);
    for (const key of keys.keys()) {
      assert.equal(await raw.call("PEXPIRETIME", key), restored + DAY, `renewal of ${key}`);
    }
    assert.deepEqual(await raw.lrange(DEVICE, 0, -1), [`${CHANNEL}2`, "2", keyA, keyB]);

    // The WNS token: [token, type, seconds]; whole seconds exactly as the original wrote them.
    await store.saveToken("WNS", {
      accessToken: "tok",
      tokenType: "bearer",
      expiresAt: 1_700_000_000_000,
    });
    assert.deepEqual(await raw.lrange("WNS", 0, -1), ["tok", "bearer", "1700000000"]);
    await store.saveToken("WNS", {
      accessToken: "tok2",
      tokenType: "bearer",
      expiresAt: 1_700_000_000_042,
    });
    assert.deepEqual(await raw.lrange("WNS", 0, -1), ["tok2", "bearer", "1700000000.042"]);
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest("non-WNS registrations and tokens: the keys the README documents", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    // A registration by command, as CommandRegistration stores it (contract §4).
    const hash = "ec164939a8485ee6b7f7871071a11c7bb18aead5";
    const id = `fcm:conversations:${hash}`;
    const token = "fS3ntgCBQ2OeGyDh4ykgxa:APA91bGQh-4cqkPpOe0";
    const account = { accountId: hash, node: "eKxTS5n3bOe0nodeAAAA", secret: "s3cret" };
    const expiresAt = expiryFrom(Date.now());
    const fcm = { service: "fcm", app: "conversations", address: token };
    const made = await store.createIfAbsent(id, fcm, 0, account, expiresAt, Date.now());
    assert.equal(made.created, true);
    // Beside it a WNS device, byte for byte the original's.
    await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiresAt);
    await store.replaceAccounts(DEVICE, [accountA], expiresAt);
    const key = await sha256Hex(`${id}_${hash}`);
    assert.deepEqual(await raw.lrange(id, 0, -1), [`target:fcm:conversations:${token}`, "0", key]);
    assert.equal(await raw.get(key), account.node);
    assert.deepEqual(await raw.lrange(account.node, 0, -1), [hash, id, "s3cret"]);
    const keyA = await sha256Hex(`${DEVICE}_${ACCOUNT_A}`);
    assert.deepEqual(await raw.lrange(DEVICE, 0, -1), [CHANNEL, "2", keyA]);
    for (const k of [id, key, account.node]) {
      assert.equal(await raw.call("PEXPIRETIME", k), expiresAt, `expiry of ${k}`);
    }
    // A racer that lost: nothing written, not even a node of its own.
    const late = { ...account, node: "lateNodeBBBB", secret: "late" };
    const lost = await store.createIfAbsent(id, fcm, 0, late, expiresAt + DAY, Date.now());
    assert.deepEqual(lost.device.accounts, [account]);
    assert.equal(await raw.exists(late.node), 0);
    assert.deepEqual(await raw.lrange(id, 0, -1), [`target:fcm:conversations:${token}`, "0", key]);
    assert.equal(await raw.call("PEXPIRETIME", id), expiresAt);
    // Renewed and forgotten by the token alone; the slot keeps the service and app until then.
    await store.renew(id, token, expiresAt + DAY);
    for (const k of [id, key, account.node]) {
      assert.equal(await raw.call("PEXPIRETIME", k), expiresAt + DAY, `renewal of ${k}`);
    }
    const graceEnd = Date.now() + 30 * DAY;
    await store.forgetChannel(id, token, graceEnd);
    assert.deepEqual(await raw.lrange(id, 0, -1), ["", "0", key]);
    for (const k of [id, key, account.node]) {
      assert.equal(await raw.call("PEXPIRETIME", k), graceEnd, `grace of ${k}`);
    }
    // An FCM app's OAuth token: its own key; WNS's stays where the original has it.
    const fcmToken = { accessToken: "ya29.x", tokenType: "Bearer", expiresAt: 1_700_000_000_000 };
    await store.saveToken("FCM:conversations", fcmToken);
    assert.deepEqual(await raw.lrange("token:FCM:conversations", 0, -1), [
      "ya29.x",
      "Bearer",
      "1700000000",
    ]);
    assert.equal(await raw.exists("WNS"), 0);
    assert.deepEqual(totalsOf(await store.count(Date.now())), { devices: 2, accounts: 2 });
    // Unregistering deletes every key of the registration, nothing else.
    assert.equal(await store.deleteDevice(id, Date.now()), true);
    assert.deepEqual(
      (await raw.keys("*")).sort(),
      [DEVICE, keyA, accountA.node, "token:FCM:conversations"].sort(),
    );
    // A WNS address that could be read as a target is refused.
    await assert.rejects(
      store.saveTarget(DEVICE, wnsTarget("target:fcm:x:y"), 2, expiresAt),
      /cannot start with target:/,
    );
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest("reads what the original server wrote", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    const before = Date.now();
    const [keyA] = await writeLikeOriginal(raw, DEVICE, CHANNEL, "2", [accountA, accountB]);
    const now = Date.now();
    const { expiresAt: nodeExpiry, ...target } = (await store.findNode(accountA.node, now))!;
    assert.deepEqual(target, {
      node: accountA.node,
      accountId: ACCOUNT_A,
      deviceId: DEVICE,
      secret: "secret-a",
      // The original layout keeps the channel alone: read back as a WNS target of the one app.
      target: wnsTarget(CHANNEL),
    });
    assert.ok(Math.abs(nodeExpiry - (before + 30 * DAY)) < 5000, "the original's relative TTL");
    const device = await store.findDevice(DEVICE, now);
    assert.deepEqual(device?.accounts, [accountA, accountB]);
    assert.equal(device?.version, 2);
    assert.equal(device?.target?.address, CHANNEL);
    const thirtyDays = 30 * DAY;
    assert.ok(device!.expiresAt >= before + thirtyDays - 1000, "the original's relative TTL");
    assert.ok(device!.expiresAt <= Date.now() + thirtyDays + 1000);

    // set_channel_uri on a new device wrote only [channel_uri]: version 1, no accounts.
    await raw.rpush("5e".repeat(32), CHANNEL);
    assert.deepEqual(await store.findDevice("5e".repeat(32), now), {
      deviceId: "5e".repeat(32),
      target: wnsTarget(CHANNEL),
      version: 1,
      accounts: [],
      expiresAt: Number.MAX_SAFE_INTEGER,
    });
    // ...and our saveTarget fills in the version slot.
    await store.saveTarget("5e".repeat(32), wnsTarget(CHANNEL), 2, expiryFrom(now));
    assert.deepEqual(await raw.lrange("5e".repeat(32), 0, -1), [CHANNEL, "2"]);

    // The original deleted the account key but never the node of a removed account: such a
    // stale node must not resolve.
    await raw.rpush("staleNodeXXXXXXXXXXX", ACCOUNT_C, DEVICE, "secret-c");
    assert.equal(await store.findNode("staleNodeXXXXXXXXXXX", now), null);
    // Nor a node whose account key points elsewhere, or whose account id does not hash to it.
    await raw.rpush("forgedNodeXXXXXXXXXX", ACCOUNT_C, DEVICE, "secret-c");
    await raw.rpush(DEVICE, await sha256Hex(`${DEVICE}_${ACCOUNT_C}x`));
    await raw.set(await sha256Hex(`${DEVICE}_${ACCOUNT_C}x`), "forgedNodeXXXXXXXXXX");
    assert.equal(await store.findNode("forgedNodeXXXXXXXXXX", now), null);
    assert.deepEqual((await store.findDevice(DEVICE, now))?.accounts, [accountA, accountB]);
    // Keys of other kinds do not break reads.
    assert.equal(await store.findNode(keyA, now), null);
    assert.equal(await store.findDevice(keyA, now), null);
    assert.equal(await store.findNode("WNS", now), null);
    await raw.set("WNS", "an early version wrote a string here");
    assert.equal(await store.loadToken("WNS"), null);
    await raw.del("WNS");
    await raw.rpush("WNS", "tok", "bearer", "1700000000");
    assert.deepEqual(await store.loadToken("WNS"), {
      accessToken: "tok",
      tokenType: "bearer",
      expiresAt: 1_700_000_000_000,
    });
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest("set_push_accounts on an original device keeps node and secret", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    const [keyA, keyB] = await writeLikeOriginal(raw, DEVICE, CHANNEL, "2", [accountA, accountB]);
    let seed = 0;
    const devices = new DeviceService({
      store,
      ...wnsDelivery(new MemoryWnsSender()),
      provisioner: { provision: (added) => Promise.resolve(new Set(added)) },
      clock: { now: () => Date.now() },
      random: (length) => new Uint8Array(length).fill(++seed),
      logger: new RecordingLogger(),
      channelUriPattern: /^https:\/\/[a-z0-9-]+\.notify\.windows\.com\/.*/,
      pushBareJid: "push.example.org",
    });
    const started = Date.now();
    const result = await devices.setPushAccounts(DEVICE, [ACCOUNT_A, ACCOUNT_C]);
    assert.ok(result.ok, JSON.stringify(result));
    const [kept, added] = result.value.accounts;
    assert.deepEqual(
      { accountId: kept.accountId, node: kept.node, secret: kept.secret },
      accountA,
      "the node the user's server publishes to stays valid",
    );
    assert.equal(added.accountId, ACCOUNT_C);
    const keyC = await sha256Hex(`${DEVICE}_${ACCOUNT_C}`);

    assert.deepEqual(await raw.lrange(DEVICE, 0, -1), [CHANNEL, "2", keyA, keyC]);
    assert.deepEqual(await raw.lrange(accountA.node, 0, -1), [ACCOUNT_A, DEVICE, "secret-a"]);
    assert.deepEqual(await raw.lrange(added.node, 0, -1), [ACCOUNT_C, DEVICE, added.secret]);
    assert.equal(await raw.exists(keyB, accountB.node), 0, "the removed account's keys are gone");
    const keys = await keysWithTtl(raw);
    assert.deepEqual(
      [...keys.keys()].sort(),
      [DEVICE, keyA, keyC, accountA.node, added.node].sort(),
    );
    for (const [key, ttl] of keys) {
      // The project's sliding 210 days.
      const left = started + LIFETIME_MS - Date.now();
      assert.ok(ttl > left - 5000 && ttl <= LIFETIME_MS, `${key}: ${ttl}`);
    }
    assert.equal(await store.findNode(accountB.node, Date.now()), null);
    assert.equal((await store.findNode(added.node, Date.now()))?.secret, added.secret);
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest("a push reaches a device the original server registered", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    await writeLikeOriginal(raw, DEVICE, CHANNEL, "2", [accountA]);
    const wns = new MemoryWnsSender();
    const logger = new RecordingLogger();
    const pushes = new PushService({
      store,
      ...wnsDelivery(wns),
      clock: { now: () => Date.now() },
      logger,
    });
    const summary = new Map([["message-count", "3"], ["last-message-body", "hi"]]);

    const pushed = await pushes.handlePublish({ node: accountA.node, secret: "secret-a", summary });
    assert.deepEqual(pushed, { kind: "pushed" });
    assert.equal(wns.sent.length, 1);
    assert.equal(wns.sent[0].channelUri, CHANNEL);
    assert.deepEqual(JSON.parse(wns.sent[0].payload), {
      version: 2,
      action: "push",
      account_id: ACCOUNT_A,
      message_count: 3,
      pending_subscription_count: 0,
    });

    const forged = await pushes.handlePublish({ node: accountA.node, secret: "wrong", summary });
    assert.deepEqual(forged, { kind: "forbidden" });
    assert.equal(wns.sent.length, 1);

    // WNS says the channel is gone: the device's slot 0 is blanked, pushes pause (wait),
    // and nothing is posted to the channel again.
    wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 410 });
    const gone = await pushes.handlePublish({ node: accountA.node, secret: "secret-a", summary });
    assert.deepEqual(gone, { kind: "channel-gone" });
    assert.equal(await raw.lindex(DEVICE, 0), "");
    const after = await pushes.handlePublish({ node: accountA.node, secret: "secret-a", summary });
    assert.deepEqual(after, { kind: "channel-gone" });
    assert.equal(wns.sent.length, 2);
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest("replaceAccounts leaves no key of a removed account behind", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    const expiresAt = expiryFrom(Date.now());
    await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiresAt);
    await store.replaceAccounts(DEVICE, [accountA, accountB, accountC], expiresAt);
    // B is dropped, A moves to a new node, C stays.
    const movedA = { ...accountA, node: "nodeA2AAAAAAAAAAAAAA", secret: "secret-a2" };
    await store.replaceAccounts(DEVICE, [accountC, movedA], expiresAt);
    const keyA = accountKey(DEVICE, ACCOUNT_A);
    const keyC = accountKey(DEVICE, ACCOUNT_C);
    const keys = await keysWithTtl(raw);
    assert.deepEqual(
      [...keys.keys()].sort(),
      [DEVICE, keyA, keyC, accountC.node, movedA.node].sort(),
    );
    for (const [key, ttl] of keys) {
      assert.ok(ttl > LIFETIME_MS - 60_000 && ttl <= LIFETIME_MS, key);
    }
    assert.equal(await store.findNode(accountA.node, Date.now()), null);
    assert.equal((await store.findNode(movedA.node, Date.now()))?.secret, "secret-a2");

    // A refused list changes nothing: a node of another device.
    await store.saveTarget("other", wnsTarget(CHANNEL), 2, expiresAt);
    await store.replaceAccounts(
      "other",
      [{ accountId: "x", node: "nodeOther", secret: "s" }],
      expiresAt,
    );
    const before = await raw.lrange(DEVICE, 0, -1);
    await assert.rejects(
      store.replaceAccounts(
        DEVICE,
        [accountC, { accountId: "y", node: "nodeOther", secret: "t" }],
        expiresAt,
      ),
      (error) =>
        error instanceof Error && !(error instanceof StorageUnavailableError) &&
        /another device/.test(error.message),
    );
    await assert.rejects(
      store.replaceAccounts(DEVICE, [accountC, { ...accountB, node: accountC.node }], expiresAt),
      /twice/,
    );
    assert.deepEqual(await raw.lrange(DEVICE, 0, -1), before);
    assert.equal((await store.findNode("nodeOther", Date.now()))?.deviceId, "other");
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest("two instances writing one device never corrupt it", async (redis) => {
  const first = await RedisStore.connect(redis.url);
  const second = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    const expiresAt = expiryFrom(Date.now());
    await first.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiresAt);
    // Lists that share accounts, sometimes under another node, so each write has to delete
    // some of what the other one just wrote.
    const variant = (label: string, ids: string[], nodeTag: string): AccountRegistration[] =>
      ids.map((id) => ({ accountId: id, node: `n-${id}-${nodeTag}`, secret: `s-${label}-${id}` }));
    const lists = [
      variant("1", ["a", "b", "c"], "x"),
      variant("2", ["c", "d"], "x"),
      variant("3", ["a", "d", "e", "f"], "y"),
      variant("4", [], "x"),
      variant("5", ["b"], "y"),
    ];
    const allNodes = new Set(lists.flat().map((a) => a.node));
    for (let round = 0; round < 150; round++) {
      const one = lists[round % lists.length];
      const other = lists[(round * 3 + 1) % lists.length];
      const channel = `${CHANNEL}-${round}`;
      await Promise.all([
        first.replaceAccounts(DEVICE, one, expiresAt),
        second.replaceAccounts(DEVICE, other, expiresAt),
        round % 10 === 0 ? second.saveTarget(DEVICE, wnsTarget(channel), 2, expiresAt) : null,
      ]);
      const device = await first.findDevice(DEVICE, Date.now());
      assert.ok(device, `round ${round}`);
      const winner: AccountRegistration[] | undefined = [one, other].find((list) =>
        JSON.stringify(list) === JSON.stringify(device.accounts)
      );
      assert.ok(winner, `round ${round}: ${JSON.stringify(device.accounts)}`);
      // Exactly the winner's keys exist, and each node resolves to its account.
      const expectedKeys = [
        DEVICE,
        ...winner.flatMap((a) => [accountKey(DEVICE, a.accountId), a.node]),
      ];
      assert.deepEqual((await raw.keys("*")).sort(), expectedKeys.sort(), `round ${round}`);
      for (const node of allNodes) {
        const target = await second.findNode(node, Date.now());
        const expected: AccountRegistration | undefined = winner.find((a) => a.node === node);
        assert.equal(target?.secret, expected?.secret, `round ${round}, ${node}`);
      }
      if (round % 10 === 0) assert.equal(device.target?.address, channel);
    }
  } finally {
    raw.disconnect();
    await first.close();
    await second.close();
  }
});

redisTest(
  "a Redis restart: calls fail fast meanwhile, nothing is lost, service resumes",
  async (redis) => {
    const logger = new RecordingLogger();
    const store = await RedisStore.connect(redis.url, { logger, commandTimeoutMs: 500 });
    try {
      const expiresAt = expiryFrom(Date.now());
      await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiresAt);
      await store.replaceAccounts(DEVICE, [accountA, accountB], expiresAt);
      await store.saveToken("WNS", { accessToken: "tok", tokenType: "bearer", expiresAt: 42_000 });
      const before = await store.findDevice(DEVICE, Date.now());
      const pushes = new PushService({
        store,
        ...wnsDelivery(new MemoryWnsSender()),
        clock: { now: () => Date.now() },
        logger,
      });

      // Traffic all along: one findNode after another, each timed.
      const outcomes: { ok: boolean; ms: number; error?: unknown }[] = [];
      let traffic = true;
      const loop = (async () => {
        while (traffic) {
          const started = performance.now();
          try {
            await store.findNode(accountA.node, Date.now());
            outcomes.push({ ok: true, ms: performance.now() - started });
          } catch (error) {
            outcomes.push({ ok: false, ms: performance.now() - started, error });
          }
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();

      await new Promise((resolve) => setTimeout(resolve, 100));
      await redis.kill(); // A crash, not a clean shutdown.
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (
        const call of [
          () => store.findNode(accountA.node, Date.now()),
          () => store.findDevice(DEVICE, Date.now()),
          () => store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiresAt),
          () => store.replaceAccounts(DEVICE, [accountA], expiresAt),
          () => store.loadToken("WNS"),
        ]
      ) {
        const started = performance.now();
        await assert.rejects(call(), StorageUnavailableError);
        assert.ok(performance.now() - started < scaledMs(1000), "fails at once, no queueing");
      }
      assert.deepEqual(
        await pushes.handlePublish({ node: accountA.node, secret: "secret-a", summary: null }),
        { kind: "unavailable", reason: "storage unavailable" },
      );
      const error = await store.findDevice(DEVICE, Date.now()).catch((e) => e);
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${redis.port}`));

      await new Promise((resolve) => setTimeout(resolve, 300));
      const restartedAt = performance.now();
      await redis.restart();
      // Back by itself: no call to the store in between but the traffic loop's.
      let back = false;
      while (!back && performance.now() - restartedAt < 15_000) {
        back = (await store.findDevice(DEVICE, Date.now()).catch(() => null)) !== null;
        if (!back) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const recoveryMs = performance.now() - restartedAt;
      assert.ok(back, "calls succeed again after the restart");
      // The loop's call in flight may have started before the recovery: let two more run,
      // so that the last one began after it.
      const seen = outcomes.length;
      while (outcomes.length < seen + 2) await new Promise((resolve) => setTimeout(resolve, 5));
      traffic = false;
      await loop;

      assert.deepEqual(await store.findDevice(DEVICE, Date.now()), before, "nothing lost");
      assert.deepEqual(await store.loadToken("WNS"), {
        accessToken: "tok",
        tokenType: "bearer",
        expiresAt: 42_000,
      });
      const failures = outcomes.filter((o) => !o.ok);
      assert.ok(failures.length > 0, "the outage was seen");
      assert.ok(outcomes.at(-1)?.ok, "the traffic recovered");
      for (const failure of failures) {
        assert.ok(failure.error instanceof StorageUnavailableError, String(failure.error));
      }
      const slowest = Math.max(...outcomes.map((o) => o.ms));
      assert.ok(slowest < 2000, `every call ended soon after the command timeout: ${slowest} ms`);
      assert.ok(logger.at("warn").some((l) => l.message === "redis connection lost; reconnecting"));
      assert.ok(logger.at("info").some((l) => l.message === "redis connection restored"));
      console.log(
        `restart: ${failures.length} of ${outcomes.length} calls failed, slowest ${
          slowest.toFixed(1)
        } ms, recovered ${recoveryMs.toFixed(0)} ms after restart() began`,
      );
    } finally {
      await store.close();
    }
  },
);

redisTest("a hung Redis makes calls time out, then they work again", async (redis) => {
  const store = await RedisStore.connect(redis.url, { commandTimeoutMs: 300 });
  try {
    await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiryFrom(Date.now()));
    redis.freeze();
    try {
      const started = performance.now();
      await assert.rejects(store.findDevice(DEVICE, Date.now()), StorageUnavailableError);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 250 && elapsed < scaledMs(1000), `timed out after ${elapsed} ms`);
    } finally {
      redis.thaw();
    }
    // The late answer is dropped, and the connection still serves.
    let device = null;
    for (let i = 0; i < 100 && device === null; i++) {
      device = await store.findDevice(DEVICE, Date.now()).catch(() => null);
      if (device === null) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(device?.target?.address, CHANNEL);
  } finally {
    await store.close();
  }
});

Deno.test({
  name: "RedisStore: connecting to nothing fails clearly within the timeout",
  ...gate,
  fn: async () => {
    // A port nobody listens on: refused at once.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    let started = performance.now();
    await assert.rejects(
      RedisStore.connect(`redis://:hunter2@127.0.0.1:${port}/1`, { connectTimeoutMs: 2000 }),
      (error) =>
        error instanceof StorageUnavailableError &&
        error.message.includes(`127.0.0.1:${port}`) && /ECONNREFUSED/.test(error.message) &&
        !error.message.includes("hunter2"),
    );
    assert.ok(performance.now() - started < 2000);

    // A server that accepts but never answers: the connect timeout ends it.
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of silent) held.push(conn);
    })();
    try {
      const silentPort = (silent.addr as Deno.NetAddr).port;
      started = performance.now();
      await assert.rejects(
        RedisStore.connect(`redis://127.0.0.1:${silentPort}`, { connectTimeoutMs: 300 }),
        (error) =>
          error instanceof StorageUnavailableError &&
          error.message.includes(`127.0.0.1:${silentPort}`),
      );
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 250 && elapsed < scaledMs(1500), `gave up after ${elapsed} ms`);
    } finally {
      silent.close();
      await accepting.catch(() => {});
      for (const conn of held) conn.close();
    }
  },
});

redisTest("password and database number in the URL", async (redis) => {
  const password = redis.password!;
  const encoded = encodeURIComponent(password);
  const store = await RedisStore.connect(`redis://:${encoded}@127.0.0.1:${redis.port}/3`);
  const db3 = await rawClient(redis, 3);
  const db0 = await rawClient(redis, 0);
  try {
    await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiryFrom(Date.now()));
    assert.deepEqual(await db3.lrange(DEVICE, 0, -1), [CHANNEL, "2"]);
    assert.equal(await db0.exists(DEVICE), 0, "db 0 untouched");
    assert.equal((await store.findDevice(DEVICE, Date.now()))?.target?.address, CHANNEL);
    // The default user by name, Redis 6 ACL style.
    const named = await RedisStore.connect(`redis://default:${encoded}@127.0.0.1:${redis.port}/3`);
    assert.equal((await named.findDevice(DEVICE, Date.now()))?.target?.address, CHANNEL);
    await named.close();
  } finally {
    db3.disconnect();
    db0.disconnect();
    await store.close();
  }
  for (const url of [`redis://:wrong@127.0.0.1:${redis.port}`, `redis://127.0.0.1:${redis.port}`]) {
    await assert.rejects(
      RedisStore.connect(url, { connectTimeoutMs: 2000 }),
      (error) =>
        error instanceof StorageUnavailableError &&
        error.message.includes(`127.0.0.1:${redis.port}`) &&
        /WRONGPASS|NOAUTH/.test(error.message) && !error.message.includes(password) &&
        !error.message.includes("wrong"),
    );
  }
}, { password: "s3cr:t/@pw%" });

Deno.test({
  name: "RedisStore: rediss:// checks the server's certificate",
  ...gate,
  fn: async () => {
    const certificate = await testCertificate();
    const redis = await startRedis({ tls: certificate });
    try {
      assert.match(redis.url, /^rediss:\/\//);
      const store = await RedisStore.connect(redis.url, { tlsCaCerts: [certificate.cert] });
      try {
        await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiryFrom(Date.now()));
        assert.equal((await store.findDevice(DEVICE, Date.now()))?.target?.address, CHANNEL);
      } finally {
        await store.close();
      }
      // Not trusted by the system's roots: refused, clearly and at once.
      const started = performance.now();
      await assert.rejects(
        RedisStore.connect(redis.url, { connectTimeoutMs: 3000 }),
        (error) =>
          error instanceof StorageUnavailableError &&
          error.message.includes(`127.0.0.1:${redis.port}`) && /cert/i.test(error.message),
      );
      assert.ok(performance.now() - started < 3000);
      // Plain text to a TLS port does not hang either.
      await assert.rejects(
        RedisStore.connect(redis.url.replace("rediss:", "redis:"), { connectTimeoutMs: 500 }),
        StorageUnavailableError,
      );
    } finally {
      await redis.stop();
    }
  },
});

Deno.test({
  name: "RedisStore: through Sentinel, and on after a failover",
  ...gate,
  fn: async () => {
    // No 5 s wait before the replica's first sync.
    const master = await startRedis({ args: ["--repl-diskless-sync-delay", "0"] });
    const replica = await startRedis({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
    const sentinel = await startSentinel({
      masterPort: master.port,
      masterName: "uwpx",
      downAfterMs: 500,
    });
    let store: RedisStore | undefined;
    try {
      store = await RedisStore.connect(`redis-sentinel://127.0.0.1:${sentinel.port}/uwpx/2`, {
        commandTimeoutMs: 500,
      });
      const expiresAt = expiryFrom(Date.now());
      await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiresAt);
      await store.replaceAccounts(DEVICE, [accountA], expiresAt);
      const onMaster = await rawClient(master, 2);
      assert.deepEqual(await onMaster.lrange(DEVICE, 0, 1), [CHANNEL, "2"]);
      // Wait until the replica has it, then lose the master.
      assert.equal(await onMaster.call("WAIT", "1", "5000"), 1);
      onMaster.disconnect();
      await master.kill();

      const started = performance.now();
      let target = null;
      while (target === null && performance.now() - started < 20_000) {
        target = await store.findNode(accountA.node, Date.now()).catch(() => null);
        if (target === null) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(target?.secret, "secret-a", "the promoted replica serves");
      // Writes too: the client follows the Sentinel to the new master.
      let written = false;
      while (!written && performance.now() - started < 20_000) {
        written = await store.saveTarget(DEVICE, wnsTarget(`${CHANNEL}-2`), 2, expiresAt).then(
          () => true,
          () => false,
        );
        if (!written) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.ok(written);
      const onNew = await rawClient(replica, 2);
      assert.equal(await onNew.lindex(DEVICE, 0), `${CHANNEL}-2`);
      onNew.disconnect();
      console.log(
        `sentinel failover: served again after ${(performance.now() - started).toFixed(0)} ms`,
      );
    } finally {
      await store?.close();
      await sentinel.stop();
      await replica.stop();
      await master.stop();
    }
  },
});

/**
 * Writes `count` devices in the original layout in pipelined batches: device
 * `<prefix>-<i>` lists `accounts` account keys, each with its node, all expiring at
 * `expiresAt` (epoch ms). Returns how many keys it wrote.
 */
async function writeDevices(
  raw: Redis,
  prefix: string,
  count: number,
  accounts: number,
  expiresAt: number,
): Promise<number> {
  for (let start = 0; start < count; start += 500) {
    const pipeline = raw.pipeline();
    for (let i = start; i < Math.min(count, start + 500); i++) {
      const deviceId = `${prefix}-${i}`;
      const keys: string[] = [];
      for (let a = 0; a < accounts; a++) {
        const accountId = `${deviceId}-account-${a}`;
        const node = `${deviceId}-node-${a}`;
        const key = accountKey(deviceId, accountId);
        keys.push(key);
        pipeline.set(key, node).pexpireat(key, expiresAt);
        pipeline.rpush(node, accountId, deviceId, `secret-${a}`).pexpireat(node, expiresAt);
      }
      pipeline.rpush(deviceId, CHANNEL, "2", ...keys).pexpireat(deviceId, expiresAt);
    }
    await pipeline.exec();
  }
  return count * (1 + 2 * accounts);
}

redisTest("count counts the original's devices and skips every other key", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    const now = Date.now();
    // An original device with two accounts (account keys and nodes are not devices).
    await writeLikeOriginal(raw, DEVICE, CHANNEL, "2", [accountA, accountB]);
    // set_channel_uri of the original on a new device: [channel_uri], no TTL.
    await raw.rpush("5e".repeat(32), CHANNEL);
    // A channel WNS said is gone.
    await raw.rpush("6f".repeat(32), "", "3");
    // A device of ours with three accounts.
    await store.saveTarget("7a".repeat(32), wnsTarget(CHANNEL), 2, now + DAY);
    await store.replaceAccounts("7a".repeat(32), [
      accountC,
      ...["x", "y"].map((l) => ({
        accountId: l.repeat(64),
        node: `node${l}`.padEnd(20, l),
        secret: `secret-${l}`,
      })),
    ], now + DAY);
    // A device whose expiry comes soon.
    await raw.rpush("8b".repeat(32), CHANNEL, "2", "k1", "k2");
    await raw.pexpireat("8b".repeat(32), now + 60_000);
    // Not devices: a stale node, the WNS token, keys of other types, lists of other shapes.
    await raw.rpush("staleNodeXXXXXXXXXXX", ACCOUNT_C, DEVICE, "secret-c");
    await raw.rpush("WNS", "tok", "bearer", "1700000000");
    await raw.set("a-string", CHANNEL);
    await raw.hset("a-hash", "0", CHANNEL, "1", "2");
    await raw.sadd("a-set", CHANNEL);
    await raw.zadd("a-zset", 1, CHANNEL);
    await raw.xadd("a-stream", "*", "channel", CHANNEL);
    await raw.rpush("bad-version", CHANNEL, "v2", "k");
    await raw.rpush("no-uri", "not a channel", "2", "k");
    await raw.rpush("numeric-node", "12345", "678", "secret");

    assert.deepEqual(totalsOf(await store.count(now)), { devices: 5, accounts: 7 });
    // Every one of them is the original layout's: WNS's one app.
    assert.deepEqual((await store.count(now)).byApp, [
      { service: "wns", app: "wns", devices: 5, accounts: 7 },
    ]);
    assert.deepEqual(totalsOf(await store.count(now + 60_000 - 1)), { devices: 5, accounts: 7 });
    // At the soon one's expiry and past it, it is left out.
    assert.deepEqual(totalsOf(await store.count(now + 60_000)), { devices: 4, accounts: 5 });
    // Past ours and the original's 30 days only the one without a TTL and the forgotten one
    // (no TTL either) are left.
    assert.deepEqual(totalsOf(await store.count(now + 31 * DAY)), { devices: 2, accounts: 0 });
    // Nor is a WNS key that happened to look like a device counted.
    await raw.del("WNS");
    await raw.rpush("WNS", "", "1700000000");
    assert.deepEqual(totalsOf(await store.count(now)), { devices: 5, accounts: 7 });
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest("count by app: slot 0 names the app, else the key, else WNS's", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    const now = Date.now();
    // The original server's device (a bare channel URI), and one whose channel WNS forgot.
    await writeLikeOriginal(raw, DEVICE, CHANNEL, "2", [accountA, accountB]);
    await raw.rpush("6f".repeat(32), "", "3");
    // Registrations by command, as the store writes them; one FCM target forgotten since.
    const fcm = (n: string) => `fcm:conversations:${n.repeat(40)}`;
    const made = [
      [fcm("1"), { service: "fcm", app: "conversations", address: "tok:1" }],
      [fcm("2"), { service: "fcm", app: "conversations", address: "tok:2" }],
      [`apns:im.ios:${"3".repeat(40)}`, { service: "apns", app: "im.ios", address: "a3" }],
    ] as const;
    for (const [id, target] of made) {
      const account = { accountId: id.slice(-40), node: `node-${id.slice(-8)}`, secret: "s" };
      await store.createIfAbsent(id, target, 0, account, now + DAY, now);
    }
    await store.forgetChannel(fcm("2"), "tok:2", now + DAY);
    assert.equal(await raw.lindex(fcm("2"), 0), "", "stored forgotten: slot 0 names nothing");
    // A key shaped like a command registration's holding a bare URI: slot 0 says WNS.
    await raw.rpush("x:y:z", CHANNEL, "2");
    // An expired command registration is not counted.
    await raw.rpush(`fcm:old:${"4".repeat(40)}`, "target:fcm:old:tok", "0", "k");
    await raw.pexpireat(`fcm:old:${"4".repeat(40)}`, now - 1);
    await raw.rpush(`fcm:later:${"5".repeat(40)}`, "target:fcm:later:tok", "0", "k");
    await raw.pexpireat(`fcm:later:${"5".repeat(40)}`, now + 60_000);

    const count = await store.count(now);
    assert.deepEqual(totalsOf(count), { devices: 7, accounts: 6 });
    assert.deepEqual(count.byApp, [
      { service: "apns", app: "im.ios", devices: 1, accounts: 1 },
      { service: "fcm", app: "conversations", devices: 2, accounts: 2 },
      { service: "fcm", app: "later", devices: 1, accounts: 1 },
      { service: "wns", app: "wns", devices: 3, accounts: 2 },
    ]);
    assert.deepEqual(
      (await store.count(now + 60_000)).byApp.map((a) => `${a.service}/${a.app}`),
      ["apns/im.ios", "fcm/conversations", "wns/wns"],
    );
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest("count over many batches while keys come, go and change type", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  const churner = await rawClient(redis);
  try {
    const expiresAt = Date.now() + DAY;
    const stable = 3000;
    await writeDevices(raw, "stable", stable, 1, expiresAt);
    // Keys the churner deletes during the count: devices that may or may not be counted.
    const doomed = 1000;
    await writeDevices(raw, "doomed", doomed, 1, expiresAt);
    let done = false;
    let added = 0;
    let flips = 0;
    let rounds = 0;
    const churning = (async () => {
      // Every round adds devices (the keyspace grows, so Redis rehashes and SCAN may return
      // keys twice), deletes some, and turns keys from devices into strings and back.
      for (let round = 0; !done; round++) {
        const pipeline = churner.pipeline();
        for (let i = 0; i < 200; i++) {
          const id = `added-${round}-${i}`;
          pipeline.rpush(id, CHANNEL, "2", "k").pexpireat(id, expiresAt);
        }
        added += 200;
        for (let i = 0; i < 50; i++) pipeline.del(`doomed-${(round * 50 + i) % doomed}`);
        for (let i = 0; i < 20; i++) {
          const flip = `flip-${i}`;
          pipeline.del(flip);
          if (round % 2 === 0) pipeline.rpush(flip, CHANNEL, "2", "k");
          else pipeline.set(flip, CHANNEL);
        }
        flips = 20;
        await pipeline.exec();
        rounds++;
      }
    })();
    let counted;
    let roundsMeanwhile = 0;
    try {
      counted = await store.count(Date.now());
      roundsMeanwhile = rounds;
    } finally {
      done = true;
      await churning;
    }
    assert.ok(roundsMeanwhile >= 2, `the churner ran during the count (${roundsMeanwhile})`);
    // Each device listed one account key.
    assert.equal(counted.accounts, counted.devices);
    // Devices there throughout are counted once each; the others at most once.
    assert.ok(counted.devices >= stable, `${counted.devices} < ${stable}`);
    const most = stable + doomed + added + flips;
    assert.ok(counted.devices <= most, `${counted.devices} > ${most}`);
    // Quiet again: exact.
    const left = await raw.dbsize();
    const exact = await store.count(Date.now());
    const flipDevices = (await raw.type("flip-0")) === "list" ? flips : 0;
    const doomedLeft = (await raw.keys("doomed-*")).filter((k) => !k.includes("-node-")).length;
    assert.deepEqual(totalsOf(exact), {
      devices: stable + added + flipDevices + doomedLeft,
      accounts: stable + added + flipDevices + doomedLeft,
    }, `${left} keys`);
  } finally {
    churner.disconnect();
    raw.disconnect();
    await store.close();
  }
});

redisTest("count time for 10k devices", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  const raw = await rawClient(redis);
  try {
    const keys = await writeDevices(raw, "d".repeat(60), 10_000, 2, Date.now() + DAY);
    await raw.rpush("WNS", "tok", "bearer", "1700000000");
    const times: number[] = [];
    for (let run = 0; run < 5; run++) {
      const started = performance.now();
      assert.deepEqual(totalsOf(await store.count(Date.now())), {
        devices: 10_000,
        accounts: 20_000,
      });
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    console.log(
      `count: 10000 devices, 20000 accounts, ${keys + 1} keys: median ${
        times[2].toFixed(0)
      } ms (min ${times[0].toFixed(0)}, max ${times[4].toFixed(0)})`,
    );
    assert.ok(times[2] < 5000, "a scan of 50k keys takes seconds at most");
  } finally {
    raw.disconnect();
    await store.close();
  }
});

redisTest(
  "ping: answers, times out or fails as StorageUnavailableError, no password",
  async (redis) => {
    const password = redis.password!;
    const store = await RedisStore.connect(redis.url, { commandTimeoutMs: 300 });
    const where = `127.0.0.1:${redis.port}`;
    const unavailable = (error: unknown) =>
      error instanceof StorageUnavailableError && error.message.includes(where) &&
      !error.message.includes(password) && !error.message.includes(encodeURIComponent(password));
    try {
      await store.ping();
      redis.freeze();
      try {
        const started = performance.now();
        await assert.rejects(store.ping(), unavailable);
        const elapsed = performance.now() - started;
        assert.ok(elapsed >= 250 && elapsed < scaledMs(1000), `timed out after ${elapsed} ms`);
        await assert.rejects(store.count(Date.now()), unavailable);
      } finally {
        redis.thaw();
      }
      await eventually(() => store.ping());
      await redis.kill();
      await assert.rejects(store.ping(), unavailable);
      await redis.restart();
      await eventually(() => store.ping());
      await store.close();
      await assert.rejects(store.ping(), /closed/);
    } finally {
      await store.close();
    }
  },
  { password: "s3cr:t/@pw%" },
);

/** Retries `work` for up to 5 s until it resolves. */
async function eventually(work: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  for (;;) {
    try {
      await work();
      return;
    } catch (error) {
      if (performance.now() - started > 5000) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

redisTest("findNode latency on loopback", async (redis) => {
  const store = await RedisStore.connect(redis.url);
  try {
    const expiresAt = expiryFrom(Date.now());
    const accounts = Array.from({ length: 8 }, (_, i) => ({
      accountId: `${i}`.repeat(64),
      node: `node${i}`.padEnd(20, "x"),
      secret: `secret-${i}`,
    }));
    await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, expiresAt);
    await store.replaceAccounts(DEVICE, accounts, expiresAt);
    const calls = 10_000;
    const times: number[] = [];
    const started = performance.now();
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      const target = await store.findNode(accounts[i % 8].node, Date.now());
      times.push(performance.now() - t);
      if (target === null) throw new Error("lost a node");
    }
    const total = performance.now() - started;
    times.sort((a, b) => a - b);
    const p = (q: number) => times[Math.floor(q * (times.length - 1))].toFixed(3);
    console.log(
      `findNode x${calls} (device with 8 accounts, last one scanned 8 keys): mean ${
        (total / calls).toFixed(3)
      } ms, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms`,
    );
    assert.ok(total / calls < 20, "a lookup is a single quick round trip");
  } finally {
    await store.close();
  }
});

Deno.test("RedisStore: URL forms", () => {
  assert.deepEqual(parseRedisUrl("redis://localhost"), {
    sentinel: false,
    tls: false,
    hosts: [{ host: "localhost", port: 6379 }],
    masterName: "",
    username: undefined,
    password: undefined,
    db: 0,
    display: "localhost:6379",
  });
  const full = parseRedisUrl("rediss://user:p%40ss@redis.example.org:6380/4");
  assert.equal(full.tls, true);
  assert.deepEqual(full.hosts, [{ host: "redis.example.org", port: 6380 }]);
  assert.equal(full.username, "user");
  assert.equal(full.password, "p@ss");
  assert.equal(full.db, 4);
  assert.equal(full.display, "redis.example.org:6380");
  // An unencoded "@" or "/" in the password still parses: the last "@" ends it.
  assert.equal(parseRedisUrl("redis://:a/b@c@host/2").password, "a/b@c");
  assert.equal(parseRedisUrl("redis://:a/b@c@host/2").db, 2);
  assert.deepEqual(parseRedisUrl("redis://[::1]:7000/").hosts, [{ host: "::1", port: 7000 }]);
  assert.equal(parseRedisUrl("redis://[::1]:7000/").display, "[::1]:7000");

  const sentinel = parseRedisUrl("redis-sentinel://:pw@s1,s2:26380,[::1]/mymaster/5");
  assert.equal(sentinel.sentinel, true);
  assert.deepEqual(sentinel.hosts, [
    { host: "s1", port: 26379 },
    { host: "s2", port: 26380 },
    { host: "::1", port: 26379 },
  ]);
  assert.equal(sentinel.masterName, "mymaster");
  assert.equal(sentinel.db, 5);
  assert.equal(sentinel.password, "pw");
  assert.equal(sentinel.display, "s1:26379,s2:26380,[::1]:26379 (sentinel master mymaster)");
  assert.equal(parseRedisUrl("redis-sentinel://s1/mymaster").db, 0);

  for (
    const bad of [
      "http://host",
      "redis:/host",
      "redis://",
      "redis://h1,h2",
      "redis://host:0",
      "redis://host:99999",
      "redis://host/x",
      "redis://host/1/2",
      "redis://host?db=1",
      "redis-sentinel://s1",
      "redis-sentinel://s1/",
      "redis://:%E0%A4%A@host",
    ]
  ) {
    assert.throws(() => parseRedisUrl(bad), Error, bad);
  }
  assert.throws(
    () => parseRedisUrl("redis://:topsecret@host/notadb"),
    (error) => error instanceof Error && !error.message.includes("topsecret"),
  );
});

Deno.test("RedisStore: the layout's targets are the WNS targets the wiring registers", () => {
  // Reads answer REDIS_LAYOUT_TARGETS with each channel; the router must find WNS under it.
  assert.deepEqual(REDIS_LAYOUT_TARGETS, WNS_TARGETS);
});
