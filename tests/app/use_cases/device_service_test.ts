import { wnsDelivery, wnsTarget } from "../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { storedDeviceId } from "../../../adapters/storage/device_key.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../../adapters/push/wns/memory_wns_sender.ts";
import { DEFAULT_CHANNEL_URI_PATTERN } from "../../../app/config.ts";
import { DeviceService, type DeviceServiceDeps } from "../../../app/use_cases/device_service.ts";
import { PushService } from "../../../app/use_cases/push_service.ts";
import { ServiceRouter } from "../../../app/delivery/service_router.ts";
import type { Notification, PushDelivery } from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import { type RegistrationStore, StorageUnavailableError } from "../../../domain/ports/storage.ts";
import {
  type NodeProvisioner,
  NodeSetupUnavailableError,
} from "../../../domain/ports/xmpp_link.ts";
import { DEFAULT_REGISTRATION_POLICY } from "../../../domain/registration.ts";
import { FakeClock, seededRandom } from "../../support/fakes.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const LIFETIME_MS = DEFAULT_REGISTRATION_POLICY.lifetimeMs;

const DEVICE = "5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b";
const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAD8sampleToken%2bValue";
const ACC_A = "dadbbb9327c711e4b626f7820fb299871d23d6020683bbd1e08d37e0246c7e90";
const ACC_B = "16ecab1875791e2b6ed0c9a6dae5a12a79d92120e1c3afbd3a9c8535ce44666d";

/** A component-mode provisioner: every node is ready at once. */
const readyProvisioner: NodeProvisioner = {
  provision: (added) => Promise.resolve(new Set(added)),
};

function setup(overrides: Partial<DeviceServiceDeps> = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const deps: DeviceServiceDeps = {
    store,
    ...wnsDelivery(wns),
    provisioner: readyProvisioner,
    clock,
    random: seededRandom(7),
    logger,
    channelUriPattern: new RegExp(DEFAULT_CHANNEL_URI_PATTERN),
    pushBareJid: "push.example.org",
    ...overrides,
  };
  const service = new DeviceService(deps);
  const push = new PushService({ store: deps.store, ...wnsDelivery(wns), clock, logger });
  return { clock, store, wns, logger, service, push };
}

async function registered(overrides: Partial<DeviceServiceDeps> = {}) {
  const ctx = setup(overrides);
  assert.deepEqual(await ctx.service.setChannelUri(DEVICE, CHANNEL, 2), {
    ok: true,
    value: undefined,
  });
  return ctx;
}

function accountsOf<T>(result: { ok: true; value: T } | { ok: false; error: string }): T {
  assert.ok(result.ok, result.ok ? "" : result.error);
  return result.value;
}

/** A store whose every method fails like an unreachable backend. */
function brokenStore(error: () => Error): RegistrationStore {
  const fail = () => Promise.reject(error());
  return {
    saveTarget: fail,
    createIfAbsent: fail,
    findDevice: fail,
    replaceAccounts: fail,
    findNode: fail,
    forgetChannel: fail,
    renew: fail,
    deleteDevice: fail,
    purgeExpired: fail,
    loadToken: fail,
    saveToken: fail,
    keepFirstSecret: fail,
    ping: fail,
    count: fail,
    close: () => Promise.resolve(),
  };
}

Deno.test("setChannelUri: registers the device with its channel and version", async () => {
  const { service, store, clock } = setup();
  assert.deepEqual(await service.setChannelUri(DEVICE, CHANNEL, 1), { ok: true, value: undefined });
  const device = await store.findDevice(DEVICE, clock.now());
  assert.equal(device?.target?.address, CHANNEL);
  assert.equal(device?.version, 1);
  assert.equal(device?.expiresAt, clock.now() + LIFETIME_MS);
  assert.deepEqual(device?.accounts, []);
});

