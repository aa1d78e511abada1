import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import { errorFor, stanzaError } from "../../../adapters/xmpp/iq_answers.ts";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** The error's type, its one condition element and its text, as a receiving server reads them. */
function describe(error: Element | null) {
  assert.ok(error, "an error element");
  assert.equal(error.name, "error");
  const conditions = error.getChildElements().filter((c: Element) =>
    c.getNS() === NS_STANZAS && c.name !== "text"
  );
  assert.equal(conditions.length, 1, error.toString());
  return {
    type: error.attrs.type,
    condition: conditions[0].name,
    text: error.getChildText("text", NS_STANZAS),
  };
}

Deno.test("errorFor: pushed has no error", () => {
  assert.equal(errorFor({ kind: "pushed" }), null);
});

Deno.test("errorFor: unknown node is cancel/item-not-found", () => {
  assert.deepEqual(describe(errorFor({ kind: "unknown-node" })), {
    type: "cancel",
    condition: "item-not-found",
    text: null,
  });
});

Deno.test("errorFor: forbidden is auth/forbidden", () => {
  assert.deepEqual(describe(errorFor({ kind: "forbidden" })), {
    type: "auth",
    condition: "forbidden",
    text: null,
  });
});

Deno.test("errorFor: bad request is modify/bad-request with the reason", () => {
  assert.deepEqual(describe(errorFor({ kind: "bad-request", reason: "no publish node" })), {
    type: "modify",
    condition: "bad-request",
    text: "no publish node",
  });
});

Deno.test("errorFor: unavailable is a wait error, so the user's server keeps the registration", () => {
  const described = describe(errorFor({ kind: "unavailable", reason: "storage unavailable" }));
  assert.equal(described.type, "wait");
  assert.equal(described.text, "storage unavailable");
  assert.notEqual(described.condition, "item-not-found");
});

Deno.test("stanzaError: serializes as RFC 6120 stanza error XML", () => {
  assert.equal(
    stanzaError("cancel", "service-unavailable").toString(),
    `<error type="cancel"><service-unavailable xmlns="${NS_STANZAS}"/></error>`,
  );
  assert.equal(
    stanzaError("modify", "bad-request", "a<b").toString(),
    `<error type="modify"><bad-request xmlns="${NS_STANZAS}"/>` +
      `<text xmlns="${NS_STANZAS}">a&lt;b</text></error>`,
  );
});

Deno.test("errorFor: a gone channel is wait/recipient-unavailable: the registration stays", () => {
  const described = describe(errorFor({ kind: "channel-gone" }));
  assert.equal(described.type, "wait");
  assert.equal(described.condition, "recipient-unavailable");
  assert.match(described.text ?? "", /new one/);
});
