import { wnsDelivery, wnsTarget } from "../support/wns_delivery.ts";
import { totalsOf } from "../support/registration_totals.ts";
import assert from "node:assert/strict";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../adapters/push/wns/memory_wns_sender.ts";
import { DeviceService } from "../../app/use_cases/device_service.ts";
import { PushService } from "../../app/use_cases/push_service.ts";
import { UnknownNodeCache, withUnknownNodeCache } from "../../app/unknown_node_cache.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import type { NodeTarget } from "../../domain/registration.ts";
import { FakeClock, seededRandom } from "../support/fakes.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=TOKEN";
const DEVICE = "ab".repeat(32);

/** A memory store counting node lookups, whose lookups can be held back. */
class CountingStore extends MemoryStore {
  lookups = 0;
  hold: Promise<void> | null = null;

  override async findNode(node: string, now: number): Promise<NodeTarget | null> {
    this.lookups++;
    const answer = await super.findNode(node, now);
    if (this.hold) await this.hold;
    return answer;
  }
}

function setup(ttlMs = 5000) {
  const clock = new FakeClock();
  const inner = new CountingStore(clock);
  const cache = new UnknownNodeCache({ ttlMs, maxEntries: 100, clock });
  let hits = 0;
  const store = withUnknownNodeCache(inner, cache, () => hits++);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const push = new PushService({ store, ...wnsDelivery(wns), clock, logger });
  const devices = new DeviceService({
    store,
    ...wnsDelivery(wns),
    provisioner: { provision: (added) => Promise.resolve(new Set(added)) },
    clock,
    random: seededRandom(),
    logger,
    channelUriPattern: /^https:\/\/db5p\.notify\.windows\.com\/.*/,
    pushBareJid: "push.example.org",
  });
  const publish = (node: string, secret = "any") =>
    push.handlePublish({ node, secret, summary: null });
  return { clock, inner, cache, store, wns, push, devices, publish, hits: () => hits };
}

Deno.test("unknown node cache: a flood for one unknown node costs one lookup per TTL", async () => {
  const { clock, inner, publish, wns, hits } = setup();
  for (let i = 0; i < 100; i++) assert.deepEqual(await publish("nope"), { kind: "unknown-node" });
  assert.equal(inner.lookups, 1);
  assert.equal(hits(), 99);
  clock.advance(5000);
  await publish("nope");
  assert.equal(inner.lookups, 2, "looked up again once the entry expired");
  assert.equal(wns.sent.length, 0);
});

const ACCOUNT = { accountId: "acc1", node: "fresh-node", secret: "fresh-secret" };

Deno.test("unknown node cache: a node stored after a miss works at once", async () => {
  const { clock, devices, store, publish, wns, inner } = setup();
  assert.equal((await devices.setChannelUri(DEVICE, CHANNEL, 2)).ok, true);
  assert.deepEqual(await publish(ACCOUNT.node), { kind: "unknown-node" });
  assert.deepEqual(await publish(ACCOUNT.node), { kind: "unknown-node" });
  assert.equal(inner.lookups, 1, "the second miss came from the cache");
  // What set_push_accounts does once it minted the node.
  await store.replaceAccounts(DEVICE, [ACCOUNT], clock.now() + 60_000);
  assert.deepEqual(await publish(ACCOUNT.node, ACCOUNT.secret), { kind: "pushed" });
  assert.equal(wns.sent.length, 1);
});

Deno.test("unknown node cache: set_push_accounts' new nodes work at once", async () => {
  const { devices, publish, wns } = setup();
  assert.equal((await devices.setChannelUri(DEVICE, CHANNEL, 2)).ok, true);
  const registered = await devices.setPushAccounts(DEVICE, ["acc1", "acc2"]);
  assert.ok(registered.ok);
  for (const { node, secret } of registered.value.accounts) {
    assert.deepEqual(await publish(node, secret), { kind: "pushed" });
  }
  assert.equal(wns.sent.length, 2);
});

Deno.test("unknown node cache: a miss read before a write finished is not remembered", async () => {
  const { clock, devices, store, publish, inner } = setup();
  assert.equal((await devices.setChannelUri(DEVICE, CHANNEL, 2)).ok, true);
  let release!: () => void;
  inner.hold = new Promise((resolve) => release = resolve);
  const stale = publish(ACCOUNT.node, ACCOUNT.secret);
  await new Promise((resolve) => setTimeout(resolve, 0));
  await store.replaceAccounts(DEVICE, [ACCOUNT], clock.now() + 60_000);
  inner.hold = null;
  release();
  assert.deepEqual(await stale, { kind: "unknown-node" }, "it read before the write");
  assert.deepEqual(await publish(ACCOUNT.node, ACCOUNT.secret), { kind: "pushed" });
});

Deno.test("unknown node cache: bounded; a TTL of 0 turns it off", async () => {
  const { cache, publish, wns } = setup();
  for (let i = 0; i < 1000; i++) await publish(`random-${i}`);
  assert.equal(cache.size, 100);
  assert.equal(wns.sent.length, 0);
  const off = setup(0);
  for (let i = 0; i < 10; i++) await off.publish("nope");
  assert.equal(off.inner.lookups, 10);
  assert.equal(off.cache.size, 0);
});

Deno.test("unknown node cache: every other store method is forwarded", async () => {
  const { store, inner, clock } = setup();
  await store.saveTarget(DEVICE, wnsTarget(CHANNEL), 2, clock.now() + 1000);
  assert.equal((await inner.findDevice(DEVICE, clock.now()))?.target?.address, CHANNEL);
  assert.deepEqual(totalsOf(await store.count(clock.now())), { devices: 1, accounts: 0 });
  await store.forgetChannel(DEVICE, CHANNEL, clock.now() + 500);
  await store.renew(DEVICE, CHANNEL, clock.now() + 2000);
  const device = await store.findDevice(DEVICE, clock.now());
  assert.deepEqual([device?.target, device?.expiresAt], [null, clock.now() + 500]);
  const typed: RegistrationStore = store;
  await typed.ping();
});
