import assert from "node:assert/strict";
import { apnsHeaders } from "../../../../domain/payloads/apns_headers.ts";
import { apnsPayload, MONAL_PAYLOAD_SETTINGS } from "../../../../domain/payloads/apns_payload.ts";
import { goawayReason, Http2ApnsSender } from "../../../../adapters/push/apns/http2_apns_sender.ts";
import type { PushOutcome } from "../../../../adapters/push/apns/push_outcome.ts";
import { startTcpProxy } from "../../../support/tcp_proxy.ts";
import {
  deviceToken,
  KEY_ID,
  monalPush,
  sharedMaterial,
  startRig,
  TEAM_ID,
  TOPIC,
} from "./apns_test_kit.ts";

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("Http2ApnsSender: Monal's push reaches APNs with a verified JWT and the right headers", async () => {
  const rig = await startRig();
  try {
    const token = deviceToken(1);
    const { payload, headers } = monalPush(rig.clock.now());
    const outcome = await rig.sender.send(token, payload, headers);
    assert.equal(outcome.kind, "delivered");
    assert.match((outcome as { id: string }).id, /^[0-9a-f-]{36}$/);
    const [request] = rig.fake.requests;
    assert.equal(request.method, "POST");
    assert.equal(request.path, `/3/device/${token}`);
    assert.deepEqual(request.jwt, {
      kid: KEY_ID,
      iss: TEAM_ID,
      iat: Math.floor(rig.clock.now() / 1000),
    });
    assert.equal(request.headers["apns-topic"], TOPIC);
    assert.equal(request.headers["apns-push-type"], "alert");
    assert.equal(request.headers["apns-priority"], "10");
    assert.equal(
      request.headers["apns-expiration"],
      String(Math.floor(rig.clock.now() / 1000) + 3600),
    );
    assert.deepEqual(JSON.parse(request.body), {
      aps: {
        alert: { title: "New Message", body: "New Message?" },
        sound: "default",
        "mutable-content": 1,
      },
    });
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: a background push goes as background/5 and is accepted", async () => {
  const rig = await startRig();
  try {
    const payload = apnsPayload({ ...MONAL_PAYLOAD_SETTINGS, pushType: "background" }, null);
    const headers = apnsHeaders(payload, {
      topic: TOPIC,
      ttlSeconds: 0,
      collapseId: "xmpp-nobody-push",
    }, rig.clock.now());
    assert.equal((await rig.sender.send(deviceToken(2), payload.json, headers)).kind, "delivered");
    const [request] = rig.fake.requests;
    assert.equal(request.headers["apns-push-type"], "background");
    assert.equal(request.headers["apns-priority"], "5");
    assert.equal(request.headers["apns-expiration"], "0");
    assert.equal(request.headers["apns-collapse-id"], "xmpp-nobody-push");
  } finally {
    await rig.close();
  }
});

/** Every answer of apns.md §5 and the outcome it must give. */
const TABLE: ReadonlyArray<
  readonly [status: number, reason: string | null, expected: Partial<PushOutcome>]
> = [
  [400, "BadDeviceToken", { kind: "token-gone" }],
  [400, "DeviceTokenNotForTopic", { kind: "token-gone" }],
  [410, "Unregistered", { kind: "token-gone" }],
  [410, "ExpiredToken", { kind: "token-gone" }],
  ...[
    "MissingDeviceToken",
    "MissingTopic",
    "BadTopic",
    "TopicDisallowed",
    "BadPriority",
    "BadExpirationDate",
    "BadMessageId",
    "BadCollapseId",
    "DuplicateHeaders",
    "InvalidPushType",
    "PayloadEmpty",
    "SomeFutureReason",
  ].map((reason) => [400, reason, { kind: "failed", retryable: false }] as const),
  ...[
    "InvalidProviderToken",
    "MissingProviderToken",
    "BadCertificate",
    "BadCertificateEnvironment",
    "Forbidden",
  ].map((reason) => [403, reason, { kind: "failed", retryable: false }] as const),
  [404, "BadPath", { kind: "failed", retryable: false }],
  [405, "MethodNotAllowed", { kind: "failed", retryable: false }],
  [413, "PayloadTooLarge", { kind: "failed", retryable: false }],
  [429, "TooManyRequests", { kind: "throttled", retryAfterMs: 600_000 }],
  [429, "TooManyProviderTokenUpdates", {
    kind: "failed",
    retryable: true,
    retryAfterMs: 20 * MINUTE,
  }],
  [500, "InternalServerError", { kind: "failed", retryable: true }],
  [503, "ServiceUnavailable", { kind: "failed", retryable: true }],
  [502, null, { kind: "failed", retryable: true, reason: "HTTP 502" }],
];

Deno.test("Http2ApnsSender: every APNs status and reason maps to its outcome", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    for (const [i, [status, reason, expected]] of TABLE.entries()) {
      const token = deviceToken(100 + i);
      rig.fake.script(token, reason === null ? { status } : { status, reason });
      const outcome = await rig.sender.send(token, payload, headers);
      const label = `${status} ${reason}`;
      for (const [field, value] of Object.entries(expected)) {
        assert.equal((outcome as Record<string, unknown>)[field], value, `${label}: ${field}`);
      }
      assert.equal(outcome.kind === "delivered" ? null : outcome.status, status, label);
      if (reason !== null) assert.equal((outcome as { reason: string }).reason, reason, label);
    }
    // One push each: nothing above was retried.
    assert.equal(rig.fake.counters.requests, TABLE.length);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: 410 carries APNs's timestamp as goneSince", async () => {
  const rig = await startRig();
  try {
    const token = deviceToken(3);
    rig.fake.script(token, { status: 410, reason: "Unregistered", timestamp: 1_700_000_000_123 });
    const { payload, headers } = monalPush(rig.clock.now());
    assert.deepEqual(await rig.sender.send(token, payload, headers), {
      kind: "token-gone",
      status: 410,
      reason: "Unregistered",
      goneSince: 1_700_000_000_123,
    });
    // A token that cannot be hex never leaves the process.
    assert.deepEqual(await rig.sender.send("../../admin", payload, headers), {
      kind: "token-gone",
      status: null,
      reason: "BadDeviceToken",
    });
    assert.equal(rig.fake.counters.requests, 1);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: IdleTimeout and Shutdown reconnect and send once more", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    rig.fake.script(deviceToken(4), { status: 400, reason: "IdleTimeout" }, 1);
    assert.equal((await rig.sender.send(deviceToken(4), payload, headers)).kind, "delivered");
    rig.fake.script(deviceToken(5), { status: 503, reason: "Shutdown" }, 1);
    assert.equal((await rig.sender.send(deviceToken(5), payload, headers)).kind, "delivered");
    assert.equal(rig.fake.counters.connections, 3);
    assert.equal(rig.sender.counters.retries, 2);
    // Always Shutdown: one retry, then the outcome (retryable), no loop.
    rig.fake.script(deviceToken(6), { status: 503, reason: "Shutdown" });
    const outcome = await rig.sender.send(deviceToken(6), payload, headers);
    assert.deepEqual(outcome, { kind: "failed", retryable: true, status: 503, reason: "Shutdown" });
    assert.equal(rig.fake.requests.filter((r) => r.token === deviceToken(6)).length, 2);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: 403 ExpiredProviderToken renews the JWT once and retries", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    assert.equal((await rig.sender.send(deviceToken(7), payload, headers)).kind, "delivered");
    rig.clock.t += 21 * MINUTE; // the JWT is still ours to reuse (renewal is at 45 min)
    rig.fake.script(deviceToken(8), { status: 403, reason: "ExpiredProviderToken" }, 1);
    const { payload: p2, headers: h2 } = monalPush(rig.clock.now());
    assert.equal((await rig.sender.send(deviceToken(8), p2, h2)).kind, "delivered");
    const iats = rig.fake.requests.map((r) => r.jwt?.iat);
    const first = Math.floor((rig.clock.t - 21 * MINUTE) / 1000);
    assert.deepEqual(iats, [first, first, first + 21 * 60]);
    assert.equal(rig.token.counters.forcedRenewals, 1);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: a JWT APNs finds older than an hour: no renewal within 20 minutes of signing, an outcome", async () => {
  // Our clock is 61 minutes behind APNs's: every JWT we make looks expired.
  const rig = await startRig({ fakeClockOffsetMs: 61 * MINUTE });
  try {
    const { payload, headers } = monalPush(rig.clock.now() + 61 * MINUTE);
    const outcome = await rig.sender.send(deviceToken(9), payload, headers);
    assert.deepEqual(outcome, {
      kind: "failed",
      retryable: false,
      status: 403,
      reason: "ExpiredProviderToken",
    });
    // The JWT was signed just now: another one within 20 minutes would earn a 429.
    assert.equal(rig.fake.counters.requests, 1);
    await rig.sender.send(deviceToken(9), payload, headers);
    assert.equal(rig.fake.counters.requests, 2);
    assert.deepEqual(rig.token.counters, { signed: 1, forcedRenewals: 0, refusedRenewals: 2 });
    // 20 minutes on, one renewal is tried (and found expired too): still an outcome.
    rig.clock.t += 20 * MINUTE;
    await rig.sender.send(deviceToken(9), payload, headers);
    assert.equal(rig.fake.counters.requests, 4);
    assert.deepEqual(rig.token.counters, { signed: 2, forcedRenewals: 1, refusedRenewals: 2 });
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: TooManyProviderTokenUpdates retires the connection", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    rig.fake.script(deviceToken(10), { status: 429, reason: "TooManyProviderTokenUpdates" }, 1);
    assert.equal((await rig.sender.send(deviceToken(10), payload, headers)).kind, "failed");
    assert.equal((await rig.sender.send(deviceToken(10), payload, headers)).kind, "delivered");
    assert.equal(rig.fake.counters.connections, 2);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: 200 concurrent pushes share one multiplexed connection", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    const tokens = Array.from({ length: 200 }, (_, i) => deviceToken(1000 + i));
    for (const token of tokens) rig.fake.script(token, { status: 200, delayMs: 200 });
    const outcomes = await Promise.all(tokens.map((t) => rig.sender.send(t, payload, headers)));
    assert.ok(outcomes.every((o) => o.kind === "delivered"));
    assert.equal(rig.fake.counters.connections, 1);
    assert.equal(rig.sender.counters.connections, 1);
    // Many streams were open at once on it (a loaded machine may stagger them a little).
    assert.ok(
      rig.fake.counters.maxConcurrentStreamsSeen >= 50,
      `${rig.fake.counters.maxConcurrentStreamsSeen} streams at once`,
    );
    assert.equal(rig.fake.counters.jwtVerifications, 1);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: the server's SETTINGS_MAX_CONCURRENT_STREAMS and ours are respected", async () => {
  for (const [serverLimit, ourLimit, expected] of [[5, 1000, 5], [1000, 3, 3]] as const) {
    const rig = await startRig({
      fake: { maxConcurrentStreams: serverLimit },
      sender: { maxConcurrentStreams: ourLimit },
    });
    try {
      const { payload, headers } = monalPush(rig.clock.now());
      const tokens = Array.from({ length: 30 }, (_, i) => deviceToken(2000 + i));
      // Answers held long enough that a loaded machine still opens the streams meanwhile.
      for (const token of tokens) rig.fake.script(token, { status: 200, delayMs: 200 });
      const outcomes = await Promise.all(tokens.map((t) => rig.sender.send(t, payload, headers)));
      assert.ok(outcomes.every((o) => o.kind === "delivered"), JSON.stringify(outcomes));
      // The limit is used (one less allowed when a loaded machine staggers the pushes) and
      // never exceeded; nothing refused, nothing sent twice.
      const seen = rig.fake.counters.maxConcurrentStreamsSeen;
      assert.ok(seen <= expected && seen >= expected - 1, `${seen} streams at once`);
      assert.equal(rig.sender.counters.retries, 0);
      assert.equal(rig.fake.counters.requests, tokens.length);
      assert.equal(rig.fake.counters.connections, 1);
    } finally {
      await rig.close();
    }
  }
});

Deno.test("Http2ApnsSender: pushes beyond the queue bound fail at once (retryable)", async () => {
  const rig = await startRig({ sender: { maxConcurrentStreams: 1, maxQueued: 2 } });
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    rig.fake.script(deviceToken(11), { status: 200, delayMs: 100 });
    const pending = [1, 2, 3].map(() => rig.sender.send(deviceToken(11), payload, headers));
    const refused = await rig.sender.send(deviceToken(11), payload, headers);
    assert.deepEqual(refused, {
      kind: "failed",
      retryable: true,
      status: null,
      reason: "too many pushes waiting for APNs",
    });
    assert.ok((await Promise.all(pending)).every((o) => o.kind === "delivered"));
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: after GOAWAY the next push opens a new connection", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    assert.equal((await rig.sender.send(deviceToken(12), payload, headers)).kind, "delivered");
    rig.fake.goawayAll();
    // Until the GOAWAY is in (a fixed pause may be too short on a loaded machine).
    const deadline = Date.now() + 10_000;
    while (rig.sender.counters.goaways === 0 && Date.now() < deadline) await sleep(10);
    assert.equal((await rig.sender.send(deviceToken(12), payload, headers)).kind, "delivered");
    assert.equal(rig.fake.counters.connections, 2);
    assert.equal(rig.sender.counters.goaways, 1);
    assert.equal(rig.sender.counters.retries, 0);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: a stream cut by GOAWAY or refused is sent again, once", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    rig.fake.script(deviceToken(13), { goaway: true }, 1);
    assert.equal((await rig.sender.send(deviceToken(13), payload, headers)).kind, "delivered");
    rig.fake.script(deviceToken(14), { reset: "refused" }, 1);
    assert.equal((await rig.sender.send(deviceToken(14), payload, headers)).kind, "delivered");
    assert.equal(rig.sender.counters.retries, 2);
    // Refused every time: an outcome after one retry.
    rig.fake.script(deviceToken(15), { reset: "refused" });
    const outcome = await rig.sender.send(deviceToken(15), payload, headers);
    assert.equal(outcome.kind, "failed");
    assert.equal((outcome as { retryable: boolean }).retryable, true);
    assert.equal(rig.fake.requests.filter((r) => r.token === deviceToken(15)).length, 2);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: a late answer times out; an idle connection is closed and reopened", async () => {
  const rig = await startRig({ sender: { requestTimeoutMs: 300, idleTimeoutMs: 500 } });
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    rig.fake.script(deviceToken(16), { status: 200, delayMs: 3000 }, 1);
    const started = performance.now();
    assert.deepEqual(await rig.sender.send(deviceToken(16), payload, headers), {
      kind: "failed",
      retryable: true,
      status: null,
      reason: "APNs did not answer in time",
    });
    assert.ok(performance.now() - started < 2500);
    assert.equal(rig.sender.counters.timeouts, 1);
    // One slow stream on a live connection: the PING after the timeout is answered, the
    // connection stays.
    await sleep(200);
    assert.equal(rig.sender.counters.deadConnections, 0);
    assert.equal(rig.fake.openConnections, 1);
    // Idle for longer than 500 ms: the sender closes its connection.
    const deadline = Date.now() + 5000;
    while (rig.fake.openConnections > 0 && Date.now() < deadline) await sleep(100);
    assert.equal(rig.fake.openConnections, 0);
    assert.equal((await rig.sender.send(deviceToken(17), payload, headers)).kind, "delivered");
    assert.equal(rig.fake.counters.connections, 2);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: a connection that went silent is dropped after one timeout, and pushes resume on a new one", async () => {
  const rig = await startRig();
  const proxy = startTcpProxy(Number(new URL(rig.fake.url).port));
  const sender = new Http2ApnsSender({
    environment: "production",
    providerToken: rig.token,
    baseUrl: `https://127.0.0.1:${proxy.port}`,
    caCerts: [rig.fake.caCert],
    requestTimeoutMs: 400,
  });
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    assert.equal((await sender.send(deviceToken(40), payload, headers)).kind, "delivered");
    // A NAT forgets the connection: bytes go nowhere, no FIN, no RST.
    proxy.freeze();
    const outcome = await sender.send(deviceToken(41), payload, headers);
    assert.equal(outcome.kind, "failed");
    assert.equal((outcome as { reason: string }).reason, "APNs did not answer in time");
    // Its PING goes unanswered too: the connection is dropped, not kept for the next push.
    const deadline = Date.now() + 5000;
    while (sender.counters.deadConnections === 0 && Date.now() < deadline) await sleep(50);
    assert.equal(sender.counters.deadConnections, 1);
    proxy.restore();
    assert.equal((await sender.send(deviceToken(42), payload, headers)).kind, "delivered");
    assert.equal(sender.counters.connections, 2);
    assert.equal(rig.fake.requests.filter((r) => r.token === deviceToken(42)).length, 1);
  } finally {
    await sender.close();
    await proxy.close();
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: each request keeps its own deadline among answered ones", async () => {
  const rig = await startRig({ sender: { requestTimeoutMs: 400 } });
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    rig.fake.script(deviceToken(30), { status: 200, delayMs: 3000 }, 1);
    rig.fake.script(deviceToken(32), { status: 200, delayMs: 3000 }, 1);
    // Answered at once, before and after the late ones' deadlines (and the connection open).
    assert.equal((await rig.sender.send(deviceToken(31), payload, headers)).kind, "delivered");
    const late = rig.sender.send(deviceToken(30), payload, headers);
    await sleep(150);
    const later = rig.sender.send(deviceToken(32), payload, headers);
    const started = performance.now();
    assert.equal((await late).kind, "failed");
    assert.equal((await rig.sender.send(deviceToken(33), payload, headers)).kind, "delivered");
    assert.equal((await later).kind, "failed");
    // The second late one waited for its own deadline, not the first one's.
    assert.ok(performance.now() - started >= 300);
    assert.equal(rig.sender.counters.timeouts, 2);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: no server, or a server we do not trust: failed, retryable", async () => {
  const rig = await startRig();
  const { payload, headers } = monalPush(rig.clock.now());
  const url = rig.fake.url;
  // Trusting only some other CA (the leaf's own certificate is not a CA).
  const untrusting = new Http2ApnsSender({
    environment: "production",
    providerToken: rig.token,
    baseUrl: url,
    caCerts: [(await sharedMaterial())[0].cert],
    connectTimeoutMs: 3000,
  });
  try {
    const outcome = await untrusting.send(deviceToken(18), payload, headers);
    assert.equal(outcome.kind, "failed");
    assert.equal((outcome as { retryable: boolean }).retryable, true);
    assert.match((outcome as { reason: string }).reason, /^cannot connect to APNs/);
    assert.equal(rig.fake.counters.requests, 0);
  } finally {
    await untrusting.close();
    await rig.close();
  }
  const gone = new Http2ApnsSender({
    environment: "sandbox",
    providerToken: rig.token,
    baseUrl: url,
    caCerts: [rig.fake.caCert],
    connectTimeoutMs: 3000,
  });
  try {
    const outcome = await gone.send(deviceToken(19), payload, headers);
    assert.equal(outcome.kind, "failed");
    assert.match((outcome as { reason: string }).reason, /^cannot connect to APNs/);
  } finally {
    await gone.close();
  }
});

Deno.test("Http2ApnsSender: the fake refuses fpush's 1970 expiration and unknown topics", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    const fpushStyle = { ...headers, "apns-expiration": "2419200" };
    assert.deepEqual(await rig.sender.send(deviceToken(20), payload, fpushStyle), {
      kind: "failed",
      retryable: false,
      status: 400,
      reason: "BadExpirationDate",
    });
    const otherTopic = { ...headers, "apns-topic": "org.other.app" };
    assert.equal(
      (await rig.sender.send(deviceToken(20), payload, otherTopic) as { reason: string }).reason,
      "TopicDisallowed",
    );
    const big = JSON.stringify({ aps: { alert: "x".repeat(5000) } });
    assert.equal(
      (await rig.sender.send(deviceToken(20), big, headers) as { reason: string }).reason,
      "PayloadTooLarge",
    );
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: an answer body larger than APNs ever sends is cut off", async () => {
  const rig = await startRig();
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    rig.fake.script(deviceToken(21), { status: 400, reason: "Bad".repeat(2000) });
    const outcome = await rig.sender.send(deviceToken(21), payload, headers);
    assert.equal(outcome.kind, "failed");
    assert.equal((outcome as { reason: string }).reason, "APNs answer too large");
    assert.equal((outcome as { retryable: boolean }).retryable, true);
    // The connection is still good for the next push.
    assert.equal((await rig.sender.send(deviceToken(22), payload, headers)).kind, "delivered");
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: production and sandbox hosts, https only", () => {
  const providerToken = {
    current: () => Promise.resolve(""),
    renewAfterExpired: () => Promise.resolve(null),
  };
  const origin = (options: Partial<ConstructorParameters<typeof Http2ApnsSender>[0]>) =>
    new Http2ApnsSender({ environment: "production", providerToken, ...options }).origin;
  assert.equal(origin({}), "https://api.push.apple.com");
  assert.equal(origin({ environment: "sandbox" }), "https://api.sandbox.push.apple.com");
  assert.equal(origin({ baseUrl: "https://127.0.0.1:8443/" }), "https://127.0.0.1:8443");
  assert.throws(() => origin({ baseUrl: "http://127.0.0.1:8080" }), RangeError);
  assert.throws(() => origin({ maxConcurrentStreams: 0 }), RangeError);
});

Deno.test("Http2ApnsSender: close lets the running push finish and fails the waiting ones", async () => {
  const rig = await startRig({ sender: { maxConcurrentStreams: 1 } });
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    rig.fake.script(deviceToken(23), { status: 200, delayMs: 200 });
    const running = rig.sender.send(deviceToken(23), payload, headers);
    const waiting = [1, 2].map(() => rig.sender.send(deviceToken(23), payload, headers));
    // Until the running push is at the fake (a fixed pause may be too short under load).
    const deadline = Date.now() + 10_000;
    while (rig.fake.counters.requests === 0 && Date.now() < deadline) await sleep(10);
    await rig.sender.close();
    assert.equal((await running).kind, "delivered");
    for (const outcome of await Promise.all(waiting)) {
      assert.deepEqual(outcome, {
        kind: "failed",
        retryable: true,
        status: null,
        reason: "sender closed",
      });
    }
    assert.equal(
      (await rig.sender.send(deviceToken(23), payload, headers) as { reason: string })
        .reason,
      "sender closed",
    );
    assert.equal(rig.fake.counters.requests, 1);
  } finally {
    await rig.close();
  }
});