Deno.test("setChannelUri: the default pattern accepts real WNS channel URIs", async () => {
  for (
    const uri of [
      CHANNEL,
      "https://wns2-by3p.notify.windows.com/w/?token=abc",
      "https://bn3p.wns.notify.windows.com/?token=AgYAAAB%2f%3d%3d",
    ]
  ) {
    const { service, store, clock } = setup();
    assert.deepEqual(await service.setChannelUri(DEVICE, uri, 2), { ok: true, value: undefined });
    assert.equal((await store.findDevice(DEVICE, clock.now()))?.target?.address, uri);
  }
});

Deno.test("setChannelUri: URIs outside WNS are refused and nothing is stored", async () => {
  for (
    const uri of [
      "http://db5p.notify.windows.com/?token=x",
      "https://notify.windows.com.evil.com/?token=x",
      "https://evil.com/.notify.windows.com/?token=x",
      "https://evil.com/?x=.notify.windows.com/?token=x",
      "https://db5p.notify.windows.com@evil.com/?token=x",
      "https://db5p.notify.windows.com:8443/?token=x",
      "https://db5p.notify.windows.com/?token=x#frag",
      "https://db5p.notify.windows.com/?token=x\nhttps://evil.com/",
      "https://db5p.notify.windows.com/elsewhere?token=x",
      "https://db5p.notify.windows.com/?token=",
      "ms-app://s-1-15-2-2809919898-1495508573-4063290580-1588585018",
      "",
    ]
  ) {
    const { service, store, clock } = setup();
    const result = await service.setChannelUri(DEVICE, uri, 2);
    assert.deepEqual(result, { ok: false, error: "channel_uri is not a WNS channel URI" }, uri);
    assert.equal(await store.findDevice(DEVICE, clock.now()), null, uri);
  }
});

Deno.test("setChannelUri: a configured pattern decides, and a new URI moves the device", async () => {
  const { service, store, clock } = setup({ channelUriPattern: /^https:\/\/127\.0\.0\.1:\d+\/.*/ });
  assert.equal((await service.setChannelUri(DEVICE, CHANNEL, 2)).ok, false);
  assert.equal((await service.setChannelUri(DEVICE, "https://127.0.0.1:9/a", 2)).ok, true);
  assert.equal((await service.setChannelUri(DEVICE, "https://127.0.0.1:9/b", 1)).ok, true);
  const device = await store.findDevice(DEVICE, clock.now());
  assert.equal(device?.target?.address, "https://127.0.0.1:9/b");
  assert.equal(device?.version, 1);
});

Deno.test("setChannelUri: a pattern without anchors cannot send the WNS token elsewhere", async () => {
  // Issue 13: this operator pattern, applied with test(), let the token go to the thief.
  const { service, store, clock, wns } = setup({
    channelUriPattern: /https:\/\/[a-z0-9.-]+\.notify\.windows\.com\//,
  });
  const steal = "http://127.0.0.1:18081/steal?https://x.notify.windows.com/";
  assert.equal((await service.setChannelUri(DEVICE, steal, 2)).ok, false);
  assert.equal(await store.findDevice(DEVICE, clock.now()), null);
  assert.equal((await service.requestTestPush(DEVICE)).ok, false);
  assert.equal(wns.sent.length, 0);
});

Deno.test("setPushAccounts: an unknown device is told to register its channel first", async () => {
  const { service, store, clock } = setup();
  const result = await service.setPushAccounts(DEVICE, [ACC_A]);
  assert.deepEqual(result, { ok: false, error: "unknown device: send set_channel_uri first" });
  assert.equal(await store.findDevice(DEVICE, clock.now()), null);
});

Deno.test("setPushAccounts: answers a node and secret per account, which then resolve", async () => {
  const { service, store, clock } = await registered();
  const value = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A, ACC_B]));
  assert.equal(value.pushBareJid, "push.example.org");
  assert.deepEqual(value.accounts.map((a) => [a.accountId, a.success]), [
    [ACC_A, true],
    [ACC_B, true],
  ]);
  for (const account of value.accounts) {
    const target = await store.findNode(account.node, clock.now());
    assert.deepEqual(target, {
      node: account.node,
      accountId: account.accountId,
      // The memory store keeps a hash of the id, and answers it.
      deviceId: storedDeviceId(DEVICE),
      secret: account.secret,
      target: wnsTarget(CHANNEL),
      expiresAt: clock.now() + LIFETIME_MS,
    });
  }
});

