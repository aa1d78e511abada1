/**
 * End to end in client mode (the original server's design) against a real Prosody 0.12
 * with c2s TLS required, mod_smacks, mod_cloud_notify and the seed's mod_pep patch: the
 * push server logs in as pushsvc@localhost over STARTTLS (or direct TLS), trusting
 * Prosody's certificate through `xmpp.tls.caFile`; a device registers over TLS, the push
 * server creates and subscribes to a PEP node, the user enables push with it, goes
 * offline, receives a message, and the PubSub event becomes a WNS raw push.
 */

import assert from "node:assert/strict";
import { setupPublish } from "../../adapters/xmpp/pep_provisioner.ts";
import type { ClientLink } from "../../adapters/xmpp/client_link.ts";
import { xml } from "@xmpp/client";
import { serverTestGate, withTimeout } from "../support/prosody.ts";
import {
  type ClientStack,
  type ClientStackOptions,
  PUSH_JID,
  startClientStack,
} from "./client_stack.ts";
import { createHash } from "node:crypto";
import type { Element } from "@xmpp/xml";
import { parseXml } from "../support/parse_xml.ts";
import { assertRawPush } from "./push_stack.ts";

const gate = serverTestGate("prosody");

/** Runs `fn` with a fresh client-mode stack, and always tears it down. */
function e2e(
  name: string,
  fn: (stack: ClientStack) => Promise<void>,
  options: ClientStackOptions = {},
) {
  Deno.test({
    name: `prosody client mode: ${name}`,
    ...gate,
    async fn() {
      const stack = await startClientStack(options);
      try {
        await fn(stack);
      } catch (error) {
        throw new Error(
          `${(error as Error).message}\n--- push server log ---\n${stack.logger.text()}\n` +
            `--- prosody log ---\n${await stack.prosody.logTail()}`,
          { cause: error },
        );
      } finally {
        await stack.stop();
      }
    },
  });
}

interface AccountAnswer {
  account_id: string;
  node: string;
  secret: string;
  success: boolean;
}

/** Registers a device with one account; returns what the device learnt. */
async function registerOne(stack: ClientStack, accountId = randomHexId()) {
  const deviceId = randomHexId();
  const { channelUri, answer } = await stack.registerDevice(deviceId, [accountId]);
  assert.equal(answer.status, 1, JSON.stringify(answer));
  assert.equal(answer.push_bare_jid, PUSH_JID);
  const [account] = answer.accounts as AccountAnswer[];
  assert.equal(account.success, true);
  return { deviceId, channelUri, account };
}

/** alice enables push at the account's node and goes offline. */
async function aliceEnablesPush(stack: ClientStack, account: AccountAnswer) {
  const alice = await stack.user("alice");
  try {
    await alice.enablePush({ jid: PUSH_JID, node: account.node, secret: account.secret });
  } finally {
    await alice.disconnect();
  }
}

/** bob sends alice (offline) a message. */
async function bobWritesToAlice(stack: ClientStack, body = "hello") {
  const bob = await stack.user("bob");
  try {
    await bob.sendMessage("alice@localhost", body);
  } finally {
    await bob.disconnect();
  }
}

/** The whole Prosody log (logTail has only its end). */
function prosodyLog(stack: ClientStack): Promise<string> {
  return Deno.readTextFile(`${stack.prosody.dataDir}/../prosody.log`).catch(() => "");
}

async function waitForProsodyLog(stack: ClientStack, pattern: RegExp, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pattern.test(await prosodyLog(stack))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`prosody never logged ${pattern}`);
}

/**
 * Asserts that what came before pushed nothing to the device: a test push requested now
 * (answered only once WNS took it, behind anything already on its way to the same channel)
 * is the only push the fake WNS ever got. An event with a deadline, not a fixed sleep.
 */
