/**
 * The push server as the real UWPX client meets it, over its lifetime: the client's exact
 * bytes and read loop (`tests/support/uwpx_client.ts`), lower-case ids, one connection per
 * request, and an injected clock that lets months pass. On SQLite and on Redis; the users'
 * server is the fake XEP-0114 server here (the e2e suites do the same against Prosody and
 * ejabberd).
 */

import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import { largestAccountsAnswerBytes } from "../../adapters/device/device_protocol.ts";
import tls from "node:tls";
import { serverTestGate } from "../support/prosody.ts";
import { testCertificate } from "../support/tls_cert.ts";
import { FakeClock } from "../support/fakes.ts";
import { startRedis } from "../support/redis.ts";
import { type LoopbackStack, PUSH_DOMAIN, startLoopbackStack } from "../support/loopback_stack.ts";
import {
  CLIENT_READ_SIZE,
  clientAccountId,
  clientRequestBytes,
  UwpxClient,
} from "../support/uwpx_client.ts";

const DAY = 24 * 60 * 60 * 1000;
const redisGate = serverTestGate("redis-server");

interface Answered {
  account_id: string;
  node: string;
  secret: string;
  success: boolean;
}

/** What a test gets: the stack, its clock, and the client as a device uses it. */
interface Scene {
  readonly stack: LoopbackStack;
  readonly clock: FakeClock;
  readonly client: UwpxClient;
}

type Store = "sqlite" | "redis";

/** One test per store, each with a fresh stack whose clock starts at the real time. */
function lifecycle(name: string, fn: (scene: Scene) => Promise<void>): void {
  for (const store of ["sqlite", "redis"] as const satisfies readonly Store[]) {
    Deno.test({
      name: `real client (${store}): ${name}`,
      ...(store === "redis" ? redisGate : {}),
      async fn() {
        const redis = store === "redis" ? await startRedis() : undefined;
        // Real time as the start: Redis drops keys by its own clock, so expiries must lie
        // in the real future.
        const clock = new FakeClock(Date.now());
        let stack: LoopbackStack | undefined;
        try {
          stack = await startLoopbackStack({
            configure: (json) => {
              if (redis) json.db = { url: redis.url };
            },
            overrides: { clock },
          });
          const client = new UwpxClient({
            hostname: "127.0.0.1",
            port: stack.server.devices.addr.port,
            caCert: stack.cert,
          });
          await fn({ stack, clock, client });
        } finally {
          await stack?.stop();
          await redis?.stop();
        }
      },
    });
  }
}

function condition(answer: Element): string | null {
  if (answer.attrs.type !== "error") return null;
  const error = answer.getChild("error")!;
  const cond = error.getChildElements().find((c: Element) => c.name !== "text");
  return `${error.attrs.type}/${cond?.name}`;
}

/** The client's first registration: a channel, then its accounts, each on a connection. */
async function registerLikeClient(scene: Scene, jids: readonly string[]) {
  const deviceId = crypto.getRandomValues(new Uint8Array(32)).toHex();
  const channelUri = scene.stack.wns.channelUri();
  const set = await scene.client.setChannelUri(deviceId, channelUri);
  assert.deepEqual(set.answer, { version: 2, action: "response", status: 1 });
  const accountIds = await Promise.all(jids.map((jid) => clientAccountId(deviceId, jid)));
  const { answer } = await scene.client.setPushAccounts(deviceId, accountIds);
  assert.equal(answer.status, 1, JSON.stringify(answer));
  const accounts = answer.accounts as Answered[];
  assert.deepEqual(
    accounts.map((a) => [a.account_id, a.success]),
    accountIds.map((id) => [id, true]),
  );
  return { deviceId, channelUri, accounts };
}

Deno.test("the client's request bytes: indented JSON, CRLF line ends, one NUL", () => {
  const bytes = clientRequestBytes({ version: 2, action: "request_test_push", device_id: "ab" });
  assert.equal(
    new TextDecoder().decode(bytes),
    '{\r\n  "version": 2,\r\n  "action": "request_test_push",\r\n  "device_id": "ab"\r\n}\0',
  );
});

