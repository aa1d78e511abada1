import { wnsDelivery, wnsTarget } from "../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../../adapters/push/wns/memory_wns_sender.ts";
import { MemoryXmppLink } from "../../../adapters/xmpp/memory_link.ts";
import { NS_DISCO_INFO } from "../../../adapters/xmpp/publish_iq.ts";
import { NS_DATA, NS_PUBSUB, NS_PUSH } from "../../../adapters/xmpp/publish_parser.ts";
import { PushService } from "../../../app/use_cases/push_service.ts";
import { StorageUnavailableError } from "../../../domain/ports/storage.ts";
import type { XmppLink } from "../../../domain/ports/xmpp_link.ts";
import { FakeClock } from "../../support/fakes.ts";
import { fixtureStanza } from "../../support/parse_xml.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const CHANNEL = "https://db5p.notify.windows.com/?token=chan1";
const OPTIONS_FORM = "http://jabber.org/protocol/pubsub#publish-options";

/** A push service with one device and one account (node "node123", secret "sekrit"). */
async function setup() {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const service = new PushService({ store, ...wnsDelivery(wns), clock, logger });
  const link = new MemoryXmppLink("push.localhost", (r) => service.handlePublish(r), logger);
  const expiresAt = clock.now() + 60_000;
  await store.saveTarget("dev1", wnsTarget(CHANNEL), 2, expiresAt);
  await store.replaceAccounts("dev1", [
    { accountId: "ACC1", node: "node123", secret: "sekrit" },
  ], expiresAt);
  return { clock, store, wns, logger, link };
}

function publishIq(node: string, secret: string | null, id = "p1"): Element {
  return xml(
    "iq",
    { type: "set", from: "localhost", to: "push.localhost", id },
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
              { xmlns: NS_DATA, type: "submit" },
              xml("field", { var: "FORM_TYPE" }, xml("value", {}, "urn:xmpp:push:summary")),
              xml("field", { var: "message-count" }, xml("value", {}, "3")),
              xml("field", { var: "last-message-body" }, xml("value", {}, "hello there")),
            ),
          ),
        ),
      ),
      secret === null ? null : xml(
        "publish-options",
        {},
        xml(
          "x",
          { xmlns: NS_DATA, type: "submit" },
          xml("field", { var: "FORM_TYPE" }, xml("value", {}, OPTIONS_FORM)),
          xml("field", { var: "secret" }, xml("value", {}, secret)),
        ),
      ),
    ),
  );
}

/** The error of an error IQ as the user's server reads it: type and condition. */
function errorOf(answer: Element): { type: string; condition: string } {
  assert.equal(answer.attrs.type, "error", answer.toString());
  const error = answer.getChild("error");
  assert.ok(error, answer.toString());
  const condition = error.getChildElements().find((c: Element) =>
    c.getNS() === NS_STANZAS && c.name !== "text"
  );
  return { type: error.attrs.type, condition: condition?.name };
}

Deno.test("MemoryXmppLink: a good publish (Prosody's stanza) gets a result IQ and one push", async () => {
  const { link, wns } = await setup();
  const iq = fixtureStanza("prosody-0.12-component-publish.xml");
  const answer = await link.receive(iq);
  assert.equal(answer.name, "iq");
  assert.equal(answer.attrs.type, "result");
  assert.equal(answer.attrs.id, iq.attrs.id);
  assert.equal(answer.attrs.from, "push.localhost");
  assert.equal(answer.attrs.to, "localhost");
  assert.equal(answer.getChild("error"), undefined);
  assert.deepEqual(wns.sent, [{
    channelUri: CHANNEL,
    payload:
      '{"version":2,"action":"push","account_id":"ACC1","message_count":1,"pending_subscription_count":0}',
    options: { cache: true, ttlSeconds: 86_400 },
  }]);
});

Deno.test("MemoryXmppLink: ejabberd's stanza (no message-count) pushes a count of 1", async () => {
  const { link, wns } = await setup();
  const answer = await link.receive(fixtureStanza("ejabberd-23.01-component-publish.xml"));
  assert.equal(answer.attrs.type, "result");
  assert.equal(wns.sent.length, 1);
  assert.equal(JSON.parse(wns.sent[0].payload).message_count, 1);
});

Deno.test("MemoryXmppLink: the push never carries the body", async () => {
  const { link, wns, logger } = await setup();
  const answer = await link.receive(publishIq("node123", "sekrit"));
  assert.equal(answer.attrs.type, "result");
  assert.equal(wns.sent.length, 1);
  assert.equal(JSON.parse(wns.sent[0].payload).message_count, 3);
  assert.ok(!wns.sent[0].payload.includes("hello"));
  assert.ok(!logger.text().includes("hello there"));
  assert.ok(!logger.text().includes("sekrit"));
});

Deno.test("MemoryXmppLink: unknown node -> cancel/item-not-found, nothing sent", async () => {
  const { link, wns } = await setup();
  const answer = await link.receive(publishIq("no-such-node", "sekrit", "u1"));
  assert.deepEqual(errorOf(answer), { type: "cancel", condition: "item-not-found" });
  assert.equal(answer.attrs.id, "u1");
  assert.equal(wns.sent.length, 0);
});