Deno.test("setPushAccounts: replaces the accounts; a removed node stops resolving at once", async () => {
  const { service, store, clock, push } = await registered();
  const first = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A, ACC_B]));
  const [a, b] = first.accounts;
  const second = accountsOf(await service.setPushAccounts(DEVICE, [ACC_B, "NEWACCOUNT"]));
  assert.deepEqual(second.accounts.map((x) => x.accountId), [ACC_B, "NEWACCOUNT"]);
  // A kept account keeps its node and secret: the user's server keeps publishing there.
  assert.equal(second.accounts[0].node, b.node);
  assert.equal(second.accounts[0].secret, b.secret);
  assert.notEqual(second.accounts[1].node, a.node);
  assert.equal(await store.findNode(a.node, clock.now()), null);
  assert.deepEqual(
    await push.handlePublish({ node: a.node, secret: a.secret, summary: null }),
    { kind: "unknown-node" },
  );
  const device = await store.findDevice(DEVICE, clock.now());
  assert.deepEqual(device?.accounts.map((x) => x.accountId), [ACC_B, "NEWACCOUNT"]);
});

Deno.test("setPushAccounts: an empty list removes every account", async () => {
  const { service, store, clock } = await registered();
  const first = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A]));
  const none = accountsOf(await service.setPushAccounts(DEVICE, []));
  assert.deepEqual(none.accounts, []);
  assert.equal(await store.findNode(first.accounts[0].node, clock.now()), null);
  assert.deepEqual((await store.findDevice(DEVICE, clock.now()))?.accounts, []);
});

Deno.test("setPushAccounts: nodes the provisioner could not set up are answered success false", async () => {
  const provisioned: [readonly string[], readonly string[]][] = [];
  const { service } = await registered({
    provisioner: {
      provision(added, removed) {
        provisioned.push([added, removed]);
        // The first call fails its first node; later calls succeed.
        return Promise.resolve(new Set(provisioned.length === 1 ? added.slice(1) : added));
      },
    },
  });
  const value = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A, ACC_B]));
  assert.deepEqual(value.accounts.map((a) => a.success), [false, true]);
  assert.deepEqual(provisioned, [[value.accounts.map((a) => a.node), []]]);
  // A failed node was not stored: the next request sets up a fresh one for that account,
  // while the working account is kept and not provisioned again.
  const again = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A, ACC_B]));
  assert.deepEqual(again.accounts.map((a) => a.success), [true, true]);
  assert.notEqual(again.accounts[0].node, value.accounts[0].node);
  assert.equal(again.accounts[1].node, value.accounts[1].node);
  assert.deepEqual(provisioned[1], [[again.accounts[0].node], []]);
  // Removed ones are handed over for removal.
  accountsOf(await service.setPushAccounts(DEVICE, [ACC_B]));
  assert.deepEqual(provisioned[2], [[], [again.accounts[0].node]]);
});

