/**
 * End to end against a real ejabberd 23.01 with mod_push, the push server as its XEP-0114
 * component: a device registers over TLS, its user enables push (XEP-0357), goes offline,
 * receives a message, and the fake WNS gets the raw notification.
 *
 * Each test gets its own ejabberd (start ~2 s; two ejabberdctl registrations, ~1.3 s in
 * parallel; killed at the end): fresh Mnesia data means no push registration or offline
 * message of an earlier test can answer for a later one.
 */

import assert from "node:assert/strict";
import { serverTestGate, withTimeout } from "../support/prosody.ts";
import { connectUser } from "../support/xmpp_user.ts";
import { PUSH_DOMAIN, type PushStack, randomHexId, startPushStack } from "./push_stack.ts";

const gate = serverTestGate("ejabberdctl");

/** Runs `fn` with a fresh stack on ejabberd and users alice and bob, and always tears it down. */
function e2e(name: string, fn: (stack: PushStack) => Promise<void>) {
  Deno.test({
    name: `ejabberd component: ${name}`,
    ...gate,
    async fn() {
      const stack = await startPushStack({ server: "ejabberd" });
      try {
        await Promise.all([
          stack.xmppServer.registerUser("alice", "alice-pw"),
          stack.xmppServer.registerUser("bob", "bob-pw"),
        ]);
        await fn(stack);
      } catch (error) {
        throw new Error(
          `${(error as Error).message}\n--- ejabberd log ---\n${await stack.xmppServer
            .logTail()}\n--- push server log ---\n${stack.logger.text()}`,
          { cause: error },
        );
      } finally {
        await stack.stop();
      }
    },
  });
}

/** alice enables push at `target`, goes offline; bob sends her `body`. */
async function offlineMessage(
  stack: PushStack,
  target: { jid: string; node: string; secret: string },
  body: string,
) {
  const port = stack.xmppServer.c2sPort;
  const alice = await connectUser({ port, username: "alice", password: "alice-pw" });
  await alice.enablePush(target);
  await alice.disconnect();
  const bob = await connectUser({ port, username: "bob", password: "bob-pw" });
  try {
    await bob.sendMessage("alice@localhost", body);
  } finally {
    await bob.disconnect();
  }
}

/**
 * Waits until ejabberd logged that it dropped alice's registration after our error reply:
 * mod_push disables a registration at the first error that is not of type `wait`.
 */
async function waitForDisabled(stack: PushStack, condition: string) {
  const dropped = (line: string) =>
    line.includes(`${PUSH_DOMAIN} rejected notification for alice@localhost (`) &&
    line.includes(`disabling push: ${condition}`);
  const deadline = Date.now() + 10_000;
  while (!(await stack.xmppServer.logTail()).split("\n").some(dropped)) {
    if (Date.now() > deadline) {
      throw new Error(`ejabberd never logged disabling push: ${condition}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface AccountAnswer {
  account_id: string;
  node: string;
  secret: string;
  success: boolean;
}

e2e("an offline message becomes a WNS raw push with the account id and count", async (s) => {
  const accountId = randomHexId().toUpperCase();
  const { channelUri, answer } = await s.registerDevice(randomHexId(), [accountId]);
  assert.equal(answer.status, 1);
  assert.equal(answer.push_bare_jid, PUSH_DOMAIN);
  const [account] = answer.accounts as AccountAnswer[];
  assert.equal(account.success, true);

  await offlineMessage(s, { jid: PUSH_DOMAIN, node: account.node, secret: account.secret }, "hi");

  const [push] = await s.wns.waitForPushes(1, 10_000);
  assert.equal(push.channelUri, channelUri);
  // ejabberd 23.01's mod_push sends no message-count field. For a message with a body it
  // sends a summary form (type "submit") whose last-message-body is its include_body
  // default, the fixed text "New message" (never the real body): a last-message-* field
  // with a value counts as one message. (A body-less stanza gets no form at all: count 0.)
  assert.deepEqual(JSON.parse(push.body), {
    version: 2,
    action: "push",
    account_id: accountId,
    message_count: 1,
    pending_subscription_count: 0,
  });
  const header = (name: string) => push.headers.find(([k]) => k === name)?.[1];
  assert.equal(header("x-wns-type"), "wns/raw");
  assert.equal(header("content-type"), "application/octet-stream");
  await s.waitForLog("pushed");
});

e2e("a wrong secret is refused with auth/forbidden and pushes nothing", async (s) => {
  const { answer } = await s.registerDevice(randomHexId(), [randomHexId()]);
  const [account] = answer.accounts as AccountAnswer[];
  await offlineMessage(s, { jid: PUSH_DOMAIN, node: account.node, secret: "guessed" }, "hi");
  await s.waitForLog("publish refused", { outcome: "forbidden" });
  await waitForDisabled(s, "forbidden (auth)");
  assert.equal(s.wns.received.length, 0);
});

e2e("an unknown node is refused with item-not-found and pushes nothing", async (s) => {
  await s.registerDevice(randomHexId(), [randomHexId()]);
  await offlineMessage(s, { jid: PUSH_DOMAIN, node: "no-such-node", secret: "x" }, "hi");
  await s.waitForLog("publish refused", { outcome: "unknown-node" });
  await waitForDisabled(s, "item-not-found (cancel)");
  assert.equal(s.wns.received.length, 0);
});

e2e("the component reconnects by itself after ejabberd restarts", async (s) => {
  const { answer } = await s.registerDevice(randomHexId(), [randomHexId()]);
  const [account] = answer.accounts as AccountAnswer[];
  await s.xmppServer.restart();
  await s.waitForLog("xmpp link lost, reconnecting; device requests are still served");
  await withTimeout(s.server.link.whenOnline(), 15_000, "the component link coming back");
  await offlineMessage(s, { jid: PUSH_DOMAIN, node: account.node, secret: account.secret }, "hi");
  await s.wns.waitForPushes(1, 10_000);
});
