import assert from "node:assert/strict";
import { xml } from "@xmpp/component";
import type { Element } from "@xmpp/xml";
import {
  NS_DATA,
  NS_PUBSUB,
  NS_PUSH,
  parsePublish,
  summaryOf,
} from "../../../adapters/xmpp/publish_parser.ts";
import { fixtureStanza, parseXml } from "../../support/parse_xml.ts";

const OPTIONS_FORM = "http://jabber.org/protocol/pubsub#publish-options";
const SUMMARY_FORM = "urn:xmpp:push:summary";

const pubsubOf = (iq: Element): Element => {
  const pubsub = iq.getChild("pubsub", NS_PUBSUB);
  assert.ok(pubsub, "the fixture has a pubsub child");
  return pubsub;
};

/** A field of a data form; `values` null for a field without value. */
const field = (name: string, ...values: string[]) =>
  xml("field", { var: name }, ...values.map((v) => xml("value", {}, v)));

/** Builds a publish `<pubsub>` like a user's server would, with the parts tests vary. */
function publishElement(parts: {
  node?: string | null;
  summary?: Element[] | null;
  summaryNs?: string;
  notificationNs?: string;
  options?: Element[] | null;
  optionsNs?: string;
}): Element {
  const {
    node = "node123",
    summary = [field("FORM_TYPE", SUMMARY_FORM), field("message-count", "2")],
    summaryNs = NS_DATA,
    notificationNs = NS_PUSH,
    options = [field("FORM_TYPE", OPTIONS_FORM), field("secret", "sekrit")],
    optionsNs = NS_DATA,
  } = parts;
  return xml(
    "pubsub",
    { xmlns: NS_PUBSUB },
    xml(
      "publish",
      node === null ? {} : { node },
      xml(
        "item",
        {},
        xml(
          "notification",
          { xmlns: notificationNs },
          summary === null ? null : xml("x", { xmlns: summaryNs, type: "submit" }, ...summary),
        ),
      ),
    ),
    options === null
      ? null
      : xml("publish-options", {}, xml("x", { xmlns: optionsNs, type: "submit" }, ...options)),
  );
}

const okRequest = (pubsub: Element) => {
  const parsed = parsePublish(pubsub);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.reason);
  return parsed.request;
};

Deno.test("parsePublish: Prosody 0.12's publish", () => {
  const request = okRequest(pubsubOf(fixtureStanza("prosody-0.12-component-publish.xml")));
  assert.equal(request.node, "node123");
  assert.equal(request.secret, "sekrit");
  assert.deepEqual(
    request.summary,
    new Map([
      ["FORM_TYPE", SUMMARY_FORM],
      ["message-count", "1"],
      ["pending-subscription-count", ""],
      ["last-message-sender", ""],
      ["last-message-body", "New Message!"],
    ]),
  );
});

Deno.test("parsePublish: ejabberd 23.01's publish (no message-count)", () => {
  const request = okRequest(pubsubOf(fixtureStanza("ejabberd-23.01-component-publish.xml")));
  assert.equal(request.node, "node123");
  assert.equal(request.secret, "sekrit");
  assert.deepEqual(
    request.summary,
    new Map([["FORM_TYPE", SUMMARY_FORM], ["last-message-body", "New message"]]),
  );
});

Deno.test("summaryOf: Prosody's client-mode PEP event carries the summary", () => {
  const message = fixtureStanza("prosody-0.12-pep-event-client-mode.xml");
  const notification = message
    .getChild("event", "http://jabber.org/protocol/pubsub#event")
    ?.getChild("items")?.getChild("item")?.getChild("notification", NS_PUSH);
  assert.ok(notification);
  const summary = summaryOf(notification);
  assert.equal(summary?.get("message-count"), "1");
  assert.equal(summary?.get("last-message-body"), "New Message!");
  assert.equal(summary?.get("pending-subscription-count"), "");
});