async function assertNothingPushedBefore(stack: ClientStack, deviceId: string) {
  const answer = await withTimeout(stack.testPush(deviceId), 10_000, "the test push");
  assert.equal(answer.status, 1, JSON.stringify(answer));
  const actions = stack.wns.received.map((p) => (JSON.parse(p.body) as { action: string }).action);
  assert.deepEqual(actions, ["test_push"], "something was pushed before the test push");
}

e2e("an offline message becomes a WNS push with the account id and count 1", async (s) => {
  const accountId = randomHexId();
  const { channelUri, account } = await registerOne(s, accountId);
  await aliceEnablesPush(s, account);
  await bobWritesToAlice(s, "top secret body 4711");

  const [push] = await s.wns.waitForPushes(1, 10_000);
  assert.equal(push.channelUri, channelUri);
  assertRawPush(push, accountId, 1);
  await s.waitForLog("pushed");
  for (const text of [push.body, s.logger.text()]) {
    assert.ok(!text.includes("top secret body 4711"), "the message body leaked");
    assert.ok(!text.includes("bob@localhost"), "the sender leaked");
  }
  assert.ok(!s.logger.text().includes(account.node), "a whole node name was logged");
});

e2e("the push account's own publish to a node never becomes a push", async (s) => {
  const { deviceId, account } = await registerOne(s);
  // Publishing the setup item again to the subscribed node makes Prosody send the account
  // the event of its own publish (publisher = pushsvc@localhost), as in the fixture.
  const link = s.server.link as ClientLink;
  const answer = await link.iq(
    xml("iq", { type: "set", id: crypto.randomUUID() }, setupPublish(account.node)),
    5_000,
  );
  assert.equal(answer.attrs.type, "result");
  await s.waitForLog("pubsub event ignored", { reason: "published by the push account itself" });
  await assertNothingPushedBefore(s, deviceId);
});

e2e("a publish to a node the push server does not know never becomes a push", async (s) => {
  // A node on the push account that no registration points to (e.g. left over).
  const link = s.server.link as ClientLink;
  const node = `stray-${randomHexId()}`;
  for (const payload of [setupPublish(node), subscribe(node)]) {
    const answer = await link.iq(
      xml("iq", { type: "set", id: crypto.randomUUID() }, payload),
      5_000,
    );
    assert.equal(answer.attrs.type, "result");
  }
  await aliceEnablesPush(s, { account_id: "x", node, secret: "whatever", success: true });
  await bobWritesToAlice(s);
  await s.waitForLog("publish refused", { outcome: "unknown-node" });
  assert.equal(s.wns.received.length, 0);
});

e2e("removing the account deletes its node: a later publish pushes nothing", async (s) => {
  const { deviceId, account } = await registerOne(s);
  await aliceEnablesPush(s, account);
  const removed = await s.setAccounts(deviceId, []);
  assert.equal(removed.status, 1);
  assert.deepEqual(removed.accounts, []);
  await s.waitForLog("pep nodes provisioned", { removed: 1 });

  await bobWritesToAlice(s);
  // mod_cloud_notify's publish to the deleted node is refused (Prosody: only the owner may
  // create a node, so auth/forbidden).
  await waitForProsodyLog(s, /Got error <(auth:forbidden|cancel:item-not-found):/);
  await assertNothingPushedBefore(s, deviceId);
  // The node is gone from Prosody, not only from the store: no event arrived at all.
  assert.ok(!s.logger.lines.some((l) => l.message === "publish refused"), s.logger.text());
});

e2e("after a Prosody restart the link reconnects by itself and pushes again", async (s) => {
  const accountId = randomHexId();
  const { account } = await registerOne(s, accountId);
  await aliceEnablesPush(s, account);
  await s.prosody.restart();
  await s.waitForLog("xmpp link lost, reconnecting; device requests are still served");
  await withTimeout(s.server.link.whenOnline(), 15_000, "the link coming back");
  await bobWritesToAlice(s);
  const [push] = await s.wns.waitForPushes(1, 10_000);
  assert.equal(JSON.parse(push.body).account_id, accountId);
});

