/**
 * End to end as Conversations does it, against real Prosody (mod_cloud_notify) and real
 * ejabberd (mod_push), the push server as their XEP-0114 component, configured with one WNS
 * app and two FCM apps, each FCM app a fake FCM of its own (its own service-account key
 * file, JWT checked with jose). A logged-in user sends Conversations' exact
 * `register-push-fcm` IQ (routed by their server to the component), reads the answer as
 * Conversations does (the first command/x form: jid, node, secret), enables push with p2.md
 * §2's exact enable, goes offline and receives a message: the app's fake FCM gets one
 * HIGH-priority data message whose `account` is the hash Conversations computes (computed
 * here independently). Then each path: token change, unregister, UNREGISTERED, quota, outage.
 *
 * Storage: SQLite behind Prosody, Redis (a real redis-server) behind ejabberd.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Element } from "@xmpp/xml";
import type { FakeFcm } from "../../adapters/push/fcm/fake_fcm_server.ts";
import { serverTestGate } from "../support/prosody.ts";
import { parseXml } from "../support/parse_xml.ts";
import { type FcmProjects, startFcmProjects } from "../support/fcm_projects.ts";
import { type RunningRedis, startRedis } from "../support/redis.ts";
import {
  PUSH_DOMAIN,
  type PushStack,
  randomHexId,
  startPushStack,
  startXmppServer,
  waitForLogCount,
  type XmppServerKind,
} from "./push_stack.ts";
import { heardError } from "./heard_errors.ts";
import {
  failureWithLogs,
  messageFromBob,
  metricSample,
  userSession,
  waitUntil,
} from "./scenario_kit.ts";

const fixture = (name: string) =>
  Deno.readTextFileSync(new URL(`../fixtures/p2/${name}`, import.meta.url));
const NS_COMMANDS = "http://jabber.org/protocol/commands";
/** Settings.Secure.ANDROID_ID of the fixture (p2's README test vector). */
const ANDROID_ID = "92afd7a91cdba9a0";
/** The default FCM app, and the one a client names by the resource `/quicksy`. */
const APP = "conversations";
const OTHER_APP = "quicksy";
/** The FCM apps' settings (beside the key file and the fake's URL). */
const APPS = {
  [APP]: { default: true, ttlSeconds: 3600, maxAttempts: 3, requestTimeoutSeconds: 2 },
  [OTHER_APP]: { ttlSeconds: 600, collapse: false },
};
const CONVERSATIONS_MAX_ATTEMPTS = 3;

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

/** The users' server under test. */
interface ServerKit {
  readonly kind: XmppServerKind;
}

const KITS: ServerKit[] = [{ kind: "prosody" }, { kind: "ejabberd" }];

/** Waits until the users' server heard `type/condition` for `user`'s push. */
async function waitUntilHeard(
  s: Stage,
  push: { user: string; node: string },
  type: string,
  condition: string,
): Promise<void> {
  await waitUntil(
    async () =>
      heardError(s.kit.kind, await s.stack.xmppServer.logTail(), {
        ...push,
        type,
        condition,
      }),
    `${s.kit.kind} to hear ${type}/${condition} for ${push.user}`,
  );
}

/** One scenario's world: the stack, the two fake Firebase projects, the users' server kind. */
interface Stage {
  readonly stack: PushStack;
  readonly fcm: FcmProjects;
  readonly kit: ServerKit;
  /** The default app's fake FCM. */
  readonly conversations: FakeFcm;
  readonly quicksy: FakeFcm;
}

interface Scenario {
  readonly name: string;
  /** The users it logs in as (besides bob, who writes to them). */
  readonly users: readonly string[];
  fn(s: Stage, ...users: string[]): Promise<void>;
}

/** Conversations after a bind: register by command, then enable with the answer. */
function registerAndEnable(stack: PushStack, user: string, token: string, to = PUSH_DOMAIN) {
  return userSession(stack, user, async (client) => {
    const answer = readAnswer(await client.request(registerIq(token, to)));
    await client.request(enableIq(answer));
    return answer;
  });
}

/** Asserts FCM's one message: p2's data message with the hash, as the app is configured. */
function assertWakeup(
  message: FakeFcm["messages"][number],
  expected: { token: string; user: string; android: Record<string, unknown> },
): void {
  const account = conversationsHash(`${expected.user}@localhost`);
  assert.equal(message.token, expected.token);
  assert.deepEqual(message.data, { account }, "the data message carries the hash, nothing else");
  assert.deepEqual(message.android, expected.android);
}

