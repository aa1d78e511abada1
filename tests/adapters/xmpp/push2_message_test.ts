import assert from "node:assert/strict";
import {
  handlePush2Message,
  isPush2Message,
  readPush2Notification,
} from "../../../adapters/xmpp/push2_message.ts";
import type { Push2Answer, Push2Notification } from "../../../domain/push2.ts";
import { parseXml } from "../../support/parse_xml.ts";
import webpush from "web-push";

const KEY_URL = webpush.generateVAPIDKeys().publicKey;
/** mod_push2 writes the key in standard base64. */
const KEY_STD = Uint8Array.fromBase64(KEY_URL, { alphabet: "base64url" }).toBase64();
const JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3AuZXhhbXBsZSJ9.c2ln";
const BODY = crypto.getRandomValues(new Uint8Array(200));

function stanza(parts: {
  client?: string;
  priority?: string;
  voip?: boolean;
  payload?: string;
  jwt?: string;
  key?: string;
  type?: string;
} = {}): string {
  const client = parts.client ?? "https://push.example/wpush/abc";
  const payload = parts.payload ?? BODY.toBase64();
  const priority = parts.priority === undefined ? "" : `<priority>${parts.priority}</priority>`;
  return `<message from="example.org" to="push.example.org" id="n1"${
    parts.type ? ` type="${parts.type}"` : ""
  }><notification xmlns="urn:xmpp:push2:0"><client>${client}</client>${priority}${
    parts.voip ? "<voip/>" : ""
  }<encrypted xmlns="urn:xmpp:sce:rfc8291:0"><payload>${payload}</payload></encrypted>` +
    `<jwt key="${parts.key ?? KEY_STD}">${parts.jwt ?? JWT}</jwt></notification></message>`;
}

function read(xml: string) {
  return readPush2Notification(parseXml(xml));
}

Deno.test("push2: mod_push2's notification is read; the key becomes base64url", () => {
  assert.ok(isPush2Message(parseXml(stanza())));
  const result = read(stanza({ priority: "high" }));
  assert.ok(result.ok, result.ok ? "" : result.reason);
  assert.deepEqual(result.value, {
    endpoint: "https://push.example/wpush/abc",
    urgency: "high",
    body: BODY,
    jwt: JWT,
    key: KEY_URL,
  });
  const plain = read(stanza());
  assert.ok(plain.ok);
  assert.equal(plain.value.urgency, "normal");
  const voip = read(stanza({ priority: "low", voip: true }));
  assert.ok(voip.ok);
  assert.equal(voip.value.urgency, "high");
  // base64url spellings and line-wrapped payloads are read too.
  const wrapped = read(
    stanza({ key: KEY_URL, payload: BODY.toBase64().replace(/(.{64})/g, "$1\n") }),
  );
  assert.ok(wrapped.ok);
  assert.deepEqual(wrapped.value.body, BODY);
});

Deno.test("push2: bad or oversized parts are refused, naming the part", () => {
  const cases: [string, RegExp][] = [
    [stanza({ client: "" }), /^client is empty$/],
    [stanza({ client: `https://p.example/${"a".repeat(1000)}` }), /^client is longer than 1000/],
    [stanza({ priority: "urgent" }), /^priority is not low, normal or high$/],
    [stanza({ payload: "" }), /^payload must be 1 to 4096 bytes$/],
    [stanza({ payload: new Uint8Array(4097).toBase64() }), /^payload must be 1 to 4096 bytes$/],
    [stanza({ payload: new Uint8Array(5000).toBase64() }), /^payload is too large$/],
    [stanza({ payload: "not*base64" }), /^payload is not base64$/],
    [stanza({ jwt: "a.b" }), /^jwt is not a compact JWT$/],
    [stanza({ jwt: `${"a".repeat(4000)}.${"b".repeat(100)}.c` }), /^jwt is too long$/],
    [stanza({ key: "AAAA" }), /^key is not a P-256 public key$/],
    [stanza().replace(/<jwt[^>]*>[^<]*<\/jwt>/, ""), /^jwt is missing$/],
    [stanza().replace(/<client>[^<]*<\/client>/, ""), /^client is missing$/],
    [stanza().replace(/<encrypted.*<\/encrypted>/, ""), /encrypted payload/],
    [`<message><notification xmlns="urn:xmpp:push:0"/></message>`, /not a push2 notification/],
  ];
  for (const [xml, reason] of cases) {
    const result = read(xml);
    assert.ok(!result.ok, `accepted: ${xml.slice(0, 200)}`);
    assert.match(result.reason, reason);
  }
});

Deno.test("handlePush2Message: relayed → no answer; errors → message errors; error messages → nothing", async () => {
  const seen: Push2Notification[] = [];
  let answer: Push2Answer = { kind: "relayed" };
  const relay = (n: Push2Notification) => {
    seen.push(n);
    return Promise.resolve(answer);
  };
  assert.equal(await handlePush2Message(parseXml(stanza()), relay), null);
  assert.equal(seen.length, 1);

  answer = { kind: "error", type: "wait", condition: "resource-constraint", text: "later" };
  const error = await handlePush2Message(parseXml(stanza()), relay);
  assert.ok(error);
  assert.equal(error.name, "message");
  assert.deepEqual(error.attrs, {
    type: "error",
    id: "n1",
    to: "example.org",
    from: "push.example.org",
  });
  const condition = error.getChild("error")!;
  assert.equal(condition.attrs.type, "wait");
  assert.ok(condition.getChild("resource-constraint", "urn:ietf:params:xml:ns:xmpp-stanzas"));

  const bad = await handlePush2Message(parseXml(stanza({ priority: "x" })), relay);
  assert.equal(bad?.getChild("error")?.attrs.type, "modify");
  assert.ok(bad?.getChild("error")?.getChild("bad-request"));
  assert.equal(seen.length, 2, "a malformed notification reached the relay");
  // Never answer an error (no loops), never relay it.
  assert.equal(await handlePush2Message(parseXml(stanza({ type: "error" })), relay), null);
  assert.equal(seen.length, 2);
});
