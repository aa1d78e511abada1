import { wnsDelivery, wnsTarget } from "../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../../adapters/push/wns/memory_wns_sender.ts";
import { PUSH_CACHE_TTL_SECONDS, PushService } from "../../../app/use_cases/push_service.ts";
import type { PublishRequest } from "../../../domain/publish.ts";
import { StorageUnavailableError } from "../../../domain/ports/storage.ts";
import { expiryFrom, registrationPolicy } from "../../../domain/registration.ts";
import { PushCoalescer } from "../../../app/delivery/push_coalescer.ts";
import { ServiceRouter } from "../../../app/delivery/service_router.ts";
import type {
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import { FakeClock } from "../../support/fakes.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=SECRETTOKEN";
const NODE = "nodeNodeNodeNodeNode";
const SECRET = "secretSecretSecretSecret";
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

async function setup() {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const service = new PushService({ store, ...wnsDelivery(wns), clock, logger });
  await store.saveTarget("dev1", wnsTarget(CHANNEL), 2, clock.now() + 1000);
  await store.replaceAccounts(
    "dev1",
    [{ accountId: "ACC1", node: NODE, secret: SECRET }],
    clock.now() + 1000,
  );
  return { clock, store, wns, logger, service };
}

const publish = (overrides: Partial<PublishRequest> = {}): PublishRequest => ({
  node: NODE,
  secret: SECRET,
  summary: new Map([
    ["message-count", "2"],
    ["pending-subscription-count", "1"],
    ["last-message-body", "do not leak me"],
    ["last-message-sender", "romeo@montague.example"],
  ]),
  ...overrides,
});

Deno.test("PushService: a good publish is pushed to the device's channel", async () => {
  const { service, wns } = await setup();
  assert.deepEqual(await service.handlePublish(publish()), { kind: "pushed" });
  assert.deepEqual(wns.sent, [{
    channelUri: CHANNEL,
    payload:
      '{"version":2,"action":"push","account_id":"ACC1","message_count":2,"pending_subscription_count":1}',
    options: { cache: true, ttlSeconds: PUSH_CACHE_TTL_SECONDS },
  }]);
  assert.equal(PUSH_CACHE_TTL_SECONDS, 86_400);
});

Deno.test("PushService: unknown node", async () => {
  const { service, wns } = await setup();
  assert.deepEqual(await service.handlePublish(publish({ node: "other" })), {
    kind: "unknown-node",
  });
  assert.equal(wns.sent.length, 0);
});

Deno.test("PushService: wrong or missing secret is forbidden", async () => {
  const { service, wns } = await setup();
  assert.deepEqual(await service.handlePublish(publish({ secret: "nope" })), { kind: "forbidden" });
  assert.deepEqual(await service.handlePublish(publish({ secret: null })), { kind: "forbidden" });
  assert.equal(wns.sent.length, 0);
});

Deno.test("PushService: an expired registration is an unknown node", async () => {
  const { service, wns, clock } = await setup();
  clock.advance(1000);
  assert.deepEqual(await service.handlePublish(publish()), { kind: "unknown-node" });
  assert.equal(wns.sent.length, 0);
});

Deno.test("PushService: WNS failures are 'unavailable' (wait), never unknown-node", async () => {
  const { service, wns, store, clock } = await setup();
  for (const retryable of [true, false]) {
    for (const status of [500, 401, 406, null]) {
      wns.setOutcome(CHANNEL, { kind: "failed", retryable, status, detail: "x" });
      const outcome = await service.handlePublish(publish());
      assert.equal(outcome.kind, "unavailable", `${retryable} ${status}`);
    }
  }
  assert.equal((await store.findNode(NODE, clock.now()))?.target?.address, CHANNEL, "channel kept");
});

Deno.test("PushService: a gone channel is a pause (wait), never posted to again", async () => {
  const { service, wns, store, clock } = await setup();
  const before = (await store.findDevice("dev1", clock.now()))!.expiresAt;
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 410 });
  assert.deepEqual(await service.handlePublish(publish()), { kind: "channel-gone" });
  const device = await store.findDevice("dev1", clock.now());
  assert.equal(device?.target, null);
  assert.equal(device?.accounts.length, 1, "the accounts stay for a new channel");
  assert.equal(device?.expiresAt, before, "a grace end later than the expiry changes nothing");
  assert.deepEqual(await service.handlePublish(publish()), { kind: "channel-gone" });
  assert.equal(wns.sent.length, 1);
});

