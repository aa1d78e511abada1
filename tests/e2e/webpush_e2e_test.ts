/**
 * Web Push and UnifiedPush end to end, against real Prosody (mod_cloud_notify) and real
 * ejabberd (mod_push), the push server as their XEP-0114 component with two Web Push apps on
 * the fake push service (loopback HTTPS; it decrypts with `http_ece` and verifies VAPID with
 * `jose`): `up` (the default, private addresses allowed as a test needs) and `strict` (the
 * production rules). A user registers a subscription whose keys web-push generated with
 * `register-push-webpush`, enables push with the answer, goes offline and gets a message:
 * the push service receives one message whose decrypted payload names the account and the
 * counts, never the body. Also: 410, 429/503, unregister, private endpoints, and Push 2.0
 * (no mod_push2 on this machine: the notification mod_push2 would send, built per
 * webpush.md §4.2, is sent through the real server by a client).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Element } from "@xmpp/xml";
import * as jose from "jose";
import webpush from "web-push";
import {
  type FakePushService,
  type FakeSubscription,
  startFakePushService,
} from "../../adapters/push/webpush/fake_push_service.ts";
import type { AddressResolver } from "../../adapters/push/webpush/endpoint_policy.ts";
import { serverTestGate } from "../support/prosody.ts";
import { parseXml } from "../support/parse_xml.ts";
import { sample } from "../support/prometheus_text.ts";
import { testCertificate } from "../support/tls_cert.ts";
import type { XmppUser } from "../support/xmpp_user.ts";
import {
  PUSH_DOMAIN,
  type PushStack,
  startPushStack,
  startXmppServer,
  type XmppServerKind,
} from "./push_stack.ts";
import { heardError } from "./heard_errors.ts";
import { failureWithLogs, messageFromBob, userSession, waitUntil } from "./scenario_kit.ts";

const NS_COMMANDS = "http://jabber.org/protocol/commands";
const SUBJECT = "mailto:ops@push.localhost";
/** A body no push may carry. */
const BODY = "the-message-body-must-stay-on-the-server";

/**
 * Test DNS, loopback only: the fake's name is on 127.0.0.1; `rebind.localhost` does not
 * resolve until a test points it somewhere (no address outside loopback is ever answered).
 */
function testDns(): { resolve: AddressResolver; rebind: (address: string) => void } {
  let rebound: string | null = null;
  return {
    resolve: (host) =>
      host === "localhost"
        ? Promise.resolve([{ address: "127.0.0.1", family: 4 }])
        : host === "rebind.localhost" && rebound !== null
        ? Promise.resolve([{ address: rebound, family: 4 }])
        : Promise.reject(new Error("ENOTFOUND")),
    rebind: (address) => rebound = address,
  };
}

const APPS = {
  up: {
    service: "webpush",
    default: true,
    vapid: { subject: SUBJECT },
    allowPrivateAddresses: true,
    coalesceMs: 0,
    maxAttempts: 2,
    requestTimeoutSeconds: 3,
  },
  strict: { service: "webpush", vapid: { subject: SUBJECT }, coalesceMs: 0 },
};

/** A client's subscription: receiving keys from web-push, bound to the app's VAPID key. */
function subscribe(fake: FakePushService, vapidKey: string): FakeSubscription {
  return fake.subscribe({ vapidKey, receiverKeys: webpush.generateVAPIDKeys() });
}

function form(fields: Record<string, string>): string {
  return Object.entries(fields).map(([name, value]) =>
    `<field var="${name}"><value>${value.replaceAll("&", "&amp;")}</value></field>`
  ).join("");
}

/** Our dialect's command, as the README writes it, from the account to be woken. */
function commandIq(node: string, fields: Record<string, string>, to = PUSH_DOMAIN): Element {
  return parseXml(
    `<iq type="set" to="${to}" id="c-${crypto.randomUUID()}">` +
      `<command xmlns="${NS_COMMANDS}" node="${node}" action="execute">` +
      `<x xmlns="jabber:x:data" type="submit">${form(fields)}</x></command></iq>`,
  );
}