Deno.test("setPushAccounts: a node setup that may pass fails the request (status 0), storing nothing", async () => {
  let calls = 0;
  const { service, store, clock } = await registered({
    provisioner: {
      provision(added) {
        calls++;
        // The XMPP link is down for the second and third requests, then back.
        if (calls === 2 || calls === 3) {
          return Promise.reject(new NodeSetupUnavailableError("the XMPP link is down"));
        }
        return Promise.resolve(new Set(added));
      },
    },
  });
  const first = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A]));
  assert.deepEqual(first.accounts.map((a) => a.success), [true]);
  // The link goes down; the client adds an account: not success false (final for the
  // client), but an error it retries at its next start. Nothing changed meanwhile.
  const failed = await service.setPushAccounts(DEVICE, [ACC_A, ACC_B]);
  assert.deepEqual(failed, {
    ok: false,
    error: "the push service's XMPP server is not available, try again later",
  });
  assert.deepEqual(
    (await store.findDevice(DEVICE, clock.now()))?.accounts.map((a) => a.accountId),
    [ACC_A],
  );
  assert.equal((await service.setPushAccounts(DEVICE, [ACC_B])).ok, false);
  assert.deepEqual(
    (await store.findDevice(DEVICE, clock.now()))?.accounts.map((a) => a.node),
    first.accounts.map((a) => a.node),
    "a removal waits for the request to succeed",
  );
  // The next start: every account of the request in the answer, all working.
  const retried = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A, ACC_B]));
  assert.deepEqual(retried.accounts.map((a) => [a.accountId, a.success]), [
    [ACC_A, true],
    [ACC_B, true],
  ]);
  assert.equal(retried.accounts[0].node, first.accounts[0].node, "the kept account's node");
});

Deno.test("setPushAccounts: concurrent requests for one device are serialized", async () => {
  // A store whose reads answer late, so unserialized requests would all plan from the same
  // old state and mint competing nodes for the same account.
  const clock = new FakeClock();
  const memory = new MemoryStore(clock);
  const slow: RegistrationStore = {
    saveTarget: memory.saveTarget.bind(memory),
    createIfAbsent: memory.createIfAbsent.bind(memory),
    replaceAccounts: memory.replaceAccounts.bind(memory),
    findNode: memory.findNode.bind(memory),
    forgetChannel: memory.forgetChannel.bind(memory),
    renew: memory.renew.bind(memory),
    deleteDevice: memory.deleteDevice.bind(memory),
    purgeExpired: memory.purgeExpired.bind(memory),
    loadToken: memory.loadToken.bind(memory),
    saveToken: memory.saveToken.bind(memory),
    keepFirstSecret: memory.keepFirstSecret.bind(memory),
    ping: memory.ping.bind(memory),
    count: memory.count.bind(memory),
    close: memory.close.bind(memory),
    findDevice: async (deviceId: string, now: number) => {
      const device = await memory.findDevice(deviceId, now);
      await new Promise((resolve) => setTimeout(resolve, 5));
      return device;
    },
  };
  const { service } = setup({ store: slow, clock });
  assert.equal((await service.setChannelUri(DEVICE, CHANNEL, 2)).ok, true);
  const results = await Promise.all([
    service.setPushAccounts(DEVICE, [ACC_A]),
    service.setPushAccounts(DEVICE, [ACC_A, ACC_B]),
    service.setPushAccounts(DEVICE, [ACC_A, ACC_B, "THIRD"]),
  ]);
  const answers = results.map((r) => accountsOf(r).accounts);
  // Every answer agrees on each account's node and secret: none was minted twice.
  const nodeOfA = new Set(answers.map((accounts) => accounts[0].node));
  assert.equal(nodeOfA.size, 1, "account A got one node");
  assert.equal(answers[1][1].node, answers[2][1].node, "account B got one node");
  const stored = await memory.findDevice(DEVICE, clock.now());
  assert.deepEqual(
    stored?.accounts,
    answers[2].map(({ accountId, node, secret }) => ({
      accountId,
      node,
      secret,
    })),
  );
  for (const account of answers[2]) {
    assert.equal((await memory.findNode(account.node, clock.now()))?.accountId, account.accountId);
  }
});

Deno.test("setPushAccounts: an expired device is unknown again", async () => {
  const { service, clock } = await registered();
  clock.advance(LIFETIME_MS);
  assert.deepEqual(await service.setPushAccounts(DEVICE, [ACC_A]), {
    ok: false,
    error: "unknown device: send set_channel_uri first",
  });
});