Deno.test("summaryOf: the push account's own node-creating event has no summary", () => {
  const message = fixtureStanza("prosody-0.12-pep-event-own-create.xml");
  const notification = message
    .getChild("event", "http://jabber.org/protocol/pubsub#event")
    ?.getChild("items")?.getChild("item")?.getChild("notification", NS_PUSH);
  assert.ok(notification);
  assert.equal(summaryOf(notification), null);
});

Deno.test("parsePublish: a publish without a form is valid, summary null", () => {
  const request = okRequest(publishElement({ summary: null }));
  assert.equal(request.summary, null);
  assert.equal(request.secret, "sekrit");
});

Deno.test("parsePublish: no publish element", () => {
  const parsed = parsePublish(xml("pubsub", { xmlns: NS_PUBSUB }, xml("items", { node: "n" })));
  assert.deepEqual(parsed, { ok: false, reason: "no publish node" });
});

Deno.test("parsePublish: publish without a node, or with an empty one", () => {
  assert.deepEqual(parsePublish(publishElement({ node: null })), {
    ok: false,
    reason: "no publish node",
  });
  assert.deepEqual(parsePublish(publishElement({ node: "" })), {
    ok: false,
    reason: "no publish node",
  });
});

Deno.test("parsePublish: no notification in the item", () => {
  const pubsub = xml(
    "pubsub",
    { xmlns: NS_PUBSUB },
    xml("publish", { node: "n" }, xml("item", {}, xml("entry", { xmlns: "urn:other" }))),
  );
  assert.deepEqual(parsePublish(pubsub), { ok: false, reason: "no push notification in the item" });
  const noItem = xml("pubsub", { xmlns: NS_PUBSUB }, xml("publish", { node: "n" }));
  assert.deepEqual(parsePublish(noItem), { ok: false, reason: "no push notification in the item" });
});

Deno.test("parsePublish: a notification in the wrong namespace is no notification", () => {
  const parsed = parsePublish(publishElement({ notificationNs: "urn:xmpp:push:1" }));
  assert.deepEqual(parsed, { ok: false, reason: "no push notification in the item" });
});

Deno.test("parsePublish: a summary form in the wrong namespace or of another type is ignored", () => {
  assert.equal(okRequest(publishElement({ summaryNs: "jabber:x:oob" })).summary, null);
  const otherType = okRequest(publishElement({
    summary: [field("FORM_TYPE", "urn:example:other"), field("message-count", "5")],
  }));
  assert.equal(otherType.summary, null);
  const noType = okRequest(publishElement({ summary: [field("message-count", "5")] }));
  assert.equal(noType.summary, null);
});

Deno.test("parsePublish: publish-options of another FORM_TYPE give secret null", () => {
  const request = okRequest(publishElement({
    options: [field("FORM_TYPE", "urn:example:not-publish-options"), field("secret", "sekrit")],
  }));
  assert.equal(request.secret, null);
  const noFormType = okRequest(publishElement({ options: [field("secret", "sekrit")] }));
  assert.equal(noFormType.secret, null);
});

Deno.test("parsePublish: publish-options in the wrong namespace or absent give secret null", () => {
  assert.equal(okRequest(publishElement({ optionsNs: "urn:example" })).secret, null);
  assert.equal(okRequest(publishElement({ options: null })).secret, null);
  const noSecretField = okRequest(publishElement({ options: [field("FORM_TYPE", OPTIONS_FORM)] }));
  assert.equal(noSecretField.secret, null);
});

Deno.test("parsePublish: a secret field without value is an empty secret, not a missing one", () => {
  const request = okRequest(publishElement({
    options: [field("FORM_TYPE", OPTIONS_FORM), field("secret")],
  }));
  assert.equal(request.secret, "");
});

Deno.test("parsePublish: duplicate fields: the first one counts", () => {
  const request = okRequest(publishElement({
    summary: [
      field("FORM_TYPE", SUMMARY_FORM),
      field("message-count", "3"),
      field("message-count", "900"),
    ],
    options: [
      field("FORM_TYPE", OPTIONS_FORM),
      field("secret", "first"),
      field("secret", "second"),
    ],
  }));
  assert.equal(request.summary?.get("message-count"), "3");
  assert.equal(request.secret, "first");
  // A second FORM_TYPE cannot turn another form into publish-options either.
  const sneaky = okRequest(publishElement({
    options: [
      field("FORM_TYPE", "urn:example"),
      field("FORM_TYPE", OPTIONS_FORM),
      field("secret", "x"),
    ],
  }));
  assert.equal(sneaky.secret, null);
});