function registerIq(sub: FakeSubscription, to = PUSH_DOMAIN): Element {
  const { endpoint, keys } = sub.json;
  return commandIq("register-push-webpush", { endpoint, ...keys }, to);
}

/** The answer's form, read as a client would. */
function readAnswer(answer: Element): { jid: string; node: string; secret: string } {
  const command = answer.getChild("command", NS_COMMANDS);
  assert.equal(command?.attrs.status, "completed");
  const x = command?.getChild("x", "jabber:x:data");
  const value = (name: string) =>
    x?.getChildren("field").find((f: Element) => f.attrs.var === name)?.getChildText("value");
  const [jid, node, secret] = [value("jid"), value("node"), value("secret")];
  assert.ok(jid && node && secret, "the answer has jid, node and secret");
  return { jid, node, secret };
}

/** The registration key the client computes: SHA-256 hex of `bareJid NUL endpoint`. */
async function accountKey(bareJid: string, endpoint: string): Promise<string> {
  const bytes = new TextEncoder().encode(`${bareJid}\u0000${endpoint}`);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).toHex();
}

function condition(error: unknown): string | undefined {
  return (error as { condition?: string }).condition;
}

/** The users' server under test. */
interface ServerKit {
  readonly kind: XmppServerKind;
}

const KITS: ServerKit[] = [{ kind: "prosody" }, { kind: "ejabberd" }];

/** What a scenario gets. */
interface World {
  readonly stack: PushStack;
  readonly fake: FakePushService;
  readonly kit: ServerKit;
  readonly user: string;
  readonly dns: ReturnType<typeof testDns>;
  /** The VAPID public key of app `up`, as the operator publishes it (logged at start). */
  readonly vapidKey: string;
  session<T>(body: (client: XmppUser) => Promise<T>): Promise<T>;
  /** Registers by command and enables push with the answer. */
  registerAndEnable(sub: FakeSubscription, to?: string): Promise<{ node: string; secret: string }>;
  /** bob sends the user a message while the user is offline. */
  messageFromBob(): Promise<void>;
  heardItemNotFound(): Promise<void>;
  publishes(outcome: string): number;
}

