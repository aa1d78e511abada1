/**
 * End to end against a real Prosody 0.12 with mod_cloud_notify, the push server as its
 * XEP-0114 component: a device registers over TLS, its user enables push (XEP-0357), goes
 * offline, receives a message, and the fake WNS gets the raw notification.
 */

import assert from "node:assert/strict";
import { type RunningProsody, serverTestGate } from "../support/prosody.ts";
import { connectUser } from "../support/xmpp_user.ts";
import { sample } from "../support/prometheus_text.ts";
import {
  assertBurstCoalesced,
  assertRawPush,
  PUSH_DOMAIN,
  type PushStack,
  randomHexId,
  sendBurst,
  startPushStack,
} from "./push_stack.ts";

const gate = serverTestGate("prosody");

/** Runs `fn` with a fresh stack and users alice and bob, and always tears it down. */
function e2e(name: string, fn: (stack: PushStack) => Promise<void>) {
  Deno.test({
    name: `prosody component: ${name}`,
    ...gate,
    async fn() {
      const stack = await startPushStack();
      try {
        await stack.xmppServer.registerUser("alice", "alice-pw");
        await stack.xmppServer.registerUser("bob", "bob-pw");
        await fn(stack);
      } catch (error) {
        throw new Error(
          `${(error as Error).message}\n--- prosody log ---\n${await stack.xmppServer
            .logTail()}`,
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

interface AccountAnswer {
  account_id: string;
  node: string;
  secret: string;
  success: boolean;
}

e2e("an offline message becomes a WNS raw push with the account id and count", async (s) => {
  const accountId = randomHexId();
  const { channelUri, answer } = await s.registerDevice(randomHexId(), [accountId]);
  assert.equal(answer.status, 1);
  assert.equal(answer.push_bare_jid, PUSH_DOMAIN);
  const [account] = answer.accounts as AccountAnswer[];
  assert.equal(account.success, true);

  await offlineMessage(s, { jid: PUSH_DOMAIN, node: account.node, secret: account.secret }, "hi");

  const [push] = await s.wns.waitForPushes(1, 10_000);
  assert.equal(push.channelUri, channelUri);
  assertRawPush(push, accountId, 1);
  await s.waitForLog("pushed");
});

e2e("message bodies, senders and secrets never reach WNS or the logs", async (s) => {
  const { answer } = await s.registerDevice(randomHexId(), [randomHexId()]);
  const [account] = answer.accounts as AccountAnswer[];
  const body = "top secret message body 4711";
  await offlineMessage(s, { jid: PUSH_DOMAIN, node: account.node, secret: account.secret }, body);
  const [push] = await s.wns.waitForPushes(1, 10_000);
  await s.waitForLog("pushed");
  for (const text of [push.body, s.logger.text()]) {
    assert.ok(!text.includes(body), "the message body leaked");
    assert.ok(!text.includes("bob@localhost"), "the sender leaked");
    assert.ok(!text.includes(account.secret), "the secret leaked");
  }
  assert.ok(!s.logger.text().includes(account.node), "a whole node name was logged");
});

/** Waits until Prosody's log has a line matching `pattern`; returns the whole log. */
async function waitForProsodyLog(stack: PushStack, pattern: RegExp): Promise<string> {
  const path = (stack.xmppServer as RunningProsody).logPath;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const log = await Deno.readTextFile(path).catch(() => "");
    if (pattern.test(log)) return log;
    if (Date.now() > deadline) throw new Error(`prosody never logged ${pattern}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

e2e("a wrong secret is refused with auth/forbidden; Prosody keeps the registration", async (s) => {
  const { answer } = await s.registerDevice(randomHexId(), [randomHexId()]);
  const [account] = answer.accounts as AccountAnswer[];
  await offlineMessage(s, { jid: PUSH_DOMAIN, node: account.node, secret: "guessed" }, "hi");
  await s.waitForLog("publish refused", { outcome: "forbidden" });
  // mod_cloud_notify counts the error and keeps the registration (it drops one only after
  // push_max_errors, 16, errors that are not of type wait)...
  await waitForProsodyLog(
    s,
    /Got error <auth:forbidden:[^>]*> for identifier '[^']+': error count for this identifier is now at 1\b/,
  );
  // ...so the next offline message is published again, and refused again.
  const bob = await connectUser({
    port: s.xmppServer.c2sPort,
    username: "bob",
    password: "bob-pw",
  });
  try {
    await bob.sendMessage("alice@localhost", "again");
  } finally {
    await bob.disconnect();
  }
  const log = await waitForProsodyLog(
    s,
    /Got error <auth:forbidden:[^>]*> for identifier '[^']+': error count for this identifier is now at 2\b/,
  );
  assert.ok(!log.includes("Disabling push notifications"), "Prosody dropped the registration");
  // Refusal log lines are sampled (one per outcome per interval): count the answers instead.
  const refused = sample(await s.server.metrics.text(), "uwpx_push_publishes_total", {
    outcome: "forbidden",
  });
  assert.equal(refused, 2);
  assert.equal(s.wns.received.length, 0);
});

e2e("an unknown node is refused with item-not-found and pushes nothing", async (s) => {
  await s.registerDevice(randomHexId(), [randomHexId()]);
  await offlineMessage(s, { jid: PUSH_DOMAIN, node: "no-such-node", secret: "x" }, "hi");
  await s.waitForLog("publish refused", { outcome: "unknown-node" });
  assert.equal(s.wns.received.length, 0);
});

e2e("a removed account's node stops working at once", async (s) => {
  const deviceId = randomHexId();
  const { answer } = await s.registerDevice(deviceId, [randomHexId()]);
  const [account] = answer.accounts as AccountAnswer[];
  const client = await s.device();
  try {
    const removed = await client.request({
      version: 2,
      action: "set_push_accounts",
      device_id: deviceId,
      accounts: [],
    });
    assert.equal(removed.status, 1);
    assert.deepEqual(removed.accounts, []);
  } finally {
    client.close();
  }
  await offlineMessage(s, { jid: PUSH_DOMAIN, node: account.node, secret: account.secret }, "hi");
  await s.waitForLog("publish refused", { outcome: "unknown-node" });
  assert.equal(s.wns.received.length, 0);
});

e2e("request_test_push reaches the device's channel", async (s) => {
  const deviceId = randomHexId();
  const { channelUri } = await s.registerDevice(deviceId, []);
  const client = await s.device();
  try {
    const answer = await client.request({
      version: 2,
      action: "request_test_push",
      device_id: deviceId,
    });
    assert.deepEqual(answer, { version: 2, action: "response", status: 1 });
  } finally {
    client.close();
  }
  assert.equal(s.wns.received.length, 1);
  assert.equal(s.wns.received[0].channelUri, channelUri);
  assert.deepEqual(JSON.parse(s.wns.received[0].body), { version: 2, action: "test_push" });
});

e2e("a burst of offline messages: every publish answered, merged into fewer pushes", async (s) => {
  const accountId = randomHexId();
  const { answer } = await s.registerDevice(randomHexId(), [accountId]);
  const [account] = answer.accounts as AccountAnswer[];
  const port = s.xmppServer.c2sPort;
  const alice = await connectUser({ port, username: "alice", password: "alice-pw" });
  await alice.enablePush({ jid: PUSH_DOMAIN, node: account.node, secret: account.secret });
  await alice.disconnect();
  await sendBurst(s, "bob", "alice@localhost");
  await assertBurstCoalesced(s, accountId);
  // Prosody heard a result for every publish: no error counted against the registration.
  const log = await Deno.readTextFile((s.xmppServer as RunningProsody).logPath);
  assert.ok(!/Got error </.test(log), "Prosody got an error answer");
});

e2e("the component reconnects by itself after Prosody restarts", async (s) => {
  const { answer } = await s.registerDevice(randomHexId(), [randomHexId()]);
  const [account] = answer.accounts as AccountAnswer[];
  await s.xmppServer.restart();
  await s.waitForLog("xmpp link lost, reconnecting; device requests are still served");
  await s.server.link.whenOnline();
  await offlineMessage(s, { jid: PUSH_DOMAIN, node: account.node, secret: account.secret }, "hi");
  await s.wns.waitForPushes(1, 10_000);
});