Deno.test("storage unavailable: every request gets a clear error, nothing throws", async () => {
  const { service, logger } = setup({
    store: brokenStore(() => new StorageUnavailableError("redis: connection refused")),
  });
  const expected = { ok: false, error: "storage unavailable, try again later" };
  assert.deepEqual(await service.setChannelUri(DEVICE, CHANNEL, 2), expected);
  assert.deepEqual(await service.setPushAccounts(DEVICE, [ACC_A]), expected);
  assert.deepEqual(await service.requestTestPush(DEVICE), expected);
  assert.equal(logger.at("warn").length, 3);
  // The lock did not get stuck: later requests are still answered.
  assert.deepEqual(await service.setPushAccounts(DEVICE, [ACC_A]), expected);
});

Deno.test("unexpected store errors become 'internal error', logged as errors", async () => {
  const { service, logger } = setup({ store: brokenStore(() => new TypeError("bug")) });
  const expected = { ok: false, error: "internal error" };
  assert.deepEqual(await service.setChannelUri(DEVICE, CHANNEL, 2), expected);
  assert.deepEqual(await service.setPushAccounts(DEVICE, [ACC_A]), expected);
  assert.deepEqual(await service.requestTestPush(DEVICE), expected);
  assert.equal(logger.at("error").length, 3);
});

Deno.test("setPushAccounts: a write that fails after minting leaves the old accounts working", async () => {
  const { service, store, clock } = await registered();
  const first = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A]));
  const original = store.replaceAccounts.bind(store);
  store.replaceAccounts = () => Promise.reject(new StorageUnavailableError("write failed"));
  assert.deepEqual(await service.setPushAccounts(DEVICE, [ACC_B]), {
    ok: false,
    error: "storage unavailable, try again later",
  });
  store.replaceAccounts = original;
  assert.equal((await store.findNode(first.accounts[0].node, clock.now()))?.accountId, ACC_A);
});

Deno.test("requestTestPush: success only when WNS delivered the test push", async () => {
  const { service, wns } = await registered();
  assert.deepEqual(await service.requestTestPush(DEVICE), { ok: true, value: undefined });
  assert.deepEqual(wns.sent, [{
    channelUri: CHANNEL,
    payload: '{"version":2,"action":"test_push"}',
    options: { cache: false, ttlSeconds: 0 },
  }]);
});

Deno.test("requestTestPush: a WNS failure is told to the device", async () => {
  const { service, wns, store, clock } = await registered();
  wns.setOutcome(CHANNEL, { kind: "failed", retryable: true, status: 503, detail: "busy" });
  assert.deepEqual(await service.requestTestPush(DEVICE), {
    ok: false,
    error: "WNS did not accept the test push (HTTP 503)",
  });
  wns.setOutcome(CHANNEL, { kind: "failed", retryable: true, status: null, detail: "timed out" });
  assert.deepEqual(await service.requestTestPush(DEVICE), {
    ok: false,
    error: "WNS did not accept the test push (timed out)",
  });
  // A failure is not a dead channel: it is kept.
  assert.equal((await store.findDevice(DEVICE, clock.now()))?.target?.address, CHANNEL);
});

Deno.test("requestTestPush: channel gone forgets the channel until the device sends a new one", async () => {
  const { service, wns, store, clock } = await registered();
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 410 });
  assert.deepEqual(await service.requestTestPush(DEVICE), {
    ok: false,
    error: "WNS says the channel is gone: send set_channel_uri again",
  });
  assert.equal((await store.findDevice(DEVICE, clock.now()))?.target, null);
  assert.deepEqual(await service.requestTestPush(DEVICE), {
    ok: false,
    error: "channel expired: send set_channel_uri again",
  });
  assert.equal(wns.sent.length, 1, "no second attempt on a dead channel");
  const fresh = "https://db5p.notify.windows.com/?token=fresh";
  assert.equal((await service.setChannelUri(DEVICE, fresh, 2)).ok, true);
  assert.deepEqual(await service.requestTestPush(DEVICE), { ok: true, value: undefined });
  assert.equal(wns.sent[1].channelUri, fresh);
});