/** The default app's android block for `user`: HIGH, its TTL, p2's collapse key. */
function conversationsAndroid(user: string) {
  const collapse = conversationsHash(`${user}@localhost`).slice(0, 6);
  return { priority: "HIGH", ttl: "3600s", collapse_key: collapse };
}

/** Asserts `message` is the default app's wakeup of `user` on `token`. */
function assertConversationsWakeup(
  message: FakeFcm["messages"][number],
  token: string,
  user: string,
): void {
  assertWakeup(message, { token, user, android: conversationsAndroid(user) });
}

/** bob writes to `user`; the default app's fake FCM gets the one wakeup, on `token`. */
async function assertBobWakesUp(s: Stage, user: string, token: string): Promise<void> {
  await messageFromBob(s.stack, user, "hi");
  await s.conversations.waitForMessages(1, 15_000);
  assertConversationsWakeup(s.conversations.messages[0], token, user);
}

const scenarios: Scenario[] = [
  {
    name: "register, enable, offline message: exactly one HIGH data message with " +
      "Conversations' hash, the app's TTL and collapse key; a new token keeps node and secret " +
      "and gets the next push; disco lists the commands",
    users: ["alice"],
    async fn(s, user) {
      const { stack } = s;
      const disco = await userSession(stack, user, async (client) => {
        const info = await client.request(parseXml(
          `<iq type="get" to="${PUSH_DOMAIN}" id="disco-1"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>`,
        ));
        const items = await client.request(parseXml(
          `<iq type="get" to="${PUSH_DOMAIN}" id="disco-2"><query xmlns="http://jabber.org/protocol/disco#items" node="${NS_COMMANDS}"/></iq>`,
        ));
        return { info, items };
      });
      const features = disco.info.getChild("query")!.getChildren("feature").map((f: Element) =>
        f.attrs.var
      );
      assert.ok(features.includes(NS_COMMANDS), "disco#info lists the commands");
      assert.ok(features.includes("urn:xmpp:push:0"), "disco#info lists XEP-0357");
      const commands = disco.items.getChild("query")!.getChildren("item").map((i: Element) =>
        i.attrs.node
      );
      for (const node of ["register-push-fcm", "unregister-push-fcm"]) {
        assert.ok(commands.includes(node), `disco#items lists ${node}: ${commands}`);
      }

      const token = s.conversations.deviceToken();
      const first = await registerAndEnable(stack, user, token);
      assert.equal(first.jid, PUSH_DOMAIN);
      await messageFromBob(stack, user, "hi");
      await waitForLogCount(stack, "pushed", 1);
      assert.equal(s.conversations.messages.length, 1, "exactly one FCM message");
      assert.equal(s.conversations.sendRequests.length, 1);
      assertConversationsWakeup(s.conversations.messages[0], token, user);
      // The access token came from the project's token endpoint for a JWT it verified.
      assert.deepEqual(s.conversations.tokenRequests.map((r) => r.status), [200]);
      assert.equal(s.conversations.messages[0].accessToken, s.conversations.issuedTokens[0]);
      assert.equal(s.quicksy.counters.sends, 0, "the other project got nothing");

      // FCM hands out a new token: Conversations registers again (and enables again).
      const newToken = s.conversations.deviceToken();
      const second = await registerAndEnable(stack, user, newToken);
      assert.deepEqual(second, first, "node and secret are kept across a token change");
      await messageFromBob(stack, user, "hi");
      await waitForLogCount(stack, "pushed", 2);
      assert.equal(s.conversations.messages.length, 2);
      assertConversationsWakeup(s.conversations.messages[1], newToken, user);
      assert.ok(!stack.logger.text().includes(first.secret), "the secret was logged");
      assert.ok(!stack.logger.text().includes(token.slice(0, 30)), "a token was logged");
    },
  },
  {
    name: "one WNS and two FCM apps: the command's resource picks the app, each user is " +
      "pushed through their own app's Firebase project, the UWPX device through WNS; an " +
      "unknown app is item-not-found",
    users: ["alice", "carol", "dave"],
    async fn(s, alice, carol, dave) {
      const { stack } = s;
      await userSession(stack, alice, async (client) => {
        await assert.rejects(
          client.request(registerIq("token-x", `${PUSH_DOMAIN}/no-such-app`)),
          (error: { condition?: string; type?: string }) =>
            error.condition === "item-not-found" && error.type === "cancel",
        );
      });
      const aliceToken = s.conversations.deviceToken();
      const carolToken = s.quicksy.deviceToken();
      await registerAndEnable(stack, alice, aliceToken); // no resource: the default app
      await registerAndEnable(stack, carol, carolToken, `${PUSH_DOMAIN}/${OTHER_APP}`);
      // dave uses UWPX: his device registers over the device protocol, he enables its node.
      const accountId = randomHexId();
      const { answer } = await stack.registerDevice(randomHexId(), [accountId]);
      const [account] = answer.accounts as { node: string; secret: string }[];
      await userSession(
        stack,
        dave,
        (client) =>
          client.enablePush({ jid: PUSH_DOMAIN, node: account.node, secret: account.secret }),
      );

      await messageFromBob(stack, alice, "hi");
      await messageFromBob(stack, carol, "hi");
      await messageFromBob(stack, dave, "hi");
      await waitForLogCount(stack, "pushed", 3);
      assert.equal(s.conversations.messages.length, 1);
      assertConversationsWakeup(s.conversations.messages[0], aliceToken, alice);
      assert.equal(s.quicksy.messages.length, 1);
      assertWakeup(s.quicksy.messages[0], {
        token: carolToken,
        user: carol,
        android: { priority: "HIGH", ttl: "600s" }, // quicksy: collapse off
      });
      // Each project's token endpoint verified its own service account's assertion.
      for (const fake of [s.conversations, s.quicksy]) {
        assert.equal(fake.tokenRequests[0]?.claims?.iss, fake.serviceAccount.client_email);
      }
      assert.equal(stack.wns.received.length, 1);
      assert.equal(JSON.parse(stack.wns.received[0].body).account_id, accountId);
    },
  },
  {
    name: "unregister stops pushes; the user's server hears item-not-found",
    users: ["alice"],
    async fn(s, user) {
      const { stack } = s;
      const { node } = await registerAndEnable(stack, user, s.conversations.deviceToken());
      await userSession(stack, user, async (client) => {
        const answer = await client.request(unregisterIq());
        assert.equal(answer.attrs.type, "result");
        assert.equal(answer.getChild("command", NS_COMMANDS)?.attrs.action, "complete");
        await assert.rejects(
          client.request(unregisterIq()),
          (error: { condition?: string }) => error.condition === "item-not-found",
        );
      });
      await messageFromBob(stack, user, "hi");
      await stack.waitForLog("publish refused", { outcome: "unknown-node" });
      await waitUntilHeard(s, { user, node }, "cancel", "item-not-found");
      assert.equal(s.conversations.counters.sends, 0, "no push after unregistering");
    },
  },
  {
    name: "UNREGISTERED: the user's server hears item-not-found (ejabberd drops the " +
      "registration), the token is forgotten; registering again works and pushes again",
    users: ["alice"],
    async fn(s, user) {
      const { stack } = s;
      const token = s.conversations.deviceToken();
      const first = await registerAndEnable(stack, user, token);
      s.conversations.failAlways(token, "UNREGISTERED");
      await messageFromBob(stack, user, "hi");
      await waitUntilHeard(s, { user, node: first.node }, "cancel", "item-not-found");
      await stack.waitForLog("push target gone: registration ended");
      assert.equal(s.conversations.counters.sends, 1, "a dead token is not retried");
      assert.equal(s.conversations.counters.delivered, 0);
      assert.equal(
        await stack.server.store.findNode(first.node, Date.now()),
        null,
        "the registration ended",
      );

      // Conversations registers again at its next login (here with the same token, which
      // FCM takes again): neither the forgotten address nor the ended registration's id
      // stands in the way.
      s.conversations.heal(token);
      const again = await registerAndEnable(stack, user, token);
      assert.notEqual(again.node, first.node, "a new registration, with a new node");
      await assertBobWakesUp(s, user, token);
    },
  },
  {
    name: "QUOTA_EXCEEDED with Retry-After: the user's server hears wait, the registration " +
      "is kept, a later push arrives",
    users: ["alice"],
    async fn(s, user) {
      const { stack } = s;
      const token = s.conversations.deviceToken();
      const answer = await registerAndEnable(stack, user, token);
      s.conversations.failNext(token, "QUOTA_EXCEEDED", { "Retry-After": "2" });
      await messageFromBob(stack, user, "hi");
      const throttledAt = Date.now();
      await waitUntilHeard(s, { user, node: answer.node }, "wait", "resource-constraint");
      assert.equal(s.conversations.counters.sends, 1, "a quota error is not retried at once");
      assert.notEqual(await stack.server.store.findNode(answer.node, Date.now()), null, "kept");

      // Once the Retry-After has passed, the next message is pushed.
      await new Promise((resolve) => setTimeout(resolve, throttledAt + 2_200 - Date.now()));
      await assertBobWakesUp(s, user, token);
    },
  },
  {
    name: "outage: FCM answering 503, then unreachable: the user's server hears wait " +
      "(after the retries), the registration is kept, pushes resume",
    users: ["alice"],
    async fn(s, user) {
      const { stack } = s;
      const token = s.conversations.deviceToken();
      const answer = await registerAndEnable(stack, user, token);
      // 503 UNAVAILABLE with Retry-After: 10, over the longest pause between attempts: FCM
      // asked for a longer pause than a publish may wait, so no retry.
      s.conversations.outage("UNAVAILABLE", 60_000);
      await messageFromBob(stack, user, "hi");
      await waitUntilHeard(s, { user, node: answer.node }, "wait", "internal-server-error");
      assert.deepEqual(s.conversations.sendRequests.map((r) => r.status), [503]);
      s.conversations.reset();
      // Within those 10 s the token is left alone: the next message is answered wait (throttled)
      // without a request to FCM.
      const throttled = () =>
        metricSample(stack, "uwpx_push_publishes_total", { outcome: "throttled" });
      const throttledBefore = await throttled();
      await messageFromBob(stack, user, "hi");
      await waitUntil(
        async () => (await throttled()) === throttledBefore + 1,
        "the Retry-After to be honoured (a throttled publish)",
      );
      assert.deepEqual(s.conversations.sendRequests, []);

      // Unreachable: every attempt fails to connect; retried, then wait. (The phone has a new
      // token meanwhile, which no Retry-After holds back; node and secret stay.)
      const newToken = s.conversations.deviceToken();
      assert.deepEqual(await registerAndEnable(stack, user, newToken), answer);
      s.fcm.proxies[APP].cut();
      await messageFromBob(stack, user, "hi");
      const unanswered = () =>
        metricSample(stack, "uwpx_push_service_responses_total", {
          service: "fcm",
          app: APP,
          status: "none",
        });
      await waitUntil(
        async () => (await unanswered()) === CONVERSATIONS_MAX_ATTEMPTS,
        `${CONVERSATIONS_MAX_ATTEMPTS} attempts without answer`,
      );
      await stack.waitForLog("push failed", { service: "fcm", app: APP, retryable: true });
      assert.notEqual(await stack.server.store.findNode(answer.node, Date.now()), null, "kept");

      // FCM is back: the next message is pushed.
      s.fcm.proxies[APP].restore();
      await assertBobWakesUp(s, user, newToken);
    },
  },
];

