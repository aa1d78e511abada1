/**
 * End to end as Conversations does it, against real Prosody (mod_cloud_notify) and real
 * ejabberd (mod_push), the push server as their XEP-0114 component: a logged-in user sends
 * Conversations' exact `register-push-fcm` IQ (routed by their server to the component),
 * reads the answer as Conversations does (the first command/x form: jid, node, secret),
 * enables push with p2.md §2's exact enable, goes offline and receives a message: one push to
 * the FCM target {fcm, app, token} whose account is the hash Conversations computes.
 *
 * FCM itself is {@link recordingFcm} (the apps branch wires the real delivery; a fake-FCM
 * side with the same interface can replace it without changing the scenarios).
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Element } from "@xmpp/xml";
import { serverTestGate } from "../support/prosody.ts";
import { parseXml } from "../support/parse_xml.ts";
import { type FcmSide, recordingFcm } from "../support/recording_fcm.ts";
import { connectUser, type XmppUser } from "../support/xmpp_user.ts";
import {
  PUSH_DOMAIN,
  type PushStack,
  startPushStack,
  startXmppServer,
  type XmppServer,
  type XmppServerKind,
} from "./push_stack.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`../fixtures/p2/${name}`, import.meta.url));
const NS_COMMANDS = "http://jabber.org/protocol/commands";
/** Settings.Secure.ANDROID_ID of the fixture (p2's README test vector). */
const ANDROID_ID = "92afd7a91cdba9a0";
const APP = "conversations";

/** What Conversations computes on the phone: SHA-1 hex of `bareJid NUL androidId`. */
function conversationsHash(bareJid: string): string {
  return createHash("sha1").update(`${bareJid}\u0000${ANDROID_ID}`).digest("hex");
}

/** Conversations' register IQ (the fixture) to the push JID, with `token`; no `from`. */
function registerIq(token: string, to = PUSH_DOMAIN): Element {
  const iq = parseXml(fixture("register_request.stanza"));
  iq.attrs.to = to;
  iq.attrs.id = `reg-${crypto.randomUUID()}`;
  delete iq.attrs.from;
  const form = iq.getChild("command", NS_COMMANDS)!.getChild("x", "jabber:x:data")!;
  form.getChildren("field").find((f: Element) => f.attrs.var === "token")!
    .getChild("value").children = [token];
  return iq;
}

/** p2's unregister command (the fixture) to the push JID; no `from`. */
function unregisterIq(): Element {
  const iq = parseXml(fixture("unregister_request.stanza"));
  iq.attrs.to = PUSH_DOMAIN;
  delete iq.attrs.from;
  return iq;
}

/** Conversations' PushManagementService: the first command/x form's node, secret, jid. */
function readAnswer(answer: Element): { jid: string; node: string; secret: string } {
  const form = answer.getChild("command", NS_COMMANDS)?.getChild("x", "jabber:x:data");
  const value = (name: string) =>
    form?.getChildren("field").find((f: Element) => f.attrs.var === name)?.getChildText("value");
  const [jid, node, secret] = [value("jid"), value("node"), value("secret")];
  assert.ok(jid && node && secret, "the answer has jid, node and secret");
  return { jid, node, secret };
}

/** p2.md §2's enable (the fixture) with the answer's jid, node and secret. */
function enableIq(answer: { jid: string; node: string; secret: string }): Element {
  const iq = parseXml(fixture("enable_request.stanza"));
  const enable = iq.getChild("enable", "urn:xmpp:push:0")!;
  enable.attrs.jid = answer.jid;
  enable.attrs.node = answer.node;
  const secret = enable.getChild("x")!.getChildren("field").find((f: Element) =>
    f.attrs.var === "secret"
  )!;
  secret.getChild("value").children = [answer.secret];
  return iq;
}

/** What differs between the users' servers: how they say they heard item-not-found. */
interface ServerKit {
  readonly kind: XmppServerKind;
  heardItemNotFound(server: XmppServer, user: string): Promise<boolean>;
}

const KITS: ServerKit[] = [
  {
    kind: "prosody",
    async heardItemNotFound(server) {
      return /Got error <cancel:item-not-found/.test(await server.logTail());
    },
  },
  {
    kind: "ejabberd",
    async heardItemNotFound(server, user) {
      return (await server.logTail()).split("\n").some((line) =>
        line.includes(`${PUSH_DOMAIN} rejected notification for ${user}@localhost (`) &&
        line.includes("disabling push: item-not-found (cancel)")
      );
    },
  },
];

interface Scenario {
  readonly name: string;
  fn(stack: PushStack, fcm: FcmSide, user: string, kit: ServerKit): Promise<void>;
}

/** `user` logs in (a fresh bind, as Conversations registers after), runs `body`, logs out. */
async function session<T>(
  stack: PushStack,
  user: string,
  body: (session: XmppUser) => Promise<T>,
): Promise<T> {
  const port = stack.xmppServer.c2sPort;
  const client = await connectUser({ port, username: user, password: `${user}-pw` });
  try {
    return await body(client);
  } finally {
    await client.disconnect();
  }
}

