import assert from "node:assert/strict";
import {
  NODE_SETUP_ITEM_ID,
  nodeForLog,
  parsePepEvent,
  type PepEvent,
} from "../../../adapters/xmpp/pep_event.ts";
import { fixtureStanza, parseXml } from "../../support/parse_xml.ts";

const OWN = "pushsvc@localhost";

/** A PubSub event message with `items` as the content of `<items node='n1'>`. */
function event(items: string, attrs = `from='${OWN}' to='${OWN}' type='headline'`) {
  return parseXml(
    `<message ${attrs}><event xmlns='http://jabber.org/protocol/pubsub#event'>` +
      `<items node='n1'>${items}</items></event></message>`,
  );
}

const NOTIFICATION = "<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' " +
  "type='form'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>" +
  "<field var='message-count'><value>3</value></field></x></notification>";

function publishOf(result: PepEvent) {
  assert.equal(result.kind, "publish", JSON.stringify(result));
  if (result.kind !== "publish") throw new Error("unreachable");
  return result.request;
}

Deno.test("parsePepEvent: Prosody's client-mode event becomes a pep-event publish", () => {
  const request = publishOf(
    parsePepEvent(fixtureStanza("prosody-0.12-pep-event-client-mode.xml"), OWN),
  );
  assert.equal(request.node, "nodeX1795538398600");
  assert.equal(request.secret, null);
  assert.equal(request.origin, "pep-event");
  assert.equal(request.summary?.get("message-count"), "1");
  assert.equal(request.summary?.get("last-message-body"), "New Message!");
});

Deno.test("parsePepEvent: the event of the account's own node-creating publish is ignored", () => {
  assert.deepEqual(
    parsePepEvent(fixtureStanza("prosody-0.12-pep-event-own-create.xml"), OWN),
    {
      kind: "ignored",
      reason: "published by the push account itself",
      node: "nodeX1795538398600",
    },
  );
});

Deno.test("parsePepEvent: own items are recognised by publisher (any resource, any case)", () => {
  for (const publisher of [OWN, `${OWN}/uwpx-push`, "PushSvc@LocalHost"]) {
    const result = parsePepEvent(
      event(`<item publisher='${publisher}'>${NOTIFICATION}</item>`),
      OWN,
    );
    assert.equal(result.kind, "ignored", publisher);
  }
});

Deno.test("parsePepEvent: the setup item is ignored even without a publisher", () => {
  const result = parsePepEvent(
    event(`<item id='${NODE_SETUP_ITEM_ID}'>${NOTIFICATION}</item>`),
    OWN,
  );
  assert.equal(result.kind, "ignored");
});

Deno.test("parsePepEvent: an item without publisher from someone else's publish counts", () => {
  const request = publishOf(parsePepEvent(event(`<item id='abc'>${NOTIFICATION}</item>`), OWN));
  assert.equal(request.summary?.get("message-count"), "3");
});

Deno.test("parsePepEvent: a notification without a form is still a push", () => {
  const request = publishOf(
    parsePepEvent(
      event("<item publisher='example.org'><notification xmlns='urn:xmpp:push:0'/></item>"),
      OWN,
    ),
  );
  assert.equal(request.summary, null);
});

Deno.test("parsePepEvent: of several items the newest foreign one counts, once", () => {
  const result = parsePepEvent(
    event(
      `<item publisher='${OWN}'><notification xmlns='urn:xmpp:push:0'/></item>` +
        `<item publisher='a.example'>${NOTIFICATION}</item>` +
        "<item publisher='b.example'><notification xmlns='urn:xmpp:push:0'/></item>",
    ),
    OWN,
  );
  assert.equal(publishOf(result).summary, null);
});

Deno.test("parsePepEvent: events from anyone but the account's own PEP service are ignored", () => {
  for (
    const attrs of [
      `from='mallory@localhost' to='${OWN}'`,
      `from='localhost' to='${OWN}'`,
      `to='${OWN}'`,
    ]
  ) {
    const result = parsePepEvent(event(`<item>${NOTIFICATION}</item>`, attrs), OWN);
    assert.deepEqual(result, {
      kind: "ignored",
      reason: "not from the push account's PEP service",
    }, attrs);
  }
});

Deno.test("parsePepEvent: other PubSub events and other messages", () => {
  const pubsubEvent = (inner: string) =>
    parseXml(
      `<message from='${OWN}'><event xmlns='http://jabber.org/protocol/pubsub#event'>` +
        `${inner}</event></message>`,
    );
  assert.equal(parsePepEvent(pubsubEvent("<delete node='n1'/>"), OWN).kind, "ignored");
  assert.equal(parsePepEvent(pubsubEvent("<purge node='n1'/>"), OWN).kind, "ignored");
  assert.equal(parsePepEvent(pubsubEvent("<items><item/></items>"), OWN).kind, "ignored");
  assert.deepEqual(
    parsePepEvent(pubsubEvent("<items node='n1'><retract id='x'/></items>"), OWN),
    { kind: "ignored", reason: "no push notification", node: "n1" },
  );
  assert.deepEqual(
    parsePepEvent(event("<item><entry xmlns='http://www.w3.org/2005/Atom'/></item>"), OWN),
    { kind: "ignored", reason: "no push notification", node: "n1" },
  );
  assert.equal(
    parsePepEvent(event(`<item>${NOTIFICATION}</item>`, `from='${OWN}' type='error'`), OWN).kind,
    "ignored",
  );
  assert.deepEqual(
    parsePepEvent(parseXml(`<message from='${OWN}'><body>hi</body></message>`), OWN),
    { kind: "not-an-event" },
  );
});

Deno.test("nodeForLog: never a whole node name", () => {
  assert.equal(nodeForLog("0123456789abcdef"), "01234567…");
  assert.equal(nodeForLog("short"), "short");
});