for (const kit of KITS) {
  const storage = kit.kind === "ejabberd" ? "Redis" : "SQLite";
  Deno.test({
    name: `${kit.kind} component, ${storage}: Conversations' registration by command and FCM`,
    ...serverTestGate(kit.kind === "ejabberd" ? "ejabberdctl" : "prosody"),
    async fn(t) {
      const componentSecret = crypto.randomUUID();
      const xmppServer = await startXmppServer(kit.kind, componentSecret);
      let redis: RunningRedis | undefined;
      try {
        if (kit.kind === "ejabberd") redis = await startRedis();
        const users = new Set(["bob"]);
        const named = scenarios.map((scenario, i) => scenario.users.map((user) => `${user}${i}`));
        for (const list of named) for (const user of list) users.add(user);
        await Promise.all([...users].map((user) => xmppServer.registerUser(user, `${user}-pw`)));
        for (const [i, scenario] of scenarios.entries()) {
          await t.step(scenario.name, async () => {
            const fcm = await startFcmProjects(APPS);
            let stack: PushStack | undefined;
            try {
              stack = await startPushStack({
                shared: { xmppServer, componentSecret },
                apps: fcm.apps,
                // A database of its own per scenario.
                ...(redis ? { dbUrl: `${redis.url}/${i}` } : {}),
              });
              const stage = {
                stack,
                fcm,
                kit,
                conversations: fcm.fakes[APP],
                quicksy: fcm.fakes[OTHER_APP],
              };
              await scenario.fn(stage, ...named[i]);
            } catch (error) {
              throw await failureWithLogs(error, kit.kind, xmppServer, stack);
            } finally {
              await stack?.stop();
              await fcm.close();
            }
          });
        }
      } finally {
        await redis?.stop();
        await xmppServer.stop();
      }
    },
  });
}
