import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import {
  commandError,
  commandItems,
  isCommandSet,
  readP2Command,
  registerAnswer,
  unregisterAnswer,
} from "../../../adapters/xmpp/fcm_commands.ts";
import { p2RegistrationKey } from "../../../domain/p2_registration.ts";
import { canonicalXml, parseXml } from "../../support/parse_xml.ts";

const fixture = (name: string) =>
  parseXml(Deno.readTextFileSync(new URL(`../../fixtures/p2/${name}`, import.meta.url)));

/** What Conversations' PushManagementService reads of the answer: first command/x form. */
function conversationsReads(answer: Element): { jid?: string; node?: string; secret?: string } {
  const form = answer.getChild("command", "http://jabber.org/protocol/commands")
    ?.getChild("x", "jabber:x:data");
  const out: Record<string, string> = {};
  for (const field of form?.getChildren("field") ?? []) {
    out[field.attrs.var] = field.getChildText("value");
  }
  return out;
}

Deno.test("readP2Command: Conversations' register IQ yields the token and android-id; the key is p2's test vector", async () => {
  const iq = fixture("register_request.stanza");
  assert.ok(isCommandSet(iq));
  const command = readP2Command(iq);
  assert.ok(command.ok);
  assert.equal(command.action, "register");
  assert.equal(command.service, "fcm");
  assert.equal(command.commandNode, "register-push-fcm");
  assert.equal(command.from, "xiaomia1@jabber.de/Conversations.Abc1");
  assert.equal(command.fields.deviceId, "92afd7a91cdba9a0");
  assert.match(command.fields.token, /^fS3ntgCBQ2OeGyDh4ykgxa:APA91b/);
  const key = await p2RegistrationKey({
    service: command.service,
    from: command.from,
    ...command.fields,
  });
  assert.equal(key.device, "ec164939a8485ee6b7f7871071a11c7bb18aead5");
});

Deno.test("registerAnswer: the same stanza as p2's answer, and Conversations finds jid, node, secret", () => {
  const answer = registerAnswer(fixture("register_request.stanza"), {
    jid: "p2.example.org",
    node: "eKxTS5n3bOe0",
    secret: "KK4+H5WMfpRG/2zCbuKq6wpX",
    sessionId: "1700000000000",
  });
  assert.deepEqual(
    canonicalXml(parseXml(answer.toString())),
    canonicalXml(fixture("register_result.stanza")),
  );
  assert.deepEqual(conversationsReads(parseXml(answer.toString())), {
    jid: "p2.example.org",
    node: "eKxTS5n3bOe0",
    secret: "KK4+H5WMfpRG/2zCbuKq6wpX",
  });
});

const COMMAND = (
  attrs: string,
  form = `<x xmlns="jabber:x:data" type="submit">
  <field var="token"><value>tok:APA91b</value></field>
  <field var="device-id"><value>dev-1</value></field></x>`,
) =>
  parseXml(
    `<iq type="set" id="c1" to="push.example.org" from="a@example.org/r"><command xmlns="http://jabber.org/protocol/commands" ${attrs}>${form}</command></iq>`,
  );

