import assert from "node:assert/strict";
import parse from "@xmpp/xml/lib/parse.js";
import type { Element } from "@xmpp/xml";
import { publishIq } from "../../../adapters/xmpp/publish_builder.ts";
import { parsePublish } from "../../../adapters/xmpp/publish_parser.ts";

/** A stanza captured from a real server, in tests/fixtures/xmpp/. */
function fixture(name: string): Element {
  const url = new URL(`../../fixtures/xmpp/${name}`, import.meta.url);
  return parse(Deno.readTextFileSync(url).trim());
}

/** An element as plain data: attribute order drops out, and a mismatch shows as a diff. */
type Tree = { name: string; attrs: Record<string, string>; children: (Tree | string)[] };
function tree(element: Element): Tree {
  return {
    name: element.name,
    attrs: { ...element.attrs },
    children: element.children.map((child: Element | string) =>
      typeof child === "string" ? child : tree(child)
    ),
  };
}

/** Asserts two stanzas are the same XML (attribute order aside). */
function assertSameXml(actual: Element, expected: Element): void {
  assert.deepEqual(tree(actual), tree(expected));
}

Deno.test("the prosody flavour is the stanza Prosody 0.12 sends", () => {
  const captured = fixture("prosody-0.12-component-publish.xml");
  const built = publishIq({
    node: "node123",
    secret: "sekrit",
    summary: { "message-count": "1", "last-message-body": "New Message!" },
    to: "push.localhost",
    flavour: "prosody",
  });
  built.attrs.id = captured.attrs.id;
  assertSameXml(built, captured);
});

Deno.test("the ejabberd flavour is the stanza ejabberd 23.01 sends", () => {
  const captured = fixture("ejabberd-23.01-component-publish.xml");
  const built = publishIq({
    node: "node123",
    secret: "sekrit",
    // ejabberd never sends the counts: message-count must be left out.
    summary: { "message-count": "1", "last-message-body": "New message" },
    to: "push.localhost",
    flavour: "ejabberd",
  });
  built.attrs.id = captured.attrs.id;
  assertSameXml(built, captured);
});

Deno.test("prosody is the default flavour and sends every summary field, empty or not", () => {
  const iq = publishIq({ node: "n", to: "push.example" });
  const form = iq.getChild("pubsub").getChild("publish").getChild("item").getChild("notification")
    .getChild("x", "jabber:x:data");
  assert.equal(form.attrs.type, "form");
  const fields = form.getChildren("field");
  assert.deepEqual(fields.map((f: Element) => f.attrs.var), [
    "FORM_TYPE",
    "message-count",
    "pending-subscription-count",
    "last-message-sender",
    "last-message-body",
  ]);
  assert.deepEqual(fields.slice(1).map((f: Element) => f.children.length), [0, 0, 0, 0]);
  assert.equal(iq.attrs.from, "localhost");
});

Deno.test("without a summary, ejabberd sends an empty notification", () => {
  const iq = publishIq({ node: "n", to: "push.example", summary: null, flavour: "ejabberd" });
  const notification = iq.getChild("pubsub").getChild("publish").getChild("item")
    .getChild("notification", "urn:xmpp:push:0");
  assertSameXml(notification, parse("<notification xmlns='urn:xmpp:push:0'/>"));
});

Deno.test("no secret means no publish-options", () => {
  const iq = publishIq({ node: "n", to: "push.example", from: "example.org" });
  assert.equal(iq.getChild("pubsub").getChild("publish-options"), undefined);
  assert.equal(iq.attrs.from, "example.org");
});

Deno.test("each IQ gets its own id", () => {
  const a = publishIq({ node: "n", to: "push.example" });
  const b = publishIq({ node: "n", to: "push.example" });
  assert.ok(a.attrs.id);
  assert.notEqual(a.attrs.id, b.attrs.id);
});

Deno.test("the server's publish parser reads back what was built", () => {
  for (const flavour of ["prosody", "ejabberd"] as const) {
    const iq = publishIq({
      node: "node-1",
      secret: "s3cret",
      summary: { "last-message-sender": "juliet@capulet.lit", "last-message-body": "hi" },
      to: "push.example",
      flavour,
    });
    const parsed = parsePublish(iq.getChild("pubsub"));
    assert.ok(parsed.ok, flavour);
    assert.equal(parsed.request.node, "node-1");
    assert.equal(parsed.request.secret, "s3cret");
    assert.equal(parsed.request.summary?.get("last-message-sender"), "juliet@capulet.lit");
    assert.equal(parsed.request.summary?.get("last-message-body"), "hi");
  }
});
