import assert from "node:assert/strict";
import { MemoryStore } from "../../adapters/storage/memory_store.ts";
import { MemoryWnsSender } from "../../adapters/wns/memory_wns_sender.ts";
import { PUSH_CACHE_TTL_SECONDS, PushService } from "../../app/push_service.ts";
import type { PublishRequest } from "../../domain/publish.ts";
import { StorageUnavailableError } from "../../domain/ports.ts";
import { FakeClock } from "../support/fakes.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=SECRETTOKEN";
const NODE = "nodeNodeNodeNodeNode";
const SECRET = "secretSecretSecretSecret";

async function setup() {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const service = new PushService({ store, wns, clock, logger });
  await store.saveChannel("dev1", CHANNEL, 2, clock.now() + 1000);
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
  assert.equal((await store.findNode(NODE, clock.now()))?.channelUri, CHANNEL, "channel kept");
});

Deno.test("PushService: channel gone is unknown-node and the channel is forgotten", async () => {
  const { service, wns, store, clock } = await setup();
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 410 });
  assert.deepEqual(await service.handlePublish(publish()), { kind: "unknown-node" });
  const device = await store.findDevice("dev1", clock.now());
  assert.equal(device?.channelUri, null);
  assert.equal(device?.accounts.length, 1, "the accounts stay for a new channel");
  assert.deepEqual(await service.handlePublish(publish()), { kind: "unknown-node" });
  assert.equal(wns.sent.length, 1);
});

Deno.test("PushService: channel gone is still unknown-node when forgetting fails", async () => {
  const { service, wns, store, logger } = await setup();
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 404 });
  store.forgetChannel = () => Promise.reject(new StorageUnavailableError("down"));
  assert.deepEqual(await service.handlePublish(publish()), { kind: "unknown-node" });
  assert.ok(logger.at("warn").some((l) => l.message === "could not forget channel"));
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