Deno.test("readP2Command: refusals as p2 answers them", () => {
  const cases: [Element, string, RegExp][] = [
    [COMMAND(`node="register-push-fcm" action="cancel"`), "bad-request", /execute/],
    [COMMAND(`node="register-push-fcm" action="execute"`, ""), "bad-request", /no data form/],
    [COMMAND(`node="register-push-xyz" action="execute"`), "item-not-found", /service/],
    [COMMAND(`node="something-else" action="execute"`), "item-not-found", /unknown command/],
    [
      COMMAND(
        `node="register-push-fcm" action="execute"`,
        `<x xmlns="jabber:x:data" type="submit"><field var="android-id"><value>a1</value></field></x>`,
      ),
      "bad-request",
      /token is required/,
    ],
    [
      parseXml(
        `<iq type="get" id="g"><command xmlns="http://jabber.org/protocol/commands" node="register-push-fcm"/></iq>`,
      ),
      "bad-request",
      /not a command/,
    ],
    [
      parseXml(
        `<iq type="set" id="n"><command xmlns="http://jabber.org/protocol/commands" node="register-push-fcm"><x xmlns="jabber:x:data"/></command></iq>`,
      ),
      "bad-request",
      /no sender/,
    ],
  ];
  for (const [iq, condition, reason] of cases) {
    const result = readP2Command(iq);
    assert.equal(result.ok, false, iq.toString());
    if (!result.ok) {
      assert.equal(result.condition, condition, iq.toString());
      assert.match(result.reason, reason);
    }
  }
  // No action attribute means execute (XEP-0050).
  const implicit = readP2Command(COMMAND(`node="register-push-fcm"`));
  assert.ok(implicit.ok);
  assert.deepEqual(implicit.fields, { token: "tok:APA91b", deviceId: "dev-1" });
});

Deno.test("commandError: bad-request is modify, item-not-found cancel, addressed back to the sender", () => {
  const request = COMMAND(`node="register-push-fcm" action="execute"`);
  const error = commandError(request, {
    ok: false,
    condition: "bad-request",
    reason: "token is required",
  });
  assert.equal(
    error.toString(),
    `<iq type="error" id="c1" to="a@example.org/r" from="push.example.org"><error type="modify"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">token is required</text></error></iq>`,
  );
  const missing = commandError(request, { ok: false, condition: "item-not-found", reason: "x" });
  assert.equal(missing.getChild("error")!.attrs.type, "cancel");
});

Deno.test("unregister: read, and answered completed without a form", () => {
  const iq = COMMAND(
    `node="unregister-push-fcm" action="execute"`,
    `<x xmlns="jabber:x:data" type="submit"><field var="android-id"><value>a1</value></field></x>`,
  );
  const command = readP2Command(iq);
  assert.ok(command.ok);
  assert.equal(command.action, "unregister");
  assert.deepEqual(command.fields, { deviceId: "a1" });
  assert.equal(
    unregisterAnswer(iq, "7").toString(),
    `<iq type="result" id="c1" to="a@example.org/r" from="push.example.org"><command xmlns="http://jabber.org/protocol/commands" node="unregister-push-fcm" sessionid="7" status="completed"/></iq>`,
  );
});

Deno.test("commandItems: the command nodes for disco#items on the commands node", () => {
  const request = parseXml(
    `<iq type="get" id="d1" to="push.example.org" from="a@example.org/r"><query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/></iq>`,
  );
  const answer = commandItems(request, "push.example.org", ["fcm"]);
  const query = answer.getChild("query", "http://jabber.org/protocol/disco#items")!;
  assert.equal(query.attrs.node, "http://jabber.org/protocol/commands");
  assert.deepEqual(query.getChildren("item").map((item: Element) => item.attrs.node), [
    "register-push-fcm",
    "unregister-push-fcm",
  ]);
});

Deno.test("readP2Command: unknown fields named like Object's own members are ignored, as any other", () => {
  const iq = parseXml(
    `<iq type="set" id="r1" from="a@b.example/x" to="push.example.org">` +
      `<command xmlns="http://jabber.org/protocol/commands" node="register-push-fcm" action="execute">` +
      `<x xmlns="jabber:x:data" type="submit">` +
      ["constructor", "__proto__", "toString", "hasOwnProperty"].map((name) =>
        `<field var="${name}"><value>v</value></field>`
      ).join("") +
      `<field var="token"><value>tok</value></field>` +
      `<field var="android-id"><value>92afd7a91cdba9a0</value></field>` +
      `</x></command></iq>`,
  );
  const command = readP2Command(iq);
  assert.ok(command.ok && command.action === "register", JSON.stringify(command));
  assert.equal(command.fields.token, "tok");
  assert.equal(command.fields.deviceId, "92afd7a91cdba9a0");
});
