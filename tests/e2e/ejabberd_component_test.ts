/**
 * End to end against a real ejabberd 23.01 with mod_push, the push server as its XEP-0114
 * component: a device registers over TLS, its user enables push (XEP-0357), goes offline,
 * receives a message, and the fake WNS gets the raw notification.
 *
 * ejabberd is slow to start (~2 s, each ejabberdctl command ~1 s, far more on a busy
 * machine), so one ejabberd serves every scenario, each a step with its own fresh push
 * stack (fake WNS, push server, SQLite) and its own user "alice<n>": push registrations and
 * offline messages live per user, so no scenario's registrations can answer for another's.
 * The restart scenario runs last.
 */

import assert from "node:assert/strict";
import { serverTestGate, withTimeout } from "../support/prosody.ts";
import { connectUser } from "../support/xmpp_user.ts";
import {
  assertBurstCoalesced,
  assertRawPush,
  PUSH_DOMAIN,
  type PushStack,
  randomHexId,
  sendBurst,
  startPushStack,
  startXmppServer,
} from "./push_stack.ts";

/** One scenario: `alice` is its own user (password `${alice}-pw`); bob is shared. */
type Scenario = (stack: PushStack, alice: string) => Promise<void>;

const scenarios: { name: string; fn: Scenario }[] = [];

/** Adds a scenario; they run in order, as steps of the one test at the end of this file. */
function e2e(name: string, fn: Scenario) {
  scenarios.push({ name, fn });
}

/** `alice` enables push at `target`, goes offline; bob sends her `body`. */
async function offlineMessage(
  stack: PushStack,
  alice: string,
  target: { jid: string; node: string; secret: string },
  body: string,
) {
  const port = stack.xmppServer.c2sPort;
  const user = await connectUser({ port, username: alice, password: `${alice}-pw` });
  await user.enablePush(target);
  await user.disconnect();
  const bob = await connectUser({ port, username: "bob", password: "bob-pw" });
  try {
    await bob.sendMessage(`${alice}@localhost`, body);
  } finally {
    await bob.disconnect();
  }
}

/**
 * Waits until ejabberd logged that it dropped `alice`'s registration after our error reply:
 * mod_push disables a registration at the first error that is not of type `wait`.
 */
