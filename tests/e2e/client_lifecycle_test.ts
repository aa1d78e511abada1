/**
 * The real UWPX client's lifecycle through real Prosody (mod_cloud_notify) and ejabberd
 * (mod_push), on SQLite and on Redis: the client's own bytes and read loop, lower-case ids,
 * one connection per request, and an injected clock that lets months pass. The user
 * enables push once, as the client does, and never again: whatever the user's server drops
 * stays dropped, so a push that arrives later proves the registration was kept. A second
 * device that stays silent past the lifetime is purged.
 */

import assert from "node:assert/strict";
import { serverTestGate } from "../support/prosody.ts";
import { FakeClock } from "../support/fakes.ts";
import { startRedis } from "../support/redis.ts";
import { clientAccountId, UwpxClient } from "../support/uwpx_client.ts";
import { connectUser } from "../support/xmpp_user.ts";
import { PUSH_DOMAIN, type PushStack, startPushStack, type XmppServerKind } from "./push_stack.ts";
import { sample } from "../support/prometheus_text.ts";

const DAY = 24 * 60 * 60 * 1000;

interface Answered {
  account_id: string;
  node: string;
  secret: string;
  success: boolean;
}

const GATES: Record<XmppServerKind, string> = { prosody: "prosody", ejabberd: "ejabberdctl" };

for (const server of ["prosody", "ejabberd"] as const) {
  for (const store of ["sqlite", "redis"] as const) {
    const needs = store === "redis" ? [GATES[server], "redis-server"] : [GATES[server]];
    Deno.test({
      name: `${server} (${store}): the real client's lifecycle`,
      ignore: needs.some((binary) => serverTestGate(binary).ignore),
      async fn() {
        const redis = store === "redis" ? await startRedis() : undefined;
        const clock = new FakeClock(Date.now());
        let stack: PushStack | undefined;
        try {
          stack = await startPushStack({ server, clock, dbUrl: redis?.url });
          await lifecycle(stack, clock, server);
        } catch (error) {
          const logs = stack
            ? `\n--- ${server} log ---\n${await stack.xmppServer.logTail()}` +
              `\n--- push server log ---\n${stack.logger.text()}`
            : "";
          throw new Error(`${(error as Error).message}${logs}`, { cause: error });
        } finally {
          await stack?.stop();
          await redis?.stop();
        }
      },
    });
  }
}

