/**
 * The whole server without sockets: a device registers through the device use cases, the
 * user's XMPP server publishes through the in-memory XMPP link, and WNS is recorded.
 */

import { wnsDelivery } from "../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../adapters/push/wns/memory_wns_sender.ts";
import { MemoryXmppLink } from "../../adapters/xmpp/memory_link.ts";
import { NS_DATA, NS_PUBSUB, NS_PUSH } from "../../adapters/xmpp/publish_parser.ts";
import { DEFAULT_CHANNEL_URI_PATTERN } from "../../app/config.ts";
import { DeviceService } from "../../app/use_cases/device_service.ts";
import { PushService } from "../../app/use_cases/push_service.ts";
import { DEFAULT_REGISTRATION_POLICY } from "../../domain/registration.ts";

const LIFETIME_MS = DEFAULT_REGISTRATION_POLICY.lifetimeMs;
import { FakeClock, seededRandom } from "../support/fakes.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

const DEVICE = "5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b";
const CHANNEL = "https://db5p.notify.windows.com/?token=AwYAAAD8sampleToken%2bValue";
const ACC_A = "dadbbb9327c711e4b626f7820fb299871d23d6020683bbd1e08d37e0246c7e90";
const ACC_B = "16ecab1875791e2b6ed0c9a6dae5a12a79d92120e1c3afbd3a9c8535ce44666d";
const PUSH_JID = "push.example.org";
const DAY = 24 * 60 * 60 * 1000;

function server(seed: number) {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const devices = new DeviceService({
    store,
    ...wnsDelivery(wns),
    provisioner: { provision: (added) => Promise.resolve(new Set(added)) },
    clock,
    random: seededRandom(seed),
    logger,
    channelUriPattern: new RegExp(DEFAULT_CHANNEL_URI_PATTERN),
    pushBareJid: PUSH_JID,
  });
  const pushes = new PushService({ store, ...wnsDelivery(wns), clock, logger });
  const link = new MemoryXmppLink(PUSH_JID, (request) => pushes.handlePublish(request), logger);
  return { clock, store, wns, logger, devices, link };
}

let ids = 0;

/** What a Prosody-like user's server sends for `node` when a message arrives. */
function publish(node: string, secret: string, fields: Record<string, string>): Element {
  return xml(
    "iq",
    { type: "set", from: "example.org", to: PUSH_JID, id: `pub-${++ids}` },
    xml(
      "pubsub",
      { xmlns: NS_PUBSUB },
      xml(
        "publish",
        { node },
        xml(
          "item",
          {},
          xml(
            "notification",
            { xmlns: NS_PUSH },
            xml(
              "x",
              { xmlns: NS_DATA, type: "form" },
              xml("field", { var: "FORM_TYPE" }, xml("value", {}, "urn:xmpp:push:summary")),
              ...Object.entries(fields).map(([name, value]) =>
                xml("field", { var: name }, value === "" ? null : xml("value", {}, value))
              ),
            ),
          ),
        ),
      ),
      xml(
        "publish-options",
        {},
        xml(
          "x",
          { xmlns: NS_DATA, type: "submit" },
          xml(
            "field",
            { var: "FORM_TYPE" },
            xml("value", {}, "http://jabber.org/protocol/pubsub#publish-options"),
          ),
          xml("field", { var: "secret" }, xml("value", {}, secret)),
        ),
      ),
    ),
  );
}

function condition(answer: Element): string | null {
  if (answer.attrs.type !== "error") return null;
  const error = answer.getChild("error");
  const cond = error.getChildElements().find((c: Element) => c.name !== "text");
  return `${error.attrs.type}/${cond?.name}`;
}

async function register(ctx: ReturnType<typeof server>, accounts: string[]) {
  assert.deepEqual(await ctx.devices.setChannelUri(DEVICE, CHANNEL, 2), {
    ok: true,
    value: undefined,
  });
  const result = await ctx.devices.setPushAccounts(DEVICE, accounts);
  assert.ok(result.ok, result.ok ? "" : result.error);
  assert.equal(result.value.pushBareJid, PUSH_JID);
  assert.deepEqual(result.value.accounts.map((a) => a.accountId), accounts);
  assert.ok(result.value.accounts.every((a) => a.success));
  return result.value.accounts;
}