Deno.test("Http2ApnsSender: after GOAWAY, new pushes go on a new connection at once, not after the old one's slow streams", async () => {
  const rig = await startRig({ sender: { requestTimeoutMs: 10_000 } });
  try {
    const { payload, headers } = monalPush(rig.clock.now());
    assert.equal((await rig.sender.send(deviceToken(50), payload, headers)).kind, "delivered");
    rig.fake.script(deviceToken(51), { status: 200, delayMs: 3000 }, 1);
    const order: string[] = [];
    const slow = rig.sender.send(deviceToken(51), payload, headers).then((outcome) => {
      order.push("slow");
      return outcome;
    });
    let deadline = Date.now() + 10_000;
    while (rig.fake.counters.requests < 2 && Date.now() < deadline) await sleep(10);
    // A graceful GOAWAY: the slow stream is still answered on the old connection.
    rig.fake.goawayAll();
    deadline = Date.now() + 10_000;
    while (rig.sender.counters.goaways === 0 && Date.now() < deadline) await sleep(10);
    const next = await Promise.all(
      [52, 53, 54].map((n) =>
        rig.sender.send(deviceToken(n), payload, headers).then((outcome) => {
          order.push("next");
          return outcome;
        })
      ),
    );
    assert.ok(next.every((o) => o.kind === "delivered"));
    assert.equal((await slow).kind, "delivered");
    assert.deepEqual(order, ["next", "next", "next", "slow"]);
    assert.equal(rig.fake.counters.connections, 2);
    assert.equal(rig.sender.counters.retries, 0);
  } finally {
    await rig.close();
  }
});

Deno.test("goawayReason: Apple's reason from a GOAWAY's JSON, letters only, else null", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  assert.equal(goawayReason(bytes('{"reason":"Shutdown"}')), "Shutdown");
  assert.equal(goawayReason(bytes('{"reason":"IdleTimeout","x":1}')), "IdleTimeout");
  assert.equal(goawayReason(new Uint8Array()), null);
  assert.equal(goawayReason(bytes("not json")), null);
  assert.equal(goawayReason(bytes("null")), null);
  // Whatever the peer sends never reaches a log line unless it is a plain word.
  assert.equal(goawayReason(bytes('{"reason":"a\\nforged: line"}')), null);
  assert.equal(goawayReason(bytes(`{"reason":"${"A".repeat(65)}"}`)), null);
});