Deno.test("setChannelUri: the channel WNS called gone, registered again by the device, is tried again", async () => {
  const { service, wns, store, clock } = await registered();
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 410 });
  assert.equal((await service.requestTestPush(DEVICE)).ok, false);
  // WNS hands the device the same URI again (a reinstall, a channel that was not dead).
  wns.setOutcome(CHANNEL, { kind: "delivered", status: 200, wnsStatus: "received" });
  assert.equal((await service.setChannelUri(DEVICE, CHANNEL, 2)).ok, true);
  assert.equal((await store.findDevice(DEVICE, clock.now()))?.target?.address, CHANNEL);
  assert.deepEqual(await service.requestTestPush(DEVICE), { ok: true, value: undefined });
  assert.deepEqual(wns.sent.map((s) => s.channelUri), [CHANNEL, CHANNEL]);
});

Deno.test("requestTestPush: channel gone still answers when forgetting fails", async () => {
  const { service, wns, store } = await registered();
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 404 });
  store.forgetChannel = () => Promise.reject(new StorageUnavailableError("down"));
  const result = await service.requestTestPush(DEVICE);
  assert.equal(result.ok, false);
});

Deno.test("requestTestPush: an unknown device is told to register", async () => {
  const { service, wns } = setup();
  assert.deepEqual(await service.requestTestPush(DEVICE), {
    ok: false,
    error: "unknown device: send set_channel_uri first",
  });
  assert.equal(wns.sent.length, 0);
});

Deno.test("logs never hold a secret, a whole node or a channel token", async () => {
  const { service, logger } = await registered();
  const value = accountsOf(await service.setPushAccounts(DEVICE, [ACC_A]));
  await service.requestTestPush(DEVICE);
  const text = logger.text();
  assert.ok(logger.lines.length >= 3);
  assert.ok(!text.includes(value.accounts[0].secret));
  assert.ok(!text.includes(value.accounts[0].node));
  assert.ok(!text.includes("AwYAAAD8sampleToken"));
  assert.ok(!text.includes(DEVICE), "only a short device id");
});

Deno.test("setChannelUri saves the front door's target; requestTestPush sends to the stored one", async () => {
  const { store, clock, wns } = await registered();
  // This front door registers WNS channels of its one app.
  assert.deepEqual((await store.findDevice(DEVICE, clock.now()))?.target, wnsTarget(CHANNEL));
  // A target stored with another service and app (as another front door would) is what the
  // test push goes to: the front door's WNS defaults play no part.
  const target = { service: "fcm", app: "im.example", address: "fcm-token-1" };
  await store.saveTarget(DEVICE, target, 2, clock.now() + LIFETIME_MS);
  const sent: { target: PushTarget; notification: Notification }[] = [];
  const fcm: PushDelivery = {
    deliver(target, notification) {
      sent.push({ target, notification });
      return Promise.resolve({ kind: "target-gone", status: 404 });
    },
  };
  const routed = new DeviceService({
    store,
    delivery: new ServiceRouter([
      { service: "fcm", app: "im.example", delivery: fcm },
      { service: "wns", app: "wns", delivery: wnsDelivery(wns).delivery },
    ]),
    targets: wnsDelivery(wns).targets,
    provisioner: readyProvisioner,
    clock,
    random: seededRandom(7),
    logger: new RecordingLogger(),
    channelUriPattern: new RegExp(DEFAULT_CHANNEL_URI_PATTERN),
    pushBareJid: "push.example.org",
  });
  assert.equal((await routed.requestTestPush(DEVICE)).ok, false);
  assert.deepEqual(sent, [{ target, notification: { kind: "test" } }]);
  assert.deepEqual(wns.sent, []);
  // Gone: forgotten by its address, and not tried again.
  assert.equal((await store.findDevice(DEVICE, clock.now()))?.target, null);
  assert.deepEqual(await routed.requestTestPush(DEVICE), {
    ok: false,
    error: "channel expired: send set_channel_uri again",
  });
  assert.equal(sent.length, 1);
});