Deno.test("flow: register, publish to each account, expire after 7 days, register again", async () => {
  const ctx = server(2024);
  const [a, b] = await register(ctx, [ACC_A, ACC_B]);
  assert.notEqual(a.node, b.node);

  // The user's servers publish for each account, with message content the device must not get.
  const answerA = await ctx.link.receive(publish(a.node, a.secret, {
    "message-count": "1",
    "pending-subscription-count": "",
    "last-message-sender": "",
    "last-message-body": "Dinner at eight?",
  }));
  const answerB = await ctx.link.receive(publish(b.node, b.secret, {
    "message-count": "12",
    "pending-subscription-count": "2",
    "last-message-sender": "nurse@capulet.example",
    "last-message-body": "Come quickly",
  }));
  assert.equal(answerA.attrs.type, "result");
  assert.equal(answerB.attrs.type, "result");
  assert.deepEqual(ctx.wns.sent.map((s) => [s.channelUri, JSON.parse(s.payload)]), [
    [CHANNEL, {
      version: 2,
      action: "push",
      account_id: ACC_A,
      message_count: 1,
      pending_subscription_count: 0,
    }],
    [CHANNEL, {
      version: 2,
      action: "push",
      account_id: ACC_B,
      message_count: 12,
      pending_subscription_count: 2,
    }],
  ]);
  const everything = ctx.wns.sent.map((s) => s.payload).join() + ctx.logger.text();
  for (const leak of ["Dinner", "Come quickly", "nurse", a.secret, b.secret]) {
    assert.ok(!everything.includes(leak), `${leak} left the server`);
  }

  // Crossed secrets are refused.
  assert.equal(condition(await ctx.link.receive(publish(a.node, b.secret, {}))), "auth/forbidden");
  assert.equal(ctx.wns.sent.length, 2);

  // A test push works while registered.
  assert.deepEqual(await ctx.devices.requestTestPush(DEVICE), { ok: true, value: undefined });
  assert.equal(ctx.wns.sent.length, 3);

  // 210 days after its last use (the test push does not count) the device is gone.
  ctx.clock.advance(LIFETIME_MS);
  assert.equal(await ctx.store.findDevice(DEVICE, ctx.clock.now()), null);
  for (const account of [a, b]) {
    const answer = await ctx.link.receive(publish(account.node, account.secret, {}));
    assert.equal(condition(answer), "cancel/item-not-found");
  }
  assert.deepEqual(await ctx.devices.requestTestPush(DEVICE), {
    ok: false,
    error: "unknown device: send set_channel_uri first",
  });
  assert.equal(ctx.wns.sent.length, 3);

  // Registering again brings the device back, with fresh nodes; the old ones stay dead.
  const [a2, b2] = await register(ctx, [ACC_A, ACC_B]);
  assert.notEqual(a2.node, a.node);
  assert.notEqual(b2.node, b.node);
  assert.equal(condition(await ctx.link.receive(publish(a2.node, a2.secret, {}))), null);
  assert.equal(condition(await ctx.link.receive(publish(b2.node, b2.secret, {}))), null);
  assert.equal(
    condition(await ctx.link.receive(publish(a.node, a.secret, {}))),
    "cancel/item-not-found",
  );
  assert.equal(ctx.wns.sent.length, 5);
});

Deno.test("flow: registering again before expiry keeps the nodes and extends their life", async () => {
  const ctx = server(7);
  const [a] = await register(ctx, [ACC_A]);
  ctx.clock.advance(200 * DAY);
  const [again] = await register(ctx, [ACC_A]);
  assert.deepEqual(again, a, "same node and secret");
  // 409 days after the first registration, 209 after the second: still alive, and the
  // delivered push renews it.
  ctx.clock.advance(209 * DAY);
  assert.equal(condition(await ctx.link.receive(publish(a.node, a.secret, {}))), null);
  assert.equal(ctx.wns.sent.length, 1);
  ctx.clock.advance(LIFETIME_MS - 1);
  assert.equal(condition(await ctx.link.receive(publish(a.node, a.secret, {}))), null);
  // And it dies 210 days after its last use.
  ctx.clock.advance(LIFETIME_MS);
  assert.equal(
    condition(await ctx.link.receive(publish(a.node, a.secret, {}))),
    "cancel/item-not-found",
  );
});

Deno.test("flow: a new channel alone refreshes the registration", async () => {
  const ctx = server(8);
  const [a] = await register(ctx, [ACC_A]);
  ctx.clock.advance(6 * DAY);
  const moved = "https://wns2-by3p.notify.windows.com/w/?token=moved";
  assert.equal((await ctx.devices.setChannelUri(DEVICE, moved, 2)).ok, true);
  ctx.clock.advance(3 * DAY);
  assert.equal(condition(await ctx.link.receive(publish(a.node, a.secret, {}))), null);
  assert.deepEqual(ctx.wns.sent.map((s) => s.channelUri), [moved]);
});

Deno.test("flow: the same seed gives the same nodes and secrets", async () => {
  const one = await register(server(99), [ACC_A, ACC_B]);
  const two = await register(server(99), [ACC_A, ACC_B]);
  const three = await register(server(100), [ACC_A, ACC_B]);
  assert.deepEqual(one, two);
  assert.notDeepEqual(one, three);
});