Deno.test("the client's read loop cuts an answer that arrives in two pieces (so the tests can fail)", async () => {
  const { cert, key } = await testCertificate();
  const answer = new TextEncoder().encode(JSON.stringify({ status: 1, pad: "x".repeat(6000) }));
  const server = tls.createServer({ cert, key }, (socket) => {
    socket.once("data", () => {
      // A first piece that is not a whole number of 4096-byte loads, the rest a bit later.
      socket.write(answer.subarray(0, 5000));
      setTimeout(() => socket.end(answer.subarray(5000)), 100);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as { port: number };
    const client = new UwpxClient({ hostname: "127.0.0.1", port, caCert: cert });
    await assert.rejects(client.send({ version: 2, action: "x" }), SyntaxError);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

lifecycle("the client's own request bytes (fixtures) are answered as it expects", async (scene) => {
  const fixture = (name: string) =>
    Deno.readFileSync(new URL(`../fixtures/client/${name}`, import.meta.url));
  const channel = fixture("set_channel_uri.request.bin");
  // Indented, CRLF, one NUL at the end, lower-case ids.
  assert.equal(channel.at(-1), 0);
  assert.ok(new TextDecoder().decode(channel).startsWith('{\r\n  "version": 2,\r\n'));
  // The fixture's channel is a real WNS host; this stack accepts only the fake's.
  const refused = await scene.client.sendBytes(channel);
  assert.deepEqual(refused.answer, {
    version: 2,
    action: "response",
    status: 0,
    error: "channel_uri is not a WNS channel URI",
  });
  const deviceId = "5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b";
  const channelUri = scene.stack.wns.channelUri();
  assert.equal((await scene.client.setChannelUri(deviceId, channelUri)).answer.status, 1);
  const accounts = await scene.client.sendBytes(fixture("set_push_accounts.request.bin"));
  assert.equal(accounts.answer.status, 1);
  assert.deepEqual((accounts.answer.accounts as Answered[]).map((a) => a.account_id), [
    "dadbbb9327c711e4b626f7820fb299871d23d6020683bbd1e08d37e0246c7e90",
    "16ecab1875791e2b6ed0c9a6dae5a12a79d92120e1c3afbd3a9c8535ce44666d",
  ]);
  assert.deepEqual(accounts.loads.length, 1, "a small answer in one load");
  const test = await scene.client.sendBytes(fixture("request_test_push.request.bin"));
  assert.deepEqual(test.answer, { version: 2, action: "response", status: 1 });
  assert.deepEqual(scene.stack.wns.received.map((r) => r.channelUri), [channelUri]);
});

lifecycle("64 accounts arrive whole through the 4096-byte read loop", async (scene) => {
  const deviceId = crypto.getRandomValues(new Uint8Array(32)).toHex();
  await scene.client.setChannelUri(deviceId, scene.stack.wns.channelUri());
  const jids = Array.from({ length: 64 }, (_, i) => `user${i}@example.org`);
  const ids = await Promise.all(jids.map((jid) => clientAccountId(deviceId, jid)));
  assert.ok(ids.every((id) => /^[0-9a-f]{64}$/.test(id)));
  const { answer, loads } = await scene.client.setPushAccounts(deviceId, ids);
  assert.equal(answer.status, 1, JSON.stringify(answer));
  assert.equal(answer.push_bare_jid, PUSH_DOMAIN);
  const accounts = answer.accounts as Answered[];
  assert.deepEqual(accounts.map((a) => a.account_id), ids, "every account, echoed exactly");
  assert.ok(accounts.every((a) => a.success === true));
  // More than two full loads: the client read every byte, and stopped at the short last one.
  assert.ok(loads.length >= 3, `loads: ${loads}`);
  assert.ok(loads.slice(0, -1).every((n) => n === CLIENT_READ_SIZE), `loads: ${loads}`);
  assert.ok(loads.at(-1)! < CLIENT_READ_SIZE);
  const total = loads.reduce((a, b) => a + b, 0);
  assert.ok(total <= largestAccountsAnswerBytes(64, PUSH_DOMAIN), `${total} bytes`);

  // One more than the limit: a clear error, whole (status 0: the client tries again later).
  const more = [...ids, await clientAccountId(deviceId, "one-too-many@example.org")];
  const refused = await scene.client.setPushAccounts(deviceId, more);
  assert.deepEqual(refused.answer, {
    version: 2,
    action: "response",
    status: 0,
    error:
      "invalid field accounts: too many accounts: this push server takes at most 64 per device",
  });
});

lifecycle(
  "accounts registered once survive 200 days of pushes and a channel change",
  async (scene) => {
    const { stack, clock, client } = scene;
    const { deviceId, accounts } = await registerLikeClient(scene, ["alice@example.org"]);
    const [account] = accounts;
    // A push every 10 days; the client sends nothing (its account list never changes).
    for (let day = 10; day <= 200; day += 10) {
      clock.advance(10 * DAY);
      const answer = await stack.publish(account.node, account.secret);
      assert.equal(condition(answer), null, `day ${day}`);
    }
    assert.equal(stack.wns.received.length, 20);
    // Past 210 days after the registration: alive only because the pushes renewed it.
    clock.advance(15 * DAY);
    assert.equal(condition(await stack.publish(account.node, account.secret)), null, "day 215");
    // WNS gives the device a new channel: set_channel_uri alone, and pushes go there.
    clock.advance(15 * DAY);
    const moved = stack.wns.channelUri();
    assert.equal((await client.setChannelUri(deviceId, moved)).answer.status, 1);
    assert.equal(condition(await stack.publish(account.node, account.secret)), null);
    assert.equal(stack.wns.received.at(-1)?.channelUri, moved);
    assert.deepEqual(JSON.parse(stack.wns.received.at(-1)!.body).account_id, account.account_id);
  },
);

lifecycle("a device silent for longer than the lifetime is purged", async (scene) => {
  const { stack, clock } = scene;
  const { accounts } = await registerLikeClient(scene, ["alice@example.org"]);
  const [account] = accounts;
  clock.advance(209 * DAY);
  assert.equal(condition(await stack.publish(account.node, account.secret)), null);
  // 210 days after that push (its renewal), and nothing since: gone for good.
  clock.advance(210 * DAY + 1);
  assert.equal(
    condition(await stack.publish(account.node, account.secret)),
    "cancel/item-not-found",
  );
  assert.equal(stack.wns.received.length, 1);
});

lifecycle(
  "a gone channel is answered wait; a new channel delivers on the same node",
  async (scene) => {
    const { stack, clock, client } = scene;
    const { deviceId, channelUri, accounts } = await registerLikeClient(scene, [
      "alice@example.org",
      "alice@work.example",
    ]);
    stack.wns.expireChannel(channelUri);
    const [first, second] = accounts;
    const gone = await stack.publish(first.node, first.secret);
    assert.equal(condition(gone), "wait/recipient-unavailable");
    clock.advance(10 * DAY);
    assert.equal(
      condition(await stack.publish(second.node, second.secret)),
      "wait/recipient-unavailable",
    );
    // Nothing was posted to the gone channel after its 410.
    assert.equal(stack.wns.requests.filter((r) => r.path.includes("/channel/")).length, 1);
    // 29 days later the client's daily task gets a new channel; no set_push_accounts.
    clock.advance(19 * DAY);
    const fresh = stack.wns.channelUri();
    assert.equal((await client.setChannelUri(deviceId, fresh)).answer.status, 1);
    for (const account of [first, second]) {
      assert.equal(condition(await stack.publish(account.node, account.secret)), null);
    }
    assert.deepEqual(stack.wns.received.map((r) => r.channelUri), [fresh, fresh]);
    // And the full lifetime is back: 200 days on, still there.
    clock.advance(200 * DAY);
    assert.equal(condition(await stack.publish(first.node, first.secret)), null);
  },
);

lifecycle("the grace period of a gone channel ends in item-not-found", async (scene) => {
  const { stack, clock } = scene;
  const { channelUri, accounts } = await registerLikeClient(scene, ["alice@example.org"]);
  const [account] = accounts;
  stack.wns.expireChannel(channelUri);
  assert.equal(
    condition(await stack.publish(account.node, account.secret)),
    "wait/recipient-unavailable",
  );
  clock.advance(30 * DAY - 1000);
  assert.equal(
    condition(await stack.publish(account.node, account.secret)),
    "wait/recipient-unavailable",
  );
  clock.advance(1000);
  assert.equal(
    condition(await stack.publish(account.node, account.secret)),
    "cancel/item-not-found",
  );
  assert.equal(stack.wns.received.length, 0);
});
