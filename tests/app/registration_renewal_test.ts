/**
 * Each registration request renews the registration on its own. The real client sends
 * `set_push_accounts` without `set_channel_uri` first when only its account list changed,
 * and `set_channel_uri` alone when only its channel changed (uwpx-client.md, lifecycle): each
 * alone must keep the device alive past the point where it would otherwise have expired.
 * The lifetime is read from what the server stored at the first registration, not assumed
 * (it is a configurable domain policy).
 *
 * @module
 */

import { wnsDelivery } from "../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { SqliteStore } from "../../adapters/storage/sqlite/sqlite_store.ts";
import { MemoryWnsSender } from "../../adapters/push/wns/memory_wns_sender.ts";
import { DEFAULT_CHANNEL_URI_PATTERN } from "../../app/config.ts";
import { DeviceService } from "../../app/use_cases/device_service.ts";
import { PushService } from "../../app/use_cases/push_service.ts";
import type { RegistrationStore } from "../../domain/ports/storage.ts";
import { FakeClock, seededRandom } from "../support/fakes.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

const DEVICE = "5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b";
const CHANNEL = "https://db5p.notify.windows.com/?token=renewal";
const ACC_A = "dadbbb9327c711e4b626f7820fb299871d23d6020683bbd1e08d37e0246c7e90";
const ACC_B = "16ecab1875791e2b6ed0c9a6dae5a12a79d92120e1c3afbd3a9c8535ce44666d";
/** How close to its expiry the device renews, and how far past it the test looks. */
const MARGIN_MS = 60_000;

const STORES: Record<string, (clock: FakeClock) => RegistrationStore> = {
  memory: (clock) => new MemoryStore(clock),
  sqlite: (clock) => SqliteStore.open(":memory:", { clock }),
};

/** A device registered the way the real client does it the first time: channel, then accounts. */
async function registeredDevice(makeStore: (clock: FakeClock) => RegistrationStore) {
  const clock = new FakeClock();
  const store = makeStore(clock);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const devices = new DeviceService({
    store,
    ...wnsDelivery(wns),
    provisioner: { provision: (added) => Promise.resolve(new Set(added)) },
    clock,
    random: seededRandom(3),
    logger,
    channelUriPattern: new RegExp(DEFAULT_CHANNEL_URI_PATTERN),
    pushBareJid: "push.example.org",
  });
  const pushes = new PushService({ store, ...wnsDelivery(wns), clock, logger });
  assert.equal((await devices.setChannelUri(DEVICE, CHANNEL, 2)).ok, true);
  const answer = await devices.setPushAccounts(DEVICE, [ACC_A]);
  assert.ok(answer.ok);
  const [account] = answer.value.accounts;
  const registeredAt = clock.now();
  const stored = await store.findDevice(DEVICE, registeredAt);
  assert.ok(stored !== null);
  /** How long a registration lives after a request, as the server applies it. */
  const lifetimeMs = stored.expiresAt - registeredAt;
  assert.ok(lifetimeMs > 2 * MARGIN_MS, `lifetime ${lifetimeMs} ms`);
  /** Publishes to the account's node as its XMPP server would. */
  const publish = () =>
    pushes.handlePublish({
      node: account.node,
      secret: account.secret,
      summary: new Map([["message-count", "1"]]),
    });
  return {
    clock,
    store,
    devices,
    publish,
    lifetimeMs,
    [Symbol.asyncDispose]: () => store.close(),
  };
}

for (const [storeName, makeStore] of Object.entries(STORES)) {
  Deno.test(`renewal (${storeName}): without a request the registration ends at its lifetime`, async () => {
    await using ctx = await registeredDevice(makeStore);
    ctx.clock.advance(ctx.lifetimeMs - MARGIN_MS);
    // Looked up, not published to: a push may renew the registration itself.
    assert.notEqual(await ctx.store.findDevice(DEVICE, ctx.clock.now()), null, "alive just before");
    ctx.clock.advance(2 * MARGIN_MS);
    assert.deepEqual(await ctx.publish(), { kind: "unknown-node" }, "gone just after");
  });

  const requests: Record<
    string,
    (ctx: Awaited<ReturnType<typeof registeredDevice>>) => Promise<boolean>
  > = {
    // The account list changed (one added): the client sends set_push_accounts alone.
    "set_push_accounts alone": async (ctx) =>
      (await ctx.devices.setPushAccounts(DEVICE, [ACC_A, ACC_B])).ok,
    // The client re-sends an unchanged list only after reinstalling; it must renew too.
    "set_push_accounts alone, same list": async (ctx) =>
      (await ctx.devices.setPushAccounts(DEVICE, [ACC_A])).ok,
    // The channel changed (at least monthly): the client sends set_channel_uri alone.
    "set_channel_uri alone": async (ctx) =>
      (await ctx.devices.setChannelUri(DEVICE, "https://db5p.notify.windows.com/?token=new", 2)).ok,
  };
  for (const [what, renew] of Object.entries(requests)) {
    Deno.test(`renewal (${storeName}): ${what} keeps the registration past its old expiry`, async () => {
      await using ctx = await registeredDevice(makeStore);
      ctx.clock.advance(ctx.lifetimeMs - MARGIN_MS);
      assert.equal(await renew(ctx), true);
      ctx.clock.advance(2 * MARGIN_MS);
      assert.deepEqual(await ctx.publish(), { kind: "pushed" }, "the account still pushes");
      const device = await ctx.store.findDevice(DEVICE, ctx.clock.now());
      assert.ok(device !== null, "the device is still registered");
      assert.ok(device.accounts.some((a) => a.accountId === ACC_A));
    });
  }
}