const scenarios: { name: string; fn(w: World): Promise<void> }[] = [
  {
    name: "register (web-push keys), enable, offline message: one push, decrypted, with the " +
      "account and counts and never the body; registering again keeps node and secret; disco",
    async fn(w) {
      const items = await w.session((c) =>
        c.request(parseXml(
          `<iq type="get" to="${PUSH_DOMAIN}" id="d1"><query xmlns="http://jabber.org/protocol/disco#items" node="${NS_COMMANDS}"/></iq>`,
        ))
      );
      const nodes = items.getChild("query")!.getChildren("item").map((i: Element) => i.attrs.node);
      assert.ok(nodes.includes("register-push-webpush"), `disco#items lists ${nodes}`);
      assert.ok(nodes.includes("unregister-push-webpush"));
      const info = await w.session((c) =>
        c.request(parseXml(
          `<iq type="get" to="${PUSH_DOMAIN}" id="d2"><query xmlns="http://jabber.org/protocol/disco#info" node="register-push-webpush"/></iq>`,
        ))
      );
      const identity = info.getChild("query")!.getChild("identity");
      assert.equal(identity?.attrs.type, "command-node", "disco#info describes the command");

      const sub = subscribe(w.fake, w.vapidKey);
      const first = await w.registerAndEnable(sub);
      await w.messageFromBob();
      const [message] = await w.fake.waitForMessages(1, 15_000);
      assert.equal(message.endpoint, sub.endpoint);
      const payload = JSON.parse(message.text);
      const account = await accountKey(`${w.user}@localhost`, sub.endpoint);
      assert.deepEqual(Object.keys(payload).sort(), [
        "account",
        "kind",
        "message_count",
        "pending_subscription_count",
        "v",
      ]);
      assert.equal(payload.v, 1);
      assert.equal(payload.kind, "push");
      assert.equal(payload.account, account);
      assert.ok(Number.isInteger(payload.message_count));
      assert.ok(!message.text.includes(BODY) && !message.text.includes("bob"), "no content");
      // The request as RFC 8030/8292 want it, VAPID verified by jose against the fake's origin.
      const header = (name: string) => message.headers.find(([k]) => k === name)?.[1];
      assert.equal(header("content-encoding"), "aes128gcm");
      assert.equal(header("ttl"), "86400");
      assert.equal(header("urgency"), "normal");
      assert.match(header("topic") ?? "", /^[A-Za-z0-9_-]{1,32}$/);
      assert.equal(message.claims.aud, w.fake.origin);
      assert.equal(message.claims.sub, SUBJECT);

      const again = await w.registerAndEnable(sub);
      assert.deepEqual(again, first, "the same subscription keeps node and secret");
      await w.messageFromBob();
      await w.fake.waitForMessages(2, 15_000);
      assert.equal(w.fake.received.length, 2);
      const log = w.stack.logger.text();
      assert.ok(!log.includes(first.secret), "the secret was logged");
      assert.ok(!log.includes(new URL(sub.endpoint).pathname), "an endpoint was logged");
    },
  },
  {
    name: "410: the user's server hears item-not-found and the registration is gone",
    async fn(w) {
      const sub = subscribe(w.fake, w.vapidKey);
      await w.registerAndEnable(sub);
      w.fake.unsubscribe(sub.endpoint);
      await w.messageFromBob();
      await w.heardItemNotFound();
      assert.deepEqual(w.fake.requests.map((r) => r.status), [410]);
      const key = await accountKey(`${w.user}@localhost`, sub.endpoint);
      const stored = await w.stack.server.store.findDevice(`webpush:up:${key}`, Date.now());
      assert.equal(stored, null, "the registration is gone");
    },
  },
  {
    name: "503 and 429 + Retry-After: the user's server hears wait, the registration stays " +
      "and the next message is delivered",
    async fn(w) {
      const sub = subscribe(w.fake, w.vapidKey);
      await w.registerAndEnable(sub);
      const key = await accountKey(`${w.user}@localhost`, sub.endpoint);
      // Every attempt (maxAttempts 2) answered 503.
      w.fake.answerNext(sub.endpoint, { status: 503 });
      w.fake.answerNext(sub.endpoint, { status: 503 });
      await w.messageFromBob();
      await waitUntil(() => w.publishes("unavailable") === 1, "a wait for the 503s");
      assert.deepEqual(w.fake.requests.map((r) => r.status), [503, 503]);
      w.fake.answerNext(sub.endpoint, { status: 429, headers: { "Retry-After": "1" } });
      await w.messageFromBob();
      await waitUntil(() => w.publishes("throttled") === 1, "a wait for the 429");
      assert.deepEqual(w.fake.requests.map((r) => r.status), [503, 503, 429]);
      const stored = await w.stack.server.store.findDevice(`webpush:up:${key}`, Date.now());
      assert.equal(stored?.target?.service, "webpush", "the registration is kept");
      // After Retry-After, the same registration delivers.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      await w.messageFromBob();
      const [message] = await w.fake.waitForMessages(1, 15_000);
      assert.equal(JSON.parse(message.text).account, key);
    },
  },
  {
    name: "unregister: completed, then item-not-found; no push afterwards",
    async fn(w) {
      const sub = subscribe(w.fake, w.vapidKey);
      await w.registerAndEnable(sub);
      const unregister = commandIq("unregister-push-webpush", { endpoint: sub.endpoint });
      await w.session(async (c) => {
        const answer = await c.request(unregister);
        assert.equal(answer.getChild("command", NS_COMMANDS)?.attrs.status, "completed");
        await assert.rejects(
          c.request(commandIq("unregister-push-webpush", { endpoint: sub.endpoint })),
          (error) => condition(error) === "item-not-found",
        );
      });
      await w.messageFromBob();
      await w.heardItemNotFound();
      assert.equal(w.fake.requests.length, 0, "nothing sent after unregistering");
    },
  },
  {
    name: "without allowPrivateAddresses: an endpoint on loopback is refused at registration " +
      "(not-allowed); one that turns private after it gets nothing sent; bad fields refused",
    async fn(w) {
      const strictTo = `${PUSH_DOMAIN}/strict`;
      const sub = subscribe(w.fake, w.vapidKey);
      await w.session(async (c) => {
        await assert.rejects(
          c.request(registerIq(sub, strictTo)),
          (error) => condition(error) === "not-allowed",
        );
        const { keys } = sub.json;
        await assert.rejects(
          c.request(commandIq("register-push-webpush", {
            endpoint: sub.endpoint.replace("https:", "http:"),
            ...keys,
          })),
          (error) => condition(error) === "bad-request",
        );
        await assert.rejects(
          c.request(commandIq("register-push-webpush", { endpoint: sub.endpoint, auth: "x" })),
          (error) => condition(error) === "bad-request",
        );
      });
      // A name that did not resolve at registration (left to send time) and is loopback now.
      const rebound = subscribe(w.fake, w.vapidKey);
      const endpoint = rebound.endpoint.replace("//localhost:", "//rebind.localhost:");
      await w.registerAndEnable({ ...rebound, json: { ...rebound.json, endpoint } }, strictTo);
      w.dns.rebind("127.0.0.1");
      await w.messageFromBob();
      await w.stack.waitForLog("push failed", { app: "strict", retryable: false });
      const failed = w.stack.logger.lines.find((l) => l.message === "push failed")!;
      assert.match(String(failed.fields?.reason), /endpoint refused: forbidden-address/);
      assert.equal(w.fake.requests.length, 0, "nothing was sent");
    },
  },
  {
    name: "a redirect is not followed (its target gets nothing, the user's server hears wait); " +
      "an endless answer body is cut at the bound and the push counts as delivered",
    async fn(w) {
      const sub = subscribe(w.fake, w.vapidKey);
      const elsewhere = subscribe(w.fake, w.vapidKey);
      await w.registerAndEnable(sub);
      w.fake.answerNext(sub.endpoint, { status: 307, headers: { Location: elsewhere.endpoint } });
      await w.messageFromBob();
      await waitUntil(() => w.publishes("unavailable") === 1, "a wait for the redirect");
      assert.deepEqual(w.fake.requests.map((r) => [r.path, r.status]), [
        [new URL(sub.endpoint).pathname, 307],
      ]);
      w.fake.answerNext(sub.endpoint, { status: 201, body: "endless" });
      await w.messageFromBob();
      await waitUntil(() => w.publishes("pushed") === 1, "the push answered");
      assert.equal(w.fake.requests.length, 2, "one request each, nothing sent elsewhere");
    },
  },
  {
    name: "Push 2.0: a notification (webpush.md §4.2) through the real server is relayed as " +
      "is (the fake decrypts it and verifies the client's JWT); gone -> item-not-found",
    async fn(w) {
      // What the client gave its server in <enable>: a JWT key pair; the server encrypts and signs.
      const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
      const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey as CryptoKey));
      const sub = w.fake.subscribe({
        vapidKey: raw.toBase64({ alphabet: "base64url", omitPadding: true }),
        receiverKeys: webpush.generateVAPIDKeys(),
      });
      const notification = async (id: string) => {
        const { endpoint, keys } = sub.json;
        const encrypted = webpush.encrypt(keys.p256dh, keys.auth, "<forwarded/>", "aes128gcm");
        const jwt = await new jose.SignJWT({ sub: SUBJECT })
          .setProtectedHeader({ alg: "ES256", typ: "JWT" })
          .setAudience(new URL(endpoint).origin)
          .setExpirationTime("12h")
          .sign(privateKey);
        return parseXml(
          `<message to="${PUSH_DOMAIN}" id="${id}"><notification xmlns="urn:xmpp:push2:0">` +
            `<client>${endpoint}</client><priority>high</priority>` +
            `<encrypted xmlns="urn:xmpp:sce:rfc8291:0"><payload>${
              Buffer.from(encrypted.cipherText).toString("base64")
            }</payload></encrypted><jwt key="${raw.toBase64()}">${jwt}</jwt>` +
            `</notification></message>`,
        );
      };
      await w.session(async (c) => {
        await c.send(await notification("n1"));
        const [message] = await w.fake.waitForMessages(1, 15_000);
        assert.equal(message.text, "<forwarded/>");
        const header = (name: string) => message.headers.find(([k]) => k === name)?.[1];
        assert.equal(header("urgency"), "high");
        w.fake.unsubscribe(sub.endpoint);
        const answer = c.nextMessage((m) => m.attrs.id === "n2" && m.attrs.type === "error");
        await c.send(await notification("n2"));
        const error = (await answer).getChild("error");
        assert.equal(error?.attrs.type, "cancel");
        assert.ok(error?.getChild("item-not-found"), "item-not-found");
      });
      const text = w.stack.server.metrics.registry.text();
      assert.equal(
        sample(text, "uwpx_push2_notifications_total", { app: "up", outcome: "relayed" }),
        1,
      );
      assert.equal(
        sample(text, "uwpx_push2_notifications_total", { app: "up", outcome: "gone" }),
        1,
      );
    },
  },
];

