import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createECDH } from "node:crypto";
import ece from "http_ece";
import webpush from "web-push";
import type { Element } from "@xmpp/xml";
import { registerAnswer } from "../../../adapters/xmpp/fcm_commands.ts";
import {
  parseWebPushRegisterFields,
  parseWebPushUnregisterFields,
  readWebPushCommand,
  webPushRegistration,
  webPushUnregistration,
} from "../../../adapters/xmpp/webpush_commands.ts";
import { encryptAes128gcm } from "../../../adapters/push/webpush/aes128gcm.ts";
import { loadSubscription } from "../../../adapters/push/webpush/subscription.ts";
import { parseWebPushAddress } from "../../../adapters/push/webpush/webpush_address.ts";
import { webPushRegistrationKey } from "../../../domain/webpush_registration.ts";
import { parseXml } from "../../support/parse_xml.ts";

const ENDPOINT = "https://ntfy.example.org/upAbCdEf0123456789?up=1";

/** A subscription as a UnifiedPush connector or browser would hand over, keys from web-push. */
function webPushSubscription() {
  // web-push's key generation makes a P-256 key pair: the client's receiving key here.
  const keys = webpush.generateVAPIDKeys();
  const auth = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
  return { endpoint: ENDPOINT, p256dh: keys.publicKey, auth, privateKey: keys.privateKey };
}

function registerIq(fields: Record<string, string>, node = "register-push-webpush"): string {
  const formFields = Object.entries(fields).map(([name, value]) =>
    `<field var="${name}"><value>${value.replaceAll("&", "&amp;")}</value></field>`
  ).join("");
  return `<iq type="set" id="r1" from="romeo@montague.example/phone" to="push.example.org/up">` +
    `<command xmlns="http://jabber.org/protocol/commands" node="${node}" action="execute">` +
    `<x xmlns="jabber:x:data" type="submit">` +
    `<field var="FORM_TYPE" type="hidden"><value>urn:xmpp:push:webpush</value></field>` +
    `${formFields}</x></command></iq>`;
}

Deno.test("register-push-webpush: a subscription made with web-push's keys registers and decrypts", async () => {
  const sub = webPushSubscription();
  const read = readWebPushCommand(
    parseXml(registerIq({ endpoint: sub.endpoint, p256dh: sub.p256dh, auth: sub.auth })),
  );
  assert.ok(read.ok, read.ok ? "" : read.reason);
  assert.equal(read.value.action, "register");
  assert.equal(read.value.from, "romeo@montague.example/phone");
  if (read.value.action !== "register") return;
  const registration = await webPushRegistration(read.value.from, "up", read.value.fields);
  // The key is SHA-256 over the bare JID, NUL, the endpoint: computed here independently.
  const expected = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(`romeo@montague.example\u0000${ENDPOINT}`),
    ),
  ).toHex();
  assert.equal(registration.key, expected);
  assert.equal(registration.accountId, expected);
  assert.equal(registration.deviceId, `webpush:up:${expected}`);
  assert.deepEqual(registration.target, {
    service: "webpush",
    app: "up",
    address: `${ENDPOINT}#${sub.p256dh}#${sub.auth}`,
  });

  // What the stored target addresses can be read by the client's keys (http_ece decrypts).
  const parts = parseWebPushAddress(registration.target.address);
  const subscription = await loadSubscription({
    endpoint: parts.endpoint,
    keys: { p256dh: parts.p256dh, auth: parts.auth },
  });
  const body = await encryptAes128gcm(new TextEncoder().encode("wake up"), subscription.keys);
  const receiver = createECDH("prime256v1");
  receiver.setPrivateKey(Buffer.from(sub.privateKey, "base64url"));
  const plaintext = ece.decrypt(Buffer.from(body), {
    version: "aes128gcm",
    privateKey: receiver,
    authSecret: sub.auth,
  });
  assert.equal(plaintext.toString("utf8"), "wake up");

  // Stable per subscription: another resource of the account, the same key; another account
  // or endpoint, another.
  const again = await webPushRegistration("romeo@montague.example/laptop", "up", read.value.fields);
  assert.equal(again.deviceId, registration.deviceId);
  assert.notEqual(
    (await webPushRegistration("juliet@capulet.example/x", "up", read.value.fields)).key,
    registration.key,
  );
  assert.notEqual(
    (await webPushRegistration(read.value.from, "up", {
      ...read.value.fields,
      endpoint: `${ENDPOINT}2`,
    })).key,
    registration.key,
  );
  // The answer, like p2's: jid, node, secret.
  const answer = registerAnswer(
    parseXml(registerIq({ endpoint: sub.endpoint, p256dh: sub.p256dh, auth: sub.auth })),
    { jid: "push.example.org", node: "n0de", secret: "s3cret", sessionId: "1" },
  );
  const form = answer.getChild("command", "http://jabber.org/protocol/commands")!
    .getChild("x", "jabber:x:data")!;
  assert.deepEqual(
    Object.fromEntries(
      form.getChildren("field").map((f: Element) => [f.attrs.var, f.getChildText("value")]),
    ),
    { jid: "push.example.org", node: "n0de", secret: "s3cret" },
  );
  assert.equal(answer.getChild("command")!.attrs.node, "register-push-webpush");
});