async function waitForDisabled(stack: PushStack, alice: string, condition: string) {
  const dropped = (line: string) =>
    line.includes(`${PUSH_DOMAIN} rejected notification for ${alice}@localhost (`) &&
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

e2e("an offline message becomes a WNS raw push with the account id and count", async (s, alice) => {
  const accountId = randomHexId();
  const { channelUri, answer } = await s.registerDevice(randomHexId(), [accountId]);
  assert.equal(answer.status, 1);
  assert.equal(answer.push_bare_jid, PUSH_DOMAIN);
  const [account] = answer.accounts as AccountAnswer[];
  assert.equal(account.success, true);

  await offlineMessage(
    s,
    alice,
    { jid: PUSH_DOMAIN, node: account.node, secret: account.secret },
    "hi",
  );

  const [push] = await s.wns.waitForPushes(1, 10_000);
  assert.equal(push.channelUri, channelUri);
  // ejabberd 23.01's mod_push sends no message-count field. For a message with a body it
  // sends a summary form (type "submit") whose last-message-body is its include_body
  // default, the fixed text "New message" (never the real body): a last-message-* field
  // with a value counts as one message. (A body-less stanza gets no form at all: count 0.)
  assertRawPush(push, accountId, 1);
  await s.waitForLog("pushed");
});

e2e("a wrong secret is refused with auth/forbidden and pushes nothing", async (s, alice) => {
  const { answer } = await s.registerDevice(randomHexId(), [randomHexId()]);
  const [account] = answer.accounts as AccountAnswer[];
  await offlineMessage(s, alice, { jid: PUSH_DOMAIN, node: account.node, secret: "guessed" }, "hi");
  await s.waitForLog("publish refused", { outcome: "forbidden" });
  await waitForDisabled(s, alice, "forbidden (auth)");
  assert.equal(s.wns.received.length, 0);
});

e2e("an unknown node is refused with item-not-found and pushes nothing", async (s, alice) => {
  await s.registerDevice(randomHexId(), [randomHexId()]);
  await offlineMessage(s, alice, { jid: PUSH_DOMAIN, node: "no-such-node", secret: "x" }, "hi");
  await s.waitForLog("publish refused", { outcome: "unknown-node" });
  await waitForDisabled(s, alice, "item-not-found (cancel)");
  assert.equal(s.wns.received.length, 0);
});

/** Waits until ejabberd's log has a line for `alice` that `matches`. */
async function waitForEjabberdLog(
  stack: PushStack,
  alice: string,
  matches: (line: string) => boolean,
  what: string,
) {
  const deadline = Date.now() + 15_000;
  const found = async () =>
    (await stack.xmppServer.logTail()).split("\n").some((line) =>
      line.includes(`${PUSH_DOMAIN} rejected notification for ${alice}@localhost (`) &&
      matches(line)
    );
  while (!(await found())) {
    if (Date.now() > deadline) throw new Error(`ejabberd never logged ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Whether ejabberd logged that it dropped `alice`'s registration. */
async function disabled(stack: PushStack, alice: string): Promise<boolean> {
  return (await stack.xmppServer.logTail()).split("\n").some((line) =>
    line.includes(`rejected notification for ${alice}@localhost (`) &&
    line.includes("disabling push")
  );
}

e2e(
  "a burst of offline messages: every publish answered, merged into fewer pushes",
  async (s, alice) => {
    const accountId = randomHexId();
    const { answer } = await s.registerDevice(randomHexId(), [accountId]);
    const [account] = answer.accounts as AccountAnswer[];
    const user = await connectUser({
      port: s.xmppServer.c2sPort,
      username: alice,
      password: `${alice}-pw`,
    });
    await user.enablePush({ jid: PUSH_DOMAIN, node: account.node, secret: account.secret });
    await user.disconnect();
    await sendBurst(s, "bob", `${alice}@localhost`);
    await assertBurstCoalesced(s, accountId);
    assert.ok(!(await disabled(s, alice)), "ejabberd dropped the registration");
  },
);

e2e("a WNS outage (503) is answered wait: ejabberd keeps the registration", async (s, alice) => {
  const accountId = randomHexId();
  const { channelUri, answer } = await s.registerDevice(randomHexId(), [accountId]);
  const [account] = answer.accounts as AccountAnswer[];
  // Every POST to a channel is answered 503 until the outage is ended below.
  s.wns.outage(503, 120_000);
  await offlineMessage(
    s,
    alice,
    { jid: PUSH_DOMAIN, node: account.node, secret: account.secret },
    "during the outage",
  );
  await s.waitForLog("push failed", undefined, 20_000);
  // ejabberd heard our answer and kept the registration: a wait error is "temporarily".
  await waitForEjabberdLog(s, alice, (line) => line.includes("temporarily"), "a wait answer");
  assert.ok(!(await disabled(s, alice)), "ejabberd dropped the registration on our answer");
  assert.equal(s.wns.received.length, 0);

  // WNS is back: the next message still reaches the device through the same registration.
  s.wns.outage(503, 0);
  const bob = await connectUser({
    port: s.xmppServer.c2sPort,
    username: "bob",
    password: "bob-pw",
  });
  try {
    await bob.sendMessage(`${alice}@localhost`, "after the outage");
  } finally {
    await bob.disconnect();
  }
  const [push] = await s.wns.waitForPushes(1, 15_000);
  assert.equal(push.channelUri, channelUri);
  assertRawPush(push, accountId, 1);
  assert.ok(!(await disabled(s, alice)));
});

e2e("the component reconnects by itself after ejabberd restarts", async (s, alice) => {
  const { answer } = await s.registerDevice(randomHexId(), [randomHexId()]);
  const [account] = answer.accounts as AccountAnswer[];
  await s.xmppServer.restart();
  await s.waitForLog("xmpp link lost, reconnecting; device requests are still served");
  await withTimeout(s.server.link.whenOnline(), 15_000, "the component link coming back");
  await offlineMessage(
    s,
    alice,
    { jid: PUSH_DOMAIN, node: account.node, secret: account.secret },
    "hi",
  );
  await s.wns.waitForPushes(1, 10_000);
});

Deno.test({
  name: "ejabberd component",
  ...serverTestGate("ejabberdctl"),
  async fn(t) {
    const componentSecret = crypto.randomUUID();
    const ejabberd = await startXmppServer("ejabberd", componentSecret);
    try {
      // Each ejabberdctl command boots an Erlang node: all at once is quickest.
      const users = ["bob", ...scenarios.map((_, i) => `alice${i}`)];
      await Promise.all(users.map((user) => ejabberd.registerUser(user, `${user}-pw`)));
      for (const [i, { name, fn }] of scenarios.entries()) {
        await t.step(name, async () => {
          const stack = await startPushStack({ shared: { xmppServer: ejabberd, componentSecret } });
          try {
            await fn(stack, `alice${i}`);
          } catch (error) {
            throw new Error(
              `${(error as Error).message}\n--- ejabberd log ---\n${await ejabberd
                .logTail()}\n--- push server log ---\n${stack.logger.text()}`,
              { cause: error },
            );
          } finally {
            await stack.stop();
          }
        });
      }
    } finally {
      await ejabberd.stop();
    }
  },
});