for (const kit of KITS) {
  Deno.test({
    name: `${kit.kind} component: Web Push registrations by command and Push 2.0`,
    ...serverTestGate(kit.kind === "ejabberd" ? "ejabberdctl" : "prosody"),
    async fn(t) {
      const componentSecret = crypto.randomUUID();
      const xmppServer = await startXmppServer(kit.kind, componentSecret);
      const tls = await testCertificate();
      try {
        const users = ["bob", ...scenarios.map((_, i) => `wp${i}`)];
        await Promise.all(users.map((user) => xmppServer.registerUser(user, `${user}-pw`)));
        for (const [i, scenario] of scenarios.entries()) {
          await t.step(scenario.name, async () => {
            const fake = await startFakePushService({ tls, hostname: "localhost" });
            const dns = testDns();
            const stack = await startPushStack({
              shared: { xmppServer, componentSecret },
              apps: APPS,
              overrides: { webpush: { resolve: dns.resolve, caCerts: [tls.cert] } },
            }).catch(async (error) => {
              await fake.close();
              throw error;
            });
            const user = `wp${i}`;
            const session = <T>(body: (client: XmppUser) => Promise<T>) =>
              userSession(stack, user, body);
            const ready = stack.logger.lines.find((l) =>
              l.message === "Web Push app ready" && l.fields?.app === "up"
            );
            const world: World = {
              stack,
              fake,
              kit,
              user,
              dns,
              vapidKey: String(ready?.fields?.vapidPublicKey),
              session,
              registerAndEnable: (sub, to) =>
                session(async (client) => {
                  const answer = readAnswer(await client.request(registerIq(sub, to)));
                  assert.equal(answer.jid, PUSH_DOMAIN);
                  await client.enablePush(answer);
                  return { node: answer.node, secret: answer.secret };
                }),
              messageFromBob: () => messageFromBob(stack, user, BODY),
              heardItemNotFound: () =>
                waitUntil(
                  async () =>
                    heardError(kit.kind, await xmppServer.logTail(), {
                      user,
                      type: "cancel",
                      condition: "item-not-found",
                    }),
                  `${kit.kind} hearing item-not-found`,
                ),
              publishes: (outcome) =>
                sample(stack.server.metrics.registry.text(), "uwpx_push_publishes_total", {
                  outcome,
                }) ?? 0,
            };
            try {
              await scenario.fn(world);
            } catch (error) {
              throw await failureWithLogs(error, kit.kind, xmppServer, stack, {
                fake: JSON.stringify(fake.requests.map((r) => [r.status, r.error])),
              });
            } finally {
              await stack.stop();
              await fake.close();
            }
          });
        }
      } finally {
        await xmppServer.stop();
      }
    },
  });
}