Deno.test("MemoryXmppLink: wrong or missing secret -> auth/forbidden, nothing sent", async () => {
  const { link, wns } = await setup();
  for (const secret of ["wrong", "", null]) {
    const answer = await link.receive(publishIq("node123", secret));
    assert.deepEqual(errorOf(answer), { type: "auth", condition: "forbidden" }, String(secret));
  }
  assert.equal(wns.sent.length, 0);
});

Deno.test("MemoryXmppLink: malformed publish -> modify/bad-request", async () => {
  const { link, wns } = await setup();
  const iq = xml(
    "iq",
    { type: "set", from: "localhost", to: "push.localhost", id: "m1" },
    xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", {}, xml("item"))),
  );
  assert.deepEqual(errorOf(await link.receive(iq)), { type: "modify", condition: "bad-request" });
  assert.equal(wns.sent.length, 0);
});

Deno.test("MemoryXmppLink: WNS failure -> a wait error, never item-not-found", async () => {
  const { link, wns, store, clock } = await setup();
  for (const retryable of [true, false]) {
    wns.setOutcome(CHANNEL, { kind: "failed", retryable, status: 500, detail: "oops" });
    const answer = await link.receive(publishIq("node123", "sekrit"));
    assert.equal(errorOf(answer).type, "wait");
    assert.notEqual(errorOf(answer).condition, "item-not-found");
  }
  // The registration is untouched.
  assert.equal((await store.findNode("node123", clock.now()))?.target?.address, CHANNEL);
});

Deno.test("MemoryXmppLink: channel gone -> wait/recipient-unavailable, the node kept", async () => {
  const { link, wns, store, clock } = await setup();
  wns.setOutcome(CHANNEL, { kind: "channel-gone", status: 410 });
  const first = await link.receive(publishIq("node123", "sekrit"));
  assert.deepEqual(errorOf(first), { type: "wait", condition: "recipient-unavailable" });
  const target = await store.findNode("node123", clock.now());
  assert.equal(target?.target, null, "the channel is forgotten; the node is not");
  // Later publishes wait too, without asking WNS again.
  const second = await link.receive(publishIq("node123", "sekrit"));
  assert.deepEqual(errorOf(second), { type: "wait", condition: "recipient-unavailable" });
  assert.equal(wns.sent.length, 1);
});

Deno.test("MemoryXmppLink: storage down -> a wait error", async () => {
  const logger = new RecordingLogger();
  const store = new MemoryStore();
  store.findNode = () => Promise.reject(new StorageUnavailableError("redis down"));
  const wns = new MemoryWnsSender();
  const service = new PushService({ store, ...wnsDelivery(wns), clock: new FakeClock(), logger });
  const link = new MemoryXmppLink("push.localhost", (r) => service.handlePublish(r), logger);
  const answer = await link.receive(publishIq("node123", "sekrit"));
  assert.equal(errorOf(answer).type, "wait");
  assert.equal(wns.sent.length, 0);
});

Deno.test("MemoryXmppLink: disco#info names an XEP-0357 app server", async () => {
  const { link } = await setup();
  const answer = await link.receive(xml(
    "iq",
    { type: "get", from: "user@localhost/res", to: "push.localhost", id: "d1" },
    xml("query", { xmlns: NS_DISCO_INFO }),
  ));
  assert.equal(answer.attrs.type, "result");
  assert.equal(answer.attrs.id, "d1");
  assert.equal(answer.attrs.to, "user@localhost/res");
  const query = answer.getChild("query", NS_DISCO_INFO);
  assert.ok(query);
  const features = query.getChildren("feature").map((f: Element) => f.attrs.var);
  assert.ok(features.includes("urn:xmpp:push:0"), features.join());
  const identity = query.getChild("identity");
  assert.equal(identity?.attrs.category, "pubsub");
  assert.equal(identity?.attrs.type, "push");
});

Deno.test("MemoryXmppLink: any other IQ -> cancel/service-unavailable", async () => {
  const { link, wns } = await setup();
  const iqs = [
    xml(
      "iq",
      { type: "get", id: "v1", from: "a@b", to: "push.localhost" },
      xml("vCard", {
        xmlns: "vcard-temp",
      }),
    ),
    // disco#info as a set, a pubsub get, a pubsub in another namespace, an empty IQ.
    xml("iq", { type: "set", id: "v2", from: "a@b" }, xml("query", { xmlns: NS_DISCO_INFO })),
    xml("iq", { type: "get", id: "v3", from: "a@b" }, xml("pubsub", { xmlns: NS_PUBSUB })),
    xml("iq", { type: "set", id: "v4", from: "a@b" }, xml("pubsub", { xmlns: "urn:other" })),
    xml("iq", { type: "get", id: "v5", from: "a@b" }),
  ];
  for (const iq of iqs) {
    const answer = await link.receive(iq);
    assert.deepEqual(errorOf(answer), { type: "cancel", condition: "service-unavailable" });
    assert.equal(answer.attrs.id, iq.attrs.id);
  }
  assert.equal(wns.sent.length, 0);
});

Deno.test("MemoryXmppLink: the XmppLink port, up from the start, nothing to connect or close", async () => {
  const { link } = await setup();
  const port: XmppLink = link;
  assert.equal(port.online, true);
  port.start();
  await port.whenOnline();
  await port.stop(100);
  assert.equal(port.pushBareJid, "push.localhost");
});