async function lifecycle(stack: PushStack, clock: FakeClock, server: XmppServerKind) {
  const port = stack.xmppServer.c2sPort;
  await stack.xmppServer.registerUser("alice", "alice-pw");
  await stack.xmppServer.registerUser("bob", "bob-pw");
  await stack.xmppServer.registerUser("carol", "carol-pw");
  const client = new UwpxClient({
    hostname: "127.0.0.1",
    port: stack.server.devices.addr.port,
    caCert: stack.cert,
  });
  const bob = async (body: string, to = "alice") => {
    const user = await connectUser({ port, username: "bob", password: "bob-pw" });
    try {
      await user.sendMessage(`${to}@localhost`, body);
    } finally {
      await user.disconnect();
    }
  };
  const pushes = async (n: number) => await stack.wns.waitForPushes(n, 15_000);
  const refused = async (outcome: string, count: number) => {
    const deadline = Date.now() + 15_000;
    // The publish metric, not the log: refusal log lines are sampled.
    const matching = async () =>
      sample(await stack.server.metrics.text(), "uwpx_push_publishes_total", { outcome }) ?? 0;
    while (await matching() < count) {
      if (Date.now() > deadline) throw new Error(`no ${count} publish refused ${outcome}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  /** Whether ejabberd logged dropping `user`'s push registration. */
  const disabled = async (user: string) =>
    (await stack.xmppServer.logTail()).split("\n").some((line) =>
      line.includes(`rejected notification for ${user}@localhost`) &&
      line.includes("disabling push")
    );
  const untilDisabled = async (user: string) => {
    const deadline = Date.now() + 10_000;
    while (!(await disabled(user))) {
      if (Date.now() > deadline) throw new Error(`ejabberd kept ${user}'s dead registration`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  // The client's first start: a channel, then its one account; one connection each.
  const deviceId = crypto.getRandomValues(new Uint8Array(32)).toHex();
  const channel = stack.wns.channelUri();
  assert.equal((await client.setChannelUri(deviceId, channel)).answer.status, 1);
  const accountId = await clientAccountId(deviceId, "alice@localhost");
  const { answer } = await client.setPushAccounts(deviceId, [accountId]);
  assert.equal(answer.status, 1, JSON.stringify(answer));
  assert.equal(answer.push_bare_jid, PUSH_DOMAIN);
  const [account] = answer.accounts as Answered[];
  assert.deepEqual([account.account_id, account.success], [accountId, true]);

  // It enables push once, with what the answer says, and never again.
  const alice = await connectUser({ port, username: "alice", password: "alice-pw" });
  await alice.enablePush({ jid: PUSH_DOMAIN, node: account.node, secret: account.secret });
  await alice.disconnect();

  // carol's device registers too, but is never heard from again and gets no pushes.
  const silentId = crypto.getRandomValues(new Uint8Array(32)).toHex();
  assert.equal((await client.setChannelUri(silentId, stack.wns.channelUri())).answer.status, 1);
  const silentAccount = await clientAccountId(silentId, "carol@localhost");
  const silent = await client.setPushAccounts(silentId, [silentAccount]);
  const [carolAccount] = silent.answer.accounts as Answered[];
  const carol = await connectUser({ port, username: "carol", password: "carol-pw" });
  await carol.enablePush({
    jid: PUSH_DOMAIN,
    node: carolAccount.node,
    secret: carolAccount.secret,
  });
  await carol.disconnect();

  // 200 days of messages; the client sends nothing (its account list never changes).
  for (let round = 1; round <= 4; round++) {
    clock.advance(50 * DAY);
    await bob(`day ${round * 50}`);
    const received = await pushes(round);
    assert.equal(received.at(-1)?.channelUri, channel);
    assert.equal(JSON.parse(received.at(-1)!.body).account_id, accountId);
  }
  // Day 215: past 210 days after the registration, alive because the pushes renewed it.
  clock.advance(15 * DAY);
  await bob("day 215");
  await pushes(5);
  // carol's silent device is gone for good: item-not-found, and her server drops it.
  await bob("to a device silent for 215 days", "carol");
  await refused("unknown-node", 1);
  if (server === "ejabberd") await untilDisabled("carol");

  // WNS gives the device a new channel: set_channel_uri alone.
  clock.advance(10 * DAY);
  const moved = stack.wns.channelUri();
  assert.equal((await client.setChannelUri(deviceId, moved)).answer.status, 1);
  await bob("on the new channel");
  assert.equal((await pushes(6)).at(-1)?.channelUri, moved);

  // The channel expires at WNS: a wait, twice, and nothing posted to it after the 410.
  stack.wns.expireChannel(moved);
  await bob("to a gone channel");
  await stack.waitForLog("channel gone");
  clock.advance(5 * DAY);
  await bob("still gone");
  await refused("channel-gone", 1);
  const posts = stack.wns.requests.filter((r) => r.path.startsWith("/channel/")).length;
  assert.equal(posts, 7, "the gone channel was posted to again");
  if (server === "ejabberd") assert.equal(await disabled("alice"), false, "ejabberd dropped it");

  // Twenty days later the client gets a new channel: the same node delivers again, so the
  // user's server kept the registration through the waits.
  clock.advance(20 * DAY);
  const fresh = stack.wns.channelUri();
  assert.equal((await client.setChannelUri(deviceId, fresh)).answer.status, 1);
  await bob("back again");
  const back = await pushes(7);
  assert.equal(back.at(-1)?.channelUri, fresh);
  assert.equal(JSON.parse(back.at(-1)!.body).account_id, accountId);

  // Gone again, and no new channel within the grace period: the end, item-not-found.
  stack.wns.expireChannel(fresh);
  await bob("gone for good");
  await eventuallyLogged(stack, 2);
  clock.advance(30 * DAY + 1000);
  await bob("after the grace period");
  await refused("unknown-node", 2);
  if (server === "ejabberd") await untilDisabled("alice");
  assert.equal(stack.wns.received.length, 7);
}

/** Waits for the `count`th "channel gone" line. */
async function eventuallyLogged(stack: PushStack, count: number) {
  const deadline = Date.now() + 15_000;
  while (stack.logger.lines.filter((l) => l.message === "channel gone").length < count) {
    if (Date.now() > deadline) throw new Error(`no ${count} "channel gone" lines`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