Deno.test("PushService: a gone channel shortens the registration to the grace period", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const policy = registrationPolicy(210, 30);
  const service = new PushService({
    store,
    ...wnsDelivery(wns),
    clock,
    logger: new RecordingLogger(),
    policy,
  });
  await store.saveTarget("dev1", wnsTarget(CHANNEL), 2, expiryFrom(clock.now(), policy));
  await store.replaceAccounts(
    "dev1",
    [{ accountId: "ACC1", node: NODE, secret: SECRET }],
    expiryFrom(clock.now(), policy),
  );
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 404 });
  assert.deepEqual(await service.handlePublish(publish()), { kind: "channel-gone" });
  assert.equal((await store.findDevice("dev1", clock.now()))?.expiresAt, clock.now() + 30 * DAY);
  clock.advance(30 * DAY - 1);
  assert.deepEqual(await service.handlePublish(publish()), { kind: "channel-gone" });
  clock.advance(1);
  assert.deepEqual(await service.handlePublish(publish()), { kind: "unknown-node" });
  assert.equal(wns.sent.length, 1);
});

Deno.test("PushService: merged pushes of a burst are not posted after a 404/410", async () => {
  const { store, wns, clock } = await setup();
  const service = new PushService({
    store,
    ...wnsDelivery(wns),
    clock,
    logger: new RecordingLogger(),
    coalescer: new PushCoalescer(50),
  });
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 410 });
  const outcomes = await Promise.all([1, 2, 3].map(() => service.handlePublish(publish())));
  assert.deepEqual(outcomes.map((o) => o.kind), ["channel-gone", "channel-gone", "channel-gone"]);
  assert.equal(wns.sent.length, 1, "the trailing push of the burst went to a gone channel");
});

Deno.test("PushService: a gone channel is still a wait when forgetting fails", async () => {
  const { service, wns, store, logger } = await setup();
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 404 });
  store.forgetChannel = () => Promise.reject(new StorageUnavailableError("down"));
  assert.deepEqual(await service.handlePublish(publish()), { kind: "channel-gone" });
  assert.ok(logger.at("warn").some((l) => l.message === "could not forget channel"));
});

Deno.test("PushService: delivered pushes renew the registration about once a day", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const service = new PushService({
    store,
    ...wnsDelivery(wns),
    clock,
    logger: new RecordingLogger(),
  });
  await store.saveTarget("dev1", wnsTarget(CHANNEL), 2, expiryFrom(clock.now()));
  await store.replaceAccounts(
    "dev1",
    [{ accountId: "ACC1", node: NODE, secret: SECRET }],
    expiryFrom(clock.now()),
  );
  const renewals: number[] = [];
  const renew = store.renew.bind(store);
  store.renew = (deviceId, channelUri, expiresAt) => {
    renewals.push(expiresAt);
    return renew(deviceId, channelUri, expiresAt);
  };
  // A push every hour for 200 days: the registration never lapses, one write a day or so.
  for (let hour = 0; hour < 200 * 24; hour++) {
    clock.advance(HOUR);
    assert.deepEqual(await service.handlePublish(publish()), { kind: "pushed" }, `hour ${hour}`);
  }
  assert.ok(renewals.length >= 95 && renewals.length <= 200, `renewals: ${renewals.length}`);
  const device = await store.findDevice("dev1", clock.now());
  assert.ok(device!.expiresAt > clock.now() + 208 * DAY, "renewed to about 210 days from now");
  assert.equal(service.renewing, 0);
});

Deno.test("PushService: a failed renewal is logged, the push still counts", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const service = new PushService({ store, ...wnsDelivery(wns), clock, logger });
  await store.saveTarget("dev1", wnsTarget(CHANNEL), 2, expiryFrom(clock.now()));
  await store.replaceAccounts(
    "dev1",
    [{ accountId: "ACC1", node: NODE, secret: SECRET }],
    expiryFrom(clock.now()),
  );
  store.renew = () => Promise.reject(new StorageUnavailableError("down"));
  clock.advance(2 * DAY);
  assert.deepEqual(await service.handlePublish(publish()), { kind: "pushed" });
  await logger.waitFor("could not renew registration");
});

Deno.test("PushService: storage throwing is 'unavailable', nothing sent", async () => {
  for (const error of [new StorageUnavailableError("redis down"), new Error("surprise")]) {
    const { service, wns, store } = await setup();
    store.findNode = () => Promise.reject(error);
    assert.deepEqual(await service.handlePublish(publish()), {
      kind: "unavailable",
      reason: "storage unavailable",
    });
    assert.equal(wns.sent.length, 0);
  }
});