e2e("direct TLS (xmpps://) works as well", async (s) => {
  const accountId = randomHexId();
  const { account } = await registerOne(s, accountId);
  await aliceEnablesPush(s, account);
  await bobWritesToAlice(s);
  const [push] = await s.wns.waitForPushes(1, 10_000);
  assert.equal(JSON.parse(push.body).account_id, accountId);
}, { directTls: true });

function subscribe(node: string) {
  return xml(
    "pubsub",
    { xmlns: "http://jabber.org/protocol/pubsub" },
    xml("subscribe", { node, jid: PUSH_JID }),
  );
}

function randomHexId(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toHex();
}

e2e(
  "with the push account's server away, set_push_accounts fails (status 0), then works",
  async (s) => {
    const deviceId = randomHexId();
    const { answer: first } = await s.registerDevice(deviceId, []);
    assert.equal(first.status, 1);
    const accountIds = [randomHexId(), randomHexId()];
    const ask = () => s.setAccounts(deviceId, accountIds);
    // Prosody goes away: the nodes cannot be set up now, which may pass. Not success false
    // (final for the real client), but an error it sends again at its next start.
    const restarting = s.prosody.restart();
    try {
      await s.waitForLog("xmpp link lost, reconnecting; device requests are still served");
      assert.deepEqual(await ask(), {
        version: 2,
        action: "response",
        status: 0,
        error: "the push service's XMPP server is not available, try again later",
      });
    } finally {
      await restarting;
    }
    await withTimeout(s.server.link.whenOnline(), 15_000, "the link coming back");
    const again = await ask();
    assert.equal(again.status, 1, JSON.stringify(again));
    const accounts = again.accounts as AccountAnswer[];
    assert.deepEqual(accounts.map((a) => [a.account_id, a.success]), [
      [accountIds[0], true],
      [accountIds[1], true],
    ]);
    await aliceEnablesPush(s, accounts[0]);
    await bobWritesToAlice(s);
    const [push] = await s.wns.waitForPushes(1, 10_000);
    assert.equal(JSON.parse(push.body).account_id, accountIds[0]);
  },
);

e2e(
  "Conversations' register-push-fcm to the push account's full JID: a PEP node, one FCM push",
  async (s) => {
    const NS_COMMANDS = "http://jabber.org/protocol/commands";
    const iq = parseXml(
      Deno.readTextFileSync(new URL("../fixtures/p2/register_request.stanza", import.meta.url)),
    );
    // The push account's session: the link binds the resource "uwpx-push".
    iq.attrs.to = `${PUSH_JID}/uwpx-push`;
    delete iq.attrs.from;
    const alice = await s.user("alice");
    let answer: Element;
    try {
      answer = await alice.request(iq);
      const form = answer.getChild("command", NS_COMMANDS)!.getChild("x", "jabber:x:data")!;
      const value = (name: string) =>
        form.getChildren("field").find((f: Element) => f.attrs.var === name)!.getChildText(
          "value",
        );
      assert.equal(value("jid"), PUSH_JID, "the user's server publishes to the push account");
      await alice.enablePush({ jid: value("jid"), node: value("node"), secret: value("secret") });
    } finally {
      await alice.disconnect();
    }
    await bobWritesToAlice(s);
    // The app's fake FCM: one HIGH data message with the hash Conversations computes.
    const [push] = await s.fcm!.fakes.conversations.waitForMessages(1, 10_000);
    const hash = createHash("sha1").update("alice@localhost\u000092afd7a91cdba9a0").digest("hex");
    assert.deepEqual(push.data, { account: hash });
    assert.equal(push.android?.priority, "HIGH");
    assert.match(push.token, /^fS3ntgCBQ2OeGyDh4ykgxa:APA91b/);
  },
  { fcmApps: { conversations: {} } },
);