/** Conversations after a bind: register by command, then enable with the answer. */
function registerAndEnable(stack: PushStack, user: string, token: string, to = PUSH_DOMAIN) {
  return session(stack, user, async (client) => {
    const answer = readAnswer(await client.request(registerIq(token, to)));
    await client.request(enableIq(answer));
    return answer;
  });
}

/** bob sends `user` a message while `user` is offline. */
function messageFromBob(stack: PushStack, user: string): Promise<void> {
  return session(stack, "bob", (bob) => bob.sendMessage(`${user}@localhost`, "hi"));
}

const scenarios: Scenario[] = [
  {
    name: "register, enable, offline message: one FCM push with Conversations' hash; " +
      "a new token keeps node and secret and gets the next push; disco#info answered",
    async fn(s, fcm, user) {
      const info = await session(s, user, (client) =>
        client.request(parseXml(
          `<iq type="get" to="${PUSH_DOMAIN}" id="disco-1"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
        )));
      const features = info.getChild("query")!.getChildren("feature").map((f: Element) =>
        f.attrs.var
      );
      assert.ok(features.includes(NS_COMMANDS), "disco#info lists the commands");
      assert.ok(features.includes("urn:xmpp:push:0"), "disco#info lists XEP-0357");

      const first = await registerAndEnable(s, user, "token-one:APA91b-first");
      assert.equal(first.jid, PUSH_DOMAIN);
      await messageFromBob(s, user);
      const [push] = await fcm.waitForPushes(1);
      assert.deepEqual(push, {
        app: APP,
        token: "token-one:APA91b-first",
        account: conversationsHash(`${user}@localhost`),
      });

      // FCM hands out a new token: Conversations registers again (and enables again).
      const second = await registerAndEnable(s, user, "token-two:APA91b-second");
      assert.deepEqual(second, first, "node and secret are kept across a token change");
      await messageFromBob(s, user);
      const pushes = await fcm.waitForPushes(2);
      assert.deepEqual(pushes[1], { ...push, token: "token-two:APA91b-second" });
      await s.waitForLog("pushed");
      assert.ok(!s.logger.text().includes(first.secret), "the secret was logged");
      assert.ok(!s.logger.text().includes("APA91b"), "a token was logged");
    },
  },
  {
    name: "the resource of the command's to names the app; an unknown app is item-not-found",
    async fn(s, fcm, user) {
      await session(s, user, async (client) => {
        await assert.rejects(
          client.request(registerIq("token-x", `${PUSH_DOMAIN}/no-such-app`)),
          (error: { condition?: string }) => error.condition === "item-not-found",
        );
      });
      const answer = await registerAndEnable(s, user, "token-q:APA91b", `${PUSH_DOMAIN}/quicksy`);
      assert.equal(answer.jid, PUSH_DOMAIN);
      await messageFromBob(s, user);
      const [push] = await fcm.waitForPushes(1);
      assert.deepEqual(push, {
        app: "quicksy",
        token: "token-q:APA91b",
        account: conversationsHash(`${user}@localhost`),
      });
    },
  },
  {
    name: "unregister stops pushes; the user's server hears item-not-found",
    async fn(s, fcm, user, kit) {
      await registerAndEnable(s, user, "token-three:APA91b-third");
      await session(s, user, async (client) => {
        const answer = await client.request(unregisterIq());
        assert.equal(answer.attrs.type, "result");
        assert.equal(answer.getChild("command", NS_COMMANDS)?.attrs.action, "complete");
        await assert.rejects(
          client.request(unregisterIq()),
          (error: { condition?: string }) => error.condition === "item-not-found",
        );
      });
      await messageFromBob(s, user);
      await s.waitForLog("publish refused", { outcome: "unknown-node" });
      const deadline = Date.now() + 10_000;
      while (!(await kit.heardItemNotFound(s.xmppServer, user))) {
        if (Date.now() > deadline) throw new Error(`${kit.kind} never heard item-not-found`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(fcm.pushes.length, 0, "no push after unregistering");
    },
  },
];

for (const kit of KITS) {
  Deno.test({
    name: `${kit.kind} component: Conversations' registration by command`,
    ...serverTestGate(kit.kind === "ejabberd" ? "ejabberdctl" : "prosody"),
    async fn(t) {
      const componentSecret = crypto.randomUUID();
      const xmppServer = await startXmppServer(kit.kind, componentSecret);
      try {
        const users = ["bob", ...scenarios.map((_, i) => `alice${i}`)];
        await Promise.all(users.map((user) => xmppServer.registerUser(user, `${user}-pw`)));
        for (const [i, scenario] of scenarios.entries()) {
          await t.step(scenario.name, async () => {
            const fcm = recordingFcm([APP, "quicksy"]);
            const stack = await startPushStack({
              shared: { xmppServer, componentSecret },
              overrides: fcm.overrides,
            });
            try {
              await scenario.fn(stack, fcm, `alice${i}`, kit);
            } catch (error) {
              throw new Error(
                `${(error as Error).message}\n--- ${kit.kind} log ---\n${await xmppServer
                  .logTail()}\n--- push server log ---\n${stack.logger.text()}`,
                { cause: error },
              );
            } finally {
              await stack.stop();
            }
          });
        }
      } finally {
        await xmppServer.stop();
      }
    },
  });
}