Deno.test("PushService: logs hold neither content, secret, whole node nor channel token", async () => {
  const { service, wns, logger } = await setup();
  await service.handlePublish(publish());
  await service.handlePublish(publish({ secret: "wrong-secret-value" }));
  wns.setOutcome(CHANNEL, { kind: "failed", retryable: true, status: 503, detail: "busy" });
  await service.handlePublish(publish());
  const text = logger.text();
  assert.ok(logger.lines.length >= 3);
  for (const leak of [SECRET, "wrong-secret-value", NODE, "SECRETTOKEN", "leak me", "romeo"]) {
    assert.ok(!text.includes(leak), `log contains ${leak}`);
  }
});

/** A delivery port that records what it is asked to send and answers `outcome`. */
class RecordingDelivery implements PushDelivery {
  readonly sent: { target: PushTarget; notification: Notification }[] = [];
  outcome: DeliveryOutcome = { kind: "delivered", status: 200, detail: "ok" };
  deliver(target: PushTarget, notification: Notification): Promise<DeliveryOutcome> {
    this.sent.push({ target, notification });
    return Promise.resolve(this.outcome);
  }
}

Deno.test("PushService: pushes to the stored target, whatever its service and app", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const fcm = new RecordingDelivery();
  const wns = new MemoryWnsSender();
  // The WNS defaults of the device front door must play no part in where a push goes.
  const delivery = new ServiceRouter([
    { service: "fcm", app: "im.example", delivery: fcm },
    { service: "wns", app: "wns", delivery: wnsDelivery(wns).delivery },
  ]);
  const logger = new RecordingLogger();
  const service = new PushService({ store, delivery, clock, logger });
  const target = { service: "fcm", app: "im.example", address: "fcm-token-1" };
  await store.saveTarget("dev1", target, 2, clock.now() + DAY);
  await store.replaceAccounts(
    "dev1",
    [{ accountId: "ACC1", node: NODE, secret: SECRET }],
    clock.now() + DAY,
  );

  assert.deepEqual(await service.handlePublish(publish()), { kind: "pushed" });
  assert.deepEqual(fcm.sent, [{
    target,
    notification: {
      kind: "push",
      accountId: "ACC1",
      counts: { messageCount: 2, pendingSubscriptionCount: 1 },
    },
  }]);
  assert.deepEqual(wns.sent, []);

  // Gone: forgotten by its address, as a WNS channel would be, and never sent to again.
  fcm.outcome = { kind: "target-gone", status: 404 };
  assert.deepEqual(await service.handlePublish(publish()), { kind: "channel-gone" });
  assert.equal((await store.findDevice("dev1", clock.now()))?.target, null);
  assert.deepEqual(await service.handlePublish(publish()), { kind: "channel-gone" });
  assert.equal(fcm.sent.length, 2);
});

Deno.test("PushService: a dead token the registration has already left is no cancel (same node, new token)", async () => {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const old = { service: "fcm", app: "im.example", address: "fcm-token-old" };
  let registerAgain = async () => {};
  // FCM calls the old token dead while the app registers its new one (same node, p2's rule).
  const fcm: PushDelivery = {
    async deliver() {
      await registerAgain();
      return { kind: "target-gone", status: 404 };
    },
  };
  const delivery = new ServiceRouter([{ service: "fcm", app: "im.example", delivery: fcm }]);
  const service = new PushService({
    store,
    delivery,
    clock,
    logger: new RecordingLogger(),
    whenGone: () => "end",
  });
  await store.saveTarget("dev1", old, 0, clock.now() + DAY);
  await store.replaceAccounts(
    "dev1",
    [{ accountId: "ACC1", node: NODE, secret: SECRET }],
    clock.now() + DAY,
  );
  registerAgain = () =>
    store.saveTarget("dev1", { ...old, address: "fcm-token-new" }, 0, clock.now() + DAY);
  const outcome = await service.handlePublish(publish());
  // A cancel would make ejabberd drop a node that still delivers (to the new token).
  assert.notEqual(outcome.kind, "unknown-node");
  assert.equal((await store.findNode(NODE, clock.now()))?.target?.address, "fcm-token-new");
  // The node goes on delivering to the new token.
  registerAgain = async () => {};
  const delivered = new ServiceRouter([{
    service: "fcm",
    app: "im.example",
    delivery: new RecordingDelivery(),
  }]);
  const next = new PushService({
    store,
    delivery: delivered,
    clock,
    logger: new RecordingLogger(),
  });
  assert.deepEqual(await next.handlePublish(publish()), { kind: "pushed" });
  // The token that is dead and still the registration's: the registration ends, cancel.
  const ending = new PushService({
    store,
    delivery,
    clock,
    logger: new RecordingLogger(),
    whenGone: () => "end",
  });
  assert.deepEqual(await ending.handlePublish(publish()), { kind: "unknown-node" });
  assert.equal(await store.findNode(NODE, clock.now()), null);
});