Deno.test("unregister-push-webpush: names the registration of the endpoint", async () => {
  const read = readWebPushCommand(
    parseXml(registerIq({ endpoint: ENDPOINT }, "unregister-push-webpush")),
  );
  assert.ok(read.ok);
  assert.equal(read.value.action, "unregister");
  assert.equal(
    await webPushUnregistration(read.value.from, "up", { endpoint: ENDPOINT }),
    `webpush:up:${await webPushRegistrationKey("romeo@montague.example", ENDPOINT)}`,
  );
  assert.deepEqual(parseWebPushUnregisterFields({}), {
    ok: false,
    condition: "bad-request",
    reason: "endpoint is required",
  });
});

Deno.test("register-push-webpush: bad fields are bad-request naming the field, never the value", () => {
  const sub = webPushSubscription();
  const good = { endpoint: [sub.endpoint], p256dh: [sub.p256dh], auth: [sub.auth] };
  const offCurve = Buffer.from(sub.p256dh, "base64url");
  offCurve[64] ^= 1;
  const compressed = Buffer.from(sub.p256dh, "base64url").subarray(0, 33);
  compressed[0] = 2;
  const cases: [Record<string, string[]>, RegExp][] = [
    [{ ...good, endpoint: [] }, /^endpoint is required$/],
    [{ ...good, endpoint: ["http://push.example/x"] }, /^endpoint is refused \(not-https\)$/],
    [
      { ...good, endpoint: ["https://u:p@push.example/x"] },
      /^endpoint is refused \(credentials\)$/,
    ],
    [{ ...good, endpoint: ["https://push.example/x#f"] }, /^endpoint is refused \(fragment\)$/],
    [{ ...good, endpoint: ["not a url"] }, /^endpoint is refused/],
    [{ ...good, endpoint: [`https://push.example/${"a".repeat(1000)}`] }, /too-long/],
    [{ ...good, p256dh: [] }, /^p256dh is required$/],
    [{ ...good, p256dh: [offCurve.toString("base64url")] }, /^p256dh is not a 65-byte/],
    [{ ...good, p256dh: [compressed.toString("base64url")] }, /^p256dh is not a 65-byte/],
    [{ ...good, p256dh: ["*notbase64*"] }, /^p256dh is not base64url$/],
    [{ ...good, auth: [sub.auth.slice(4)] }, /^auth is not 16 bytes$/],
    [{ ...good, auth: ["a b"] }, /^auth is not base64url$/],
  ];
  for (const [fields, reason] of cases) {
    const result = parseWebPushRegisterFields(fields);
    assert.ok(!result.ok, `accepted: ${JSON.stringify(fields)}`);
    assert.equal(result.condition, "bad-request");
    assert.match(result.reason, reason);
    assert.ok(!result.reason.includes(sub.auth) && !result.reason.includes("push.example"));
  }
  // The first value counts; unknown fields are ignored; padded base64url is fine.
  const padded = parseWebPushRegisterFields({
    ...good,
    auth: [`${sub.auth}==`, "junk"],
    extra: ["x"],
  });
  assert.ok(padded.ok);
});

Deno.test("readWebPushCommand: another node, no sender, no form, other actions", () => {
  const sub = webPushSubscription();
  const fields = { endpoint: sub.endpoint, p256dh: sub.p256dh, auth: sub.auth };
  const other = readWebPushCommand(parseXml(registerIq(fields, "register-push-fcm")));
  assert.deepEqual(other, { ok: false, condition: "item-not-found", reason: "unknown command" });
  const noFrom = parseXml(registerIq(fields).replace(' from="romeo@montague.example/phone"', ""));
  assert.deepEqual(readWebPushCommand(noFrom), {
    ok: false,
    condition: "bad-request",
    reason: "no sender",
  });
  const cancel = parseXml(registerIq(fields).replace('action="execute"', 'action="cancel"'));
  assert.equal(readWebPushCommand(cancel).ok, false);
  const noForm = parseXml(
    `<iq type="set" id="x" from="a@b/c"><command xmlns="http://jabber.org/protocol/commands" node="register-push-webpush"/></iq>`,
  );
  assert.deepEqual(readWebPushCommand(noForm), {
    ok: false,
    condition: "bad-request",
    reason: "no data form",
  });
});