Deno.test("parsePublish: very long field values are dropped", () => {
  const long = "9".repeat(100_000);
  const request = okRequest(publishElement({
    summary: [
      field("FORM_TYPE", SUMMARY_FORM),
      field("message-count", long),
      field("last-message-body", "b".repeat(2000)),
    ],
    options: [field("FORM_TYPE", OPTIONS_FORM), field("secret", "s".repeat(5000))],
  }));
  assert.equal(request.summary?.has("message-count"), false);
  assert.equal(request.summary?.has("last-message-body"), false);
  assert.equal(request.secret, null);
  // Values up to the limit are kept.
  const edge = okRequest(publishElement({
    options: [field("FORM_TYPE", OPTIONS_FORM), field("secret", "s".repeat(1024))],
  }));
  assert.equal(edge.secret, "s".repeat(1024));
});

Deno.test("parsePublish: fields without a var are skipped", () => {
  const request = okRequest(publishElement({
    summary: [
      field("FORM_TYPE", SUMMARY_FORM),
      xml("field", {}, xml("value", {}, "7")),
      field("message-count", "2"),
    ],
  }));
  assert.deepEqual(
    request.summary,
    new Map([["FORM_TYPE", SUMMARY_FORM], ["message-count", "2"]]),
  );
});

Deno.test("parsePublish: namespaces declared by prefix-free XML text are honoured", () => {
  const pubsub = parseXml(
    `<pubsub xmlns="${NS_PUBSUB}"><publish node="abc"><item>` +
      `<notification xmlns="${NS_PUSH}"/></item></publish>` +
      `<publish-options><x xmlns="${NS_DATA}" type="submit">` +
      `<field var="FORM_TYPE"><value>${OPTIONS_FORM}</value></field>` +
      `<field var="secret"><value>a&amp;b&lt;c</value></field></x></publish-options></pubsub>`,
  );
  assert.deepEqual(okRequest(pubsub), {
    node: "abc",
    secret: "a&b<c",
    summary: null,
    publishOptions: [["FORM_TYPE", OPTIONS_FORM], ["secret", "a&b<c"]],
  });
});

Deno.test("parsePublish: publish-options are kept in order for the stateless dialect (Monal)", () => {
  const pubsub = parseXml(
    `<pubsub xmlns="${NS_PUBSUB}"><publish node="abc"><item>` +
      `<notification xmlns="${NS_PUSH}"/></item></publish>` +
      `<publish-options><x xmlns="${NS_DATA}" type="submit">` +
      `<field var="FORM_TYPE"><value>${OPTIONS_FORM}</value></field>` +
      `<field var="pushModule"><value>monalProdiOS</value></field>` +
      `<field var="secret"><value>s</value></field></x></publish-options></pubsub>`,
  );
  const request = okRequest(pubsub);
  assert.deepEqual(request.publishOptions, [
    ["FORM_TYPE", OPTIONS_FORM],
    ["pushModule", "monalProdiOS"],
    ["secret", "s"],
  ]);
  assert.equal(request.secret, "s");
  const bare = parseXml(
    `<pubsub xmlns="${NS_PUBSUB}"><publish node="abc"><item>` +
      `<notification xmlns="${NS_PUSH}"/></item></publish></pubsub>`,
  );
  assert.equal(okRequest(bare).publishOptions, undefined);
});

Deno.test("parsePublish: a PubSub event is not a publish", () => {
  for (
    const name of [
      "prosody-0.12-pep-event-client-mode.xml",
      "prosody-0.12-pep-event-own-create.xml",
    ]
  ) {
    const event = fixtureStanza(name).getChild("event", "http://jabber.org/protocol/pubsub#event");
    assert.ok(event, name);
    assert.deepEqual(parsePublish(event), { ok: false, reason: "no publish node" }, name);
  }
});
