import assert from "node:assert/strict";
import selfsigned from "selfsigned";
import * as jose from "jose";
import webpush from "web-push";
import { WebPushSender } from "../../../../adapters/push/webpush/web_push_sender.ts";
import type { WebPushMessage } from "../../../../adapters/push/webpush/web_push_sender.ts";
import {
  type AddressResolver,
  EndpointPolicy,
} from "../../../../adapters/push/webpush/endpoint_policy.ts";
import { VapidAuthorizer } from "../../../../adapters/push/webpush/vapid_authorizer.ts";
import { VapidKeys } from "../../../../adapters/push/webpush/vapid_keys.ts";
import { loadSubscription } from "../../../../adapters/push/webpush/subscription.ts";
import { topicFor } from "../../../../adapters/push/webpush/topic.ts";
import {
  type FakePushService,
  startFakePushService,
} from "../../../../adapters/push/webpush/fake_push_service.ts";
import type { PushOutcome } from "../../../../adapters/push/webpush/push_outcome.ts";
import { testCertificate } from "../../../support/tls_cert.ts";

const PAYLOAD = new TextEncoder().encode('{"account":"acc-1","messages":2,"presences":0}');
const keys = await VapidKeys.generate();

/** Test DNS: the names the tests use, all on loopback; nothing else resolves. */
const LOOPBACK_DNS: AddressResolver = (hostname) =>
  ["localhost", "push.test", "evil.test"].includes(hostname)
    ? Promise.resolve([{ address: "127.0.0.1", family: 4 }])
    : Promise.reject(new Error("ENOTFOUND"));

interface Setup {
  fake: FakePushService;
  sender: WebPushSender;
  authorizer: VapidAuthorizer;
  message(endpoint: string, extra?: Partial<WebPushMessage>): Promise<WebPushMessage>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function setup(
  options: {
    allowPrivate?: boolean;
    allowHttp?: boolean;
    tls?: boolean;
    timeoutMs?: number;
    maxSocketsPerHost?: number;
    fakeHostname?: string;
    cert?: { cert: string; key: string };
  } = {},
): Promise<Setup> {
  const tls = options.tls === false ? undefined : options.cert ?? await testCertificate();
  const fake = await startFakePushService({ tls, hostname: options.fakeHostname ?? "localhost" });
  const authorizer = new VapidAuthorizer({ keys, subject: "mailto:ops@push.example" });
  const sender = new WebPushSender({
    policy: new EndpointPolicy({
      allowPrivate: options.allowPrivate ?? true,
      allowHttp: options.allowHttp ?? false,
      resolve: LOOPBACK_DNS,
    }),
    authorizer,
    timeoutMs: options.timeoutMs ?? 5000,
    maxSocketsPerHost: options.maxSocketsPerHost,
    caCerts: tls ? [tls.cert] : undefined,
  });
  return {
    fake,
    sender,
    authorizer,
    async message(endpoint, extra = {}) {
      const json = fake.subscribe().json;
      return {
        subscription: await loadSubscription({ ...json, endpoint }),
        payload: PAYLOAD,
        ttlSeconds: 3600,
        ...extra,
      };
    },
    async [Symbol.asyncDispose]() {
      sender.close();
      await fake.close();
    },
  };
}

/** A subscription of the fake bound to our VAPID key, as the sender gets it. */
async function subscribed(fake: FakePushService) {
  const made = fake.subscribe({ vapidKey: keys.publicKey });
  return { made, subscription: await loadSubscription(made.json) };
}

Deno.test("sender: a push is delivered, decrypted by http_ece, JWT verified by jose", async () => {
  await using s = await setup();
  const { made, subscription } = await subscribed(s.fake);
  const topic = await topicFor("acc-1@example.org");
  assert.match(topic, /^[A-Za-z0-9_-]{32}$/);
  const outcome = await s.sender.send({
    subscription,
    payload: PAYLOAD,
    ttlSeconds: 600,
    urgency: "high",
    topic,
  });
  assert.deepEqual(outcome, { kind: "delivered", status: 201 });
  const [message] = await s.fake.waitForMessages(1, 5000);
  assert.equal(message.endpoint, made.endpoint);
  assert.deepEqual(message.plaintext, PAYLOAD);
  const headers = new Map(message.headers);
  assert.equal(headers.get("ttl"), "600");
  assert.equal(headers.get("urgency"), "high");
  assert.equal(headers.get("topic"), topic);
  assert.equal(headers.get("content-encoding"), "aes128gcm");
  assert.equal(headers.get("content-type"), "application/octet-stream");
  assert.equal(headers.get("host"), `localhost:${s.fake.port}`);
  assert.equal(message.claims.aud, s.fake.origin);
  assert.equal(message.claims.sub, "mailto:ops@push.example");
  const exp = message.claims.exp!;
  assert.ok(exp > Date.now() / 1000 && exp <= Date.now() / 1000 + 24 * 3600);
  const k = /, k=([A-Za-z0-9_-]+)$/.exec(headers.get("authorization")!)![1];
  assert.equal(k, keys.publicKey);
  assert.equal(
    jose.decodeProtectedHeader(/t=([^,]+),/.exec(headers.get("authorization")!)![1]).alg,
    "ES256",
  );

  // Default urgency is normal; no topic header without a topic; the JWT is reused.
  assert.equal(
    (await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 0 })).kind,
    "delivered",
  );
  const second = new Map((await s.fake.waitForMessages(2, 5000))[1].headers);
  assert.equal(second.get("urgency"), "normal");
  assert.equal(second.get("ttl"), "0");
  assert.equal(second.has("topic"), false);
  assert.equal(s.authorizer.signatures, 1);
});

Deno.test("sender: every answer maps to its outcome", async () => {
  await using s = await setup();
  const now = Date.now();
  const httpDate = new Date(now + 120_000).toUTCString();
  const cases: Array<
    [{ status: number; headers?: Record<string, string> }, (o: PushOutcome) => void]
  > = [
    [{ status: 200 }, (o) => assert.deepEqual(o, { kind: "delivered", status: 200 })],
    [{ status: 202 }, (o) => assert.deepEqual(o, { kind: "delivered", status: 202 })],
    [{ status: 404 }, (o) => assert.deepEqual(o, { kind: "gone", status: 404 })],
    [{ status: 410 }, (o) => assert.deepEqual(o, { kind: "gone", status: 410 })],
    [{ status: 413 }, (o) => assert.deepEqual(o, { kind: "too-large", status: 413 })],
    [
      { status: 429, headers: { "Retry-After": "30" } },
      (o) => assert.deepEqual(o, { kind: "throttled", status: 429, retryAfterMs: 30_000 }),
    ],
    [
      { status: 429, headers: { "Retry-After": httpDate } },
      (o) => {
        assert.equal(o.kind, "throttled");
        const ms = (o as { retryAfterMs: number }).retryAfterMs;
        // HTTP-dates have whole seconds; allow for the test's own run time.
        assert.ok(ms > 100_000 && ms <= 120_000, String(ms));
      },
    ],
    [
      { status: 429 },
      (o) => assert.deepEqual(o, { kind: "throttled", status: 429, retryAfterMs: null }),
    ],
    [
      { status: 503, headers: { "Retry-After": "5" } },
      (o) =>
        assert.deepEqual(o, {
          kind: "retryable",
          status: 503,
          reason: "server-error",
          retryAfterMs: 5000,
        }),
    ],
    [
      { status: 500 },
      (o) =>
        assert.deepEqual(o, {
          kind: "retryable",
          status: 500,
          reason: "server-error",
          retryAfterMs: null,
        }),
    ],
    [{ status: 502 }, (o) => assert.equal(o.kind, "retryable")],
    [
      { status: 400 },
      (o) => assert.deepEqual(o, { kind: "final", status: 400, reason: "request refused" }),
    ],
    [{ status: 401 }, (o) => assert.equal(o.kind === "final" && /VAPID/.test(o.reason), true)],
    [{ status: 403 }, (o) => assert.equal(o.kind === "final" && /VAPID/.test(o.reason), true)],
  ];
  for (const [answer, expect] of cases) {
    const { made, subscription } = await subscribed(s.fake);
    s.fake.answerNext(made.endpoint, answer);
    expect(await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }));
  }
  assert.equal(s.fake.requests.length, cases.length);
});

Deno.test("sender: real refusals of the fake map too (unsubscribed, wrong VAPID key)", async () => {
  await using s = await setup();
  const { made, subscription } = await subscribed(s.fake);
  s.fake.unsubscribe(made.endpoint);
  assert.deepEqual(await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }), {
    kind: "gone",
    status: 410,
  });
  const other = s.fake.subscribe({ vapidKey: (await VapidKeys.generate()).publicKey });
  const outcome = await s.sender.send({
    subscription: await loadSubscription(other.json),
    payload: PAYLOAD,
    ttlSeconds: 60,
  });
  assert.equal(outcome.kind, "final");
  assert.equal((outcome as { status: number }).status, 403);
});

Deno.test("sender: a slow push service times out, a cut answer and a closed port are network failures", async () => {
  // 2 s, not less: the later sends here open new TLS connections, which a loaded machine may
  // take hundreds of milliseconds for; the delayed answer below still proves the bound.
  await using s = await setup({ timeoutMs: 2_000 });
  const { made, subscription } = await subscribed(s.fake);
  // Answered only after 10 s: a timeout outcome proves the 2 s bound held.
  s.fake.delayNext(made.endpoint, 10_000);
  assert.deepEqual(await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }), {
    kind: "retryable",
    status: null,
    reason: "timeout",
    retryAfterMs: null,
  });

  s.fake.resetNext(made.endpoint);
  const cut = await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 });
  assert.deepEqual(cut, { kind: "retryable", status: null, reason: "network", retryAfterMs: null });

  // After both, the same subscription works again.
  assert.equal(
    (await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 })).kind,
    "delivered",
  );

  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const refused = await s.sender.send({
    subscription: { ...subscription, endpoint: `https://localhost:${closedPort}/push/x` },
    payload: PAYLOAD,
    ttlSeconds: 60,
  });
  assert.deepEqual(refused, {
    kind: "retryable",
    status: null,
    reason: "network",
    retryAfterMs: null,
  });
});

Deno.test("sender: the answer body is read only up to the bound", async () => {
  await using s = await setup({ timeoutMs: 10_000 });
  const { made, subscription } = await subscribed(s.fake);
  // An endless body: reading it all would end in the timeout instead of the status.
  s.fake.answerNext(made.endpoint, { status: 201, body: "endless" });
  assert.deepEqual(await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }), {
    kind: "delivered",
    status: 201,
  });
  s.fake.answerNext(made.endpoint, { status: 500, body: new Uint8Array(200_000) });
  assert.equal(
    (await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 })).kind,
    "retryable",
  );
  assert.equal(
    (await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 })).kind,
    "delivered",
  );
});

Deno.test("sender: an address that cannot be reached is skipped: the host's next address gets the push", async () => {
  await using s = await setup();
  const { made, subscription } = await subscribed(s.fake);
  // The fake listens on 127.0.0.1 only: on 127.0.0.2 its port refuses connections, as a
  // push service's IPv6 address without a route or a node that is down would.
  const resolved: string[] = [];
  const twoAddresses: AddressResolver = (hostname) => {
    resolved.push(hostname);
    return Promise.resolve([
      { address: "127.0.0.2", family: 4 },
      { address: "127.0.0.2", family: 4 }, // listed twice (one per socket type): tried once
      { address: "127.0.0.1", family: 4 },
    ]);
  };
  const sender = new WebPushSender({
    policy: new EndpointPolicy({ allowPrivate: true, resolve: twoAddresses }),
    authorizer: s.authorizer,
    timeoutMs: 5000,
    caCerts: [(await testCertificate()).cert],
  });
  try {
    assert.ok(made.endpoint.startsWith("https://localhost:"));
    assert.deepEqual(await sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }), {
      kind: "delivered",
      status: 201,
    });
    assert.equal((await s.fake.waitForMessages(1, 5000)).length, 1);
    assert.deepEqual(resolved, ["localhost"]);

    // No address answers: a network failure (retryable), within the push's time.
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const started = performance.now();
    const nowhere = await sender.send({
      subscription: { ...subscription, endpoint: `https://localhost:${closedPort}/push/x` },
      payload: PAYLOAD,
      ttlSeconds: 60,
    });
    assert.deepEqual(nowhere, {
      kind: "retryable",
      status: null,
      reason: "network",
      retryAfterMs: null,
    });
    assert.ok(performance.now() - started < 5000);
  } finally {
    sender.close();
  }
});

Deno.test("sender: a slow answer on a reached address is waited for, not taken for an unreachable one", async () => {
  await using s = await setup();
  const { made, subscription } = await subscribed(s.fake);
  const reachedFirst: AddressResolver = () =>
    Promise.resolve([{ address: "127.0.0.1", family: 4 }, { address: "127.0.0.3", family: 4 }]);
  const sender = new WebPushSender({
    policy: new EndpointPolicy({ allowPrivate: true, resolve: reachedFirst }),
    authorizer: s.authorizer,
    // The first address gets half of it to connect (1.5 s); the answer takes longer.
    timeoutMs: 3000,
    caCerts: [(await testCertificate()).cert],
  });
  try {
    s.fake.delayNext(made.endpoint, 2000);
    assert.deepEqual(await sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }), {
      kind: "delivered",
      status: 201,
    });
    assert.equal(s.fake.counters.accepted, 1);
  } finally {
    sender.close();
  }
});

Deno.test("sender: redirects are not followed, not even to loopback", async () => {
  await using s = await setup();
  await using target = await startFakePushService({
    tls: await testCertificate(),
    hostname: "localhost",
  });
  const inner = target.subscribe({ vapidKey: keys.publicKey });
  const { made, subscription } = await subscribed(s.fake);
  for (const status of [301, 302, 307, 308]) {
    s.fake.answerNext(made.endpoint, { status, headers: { Location: inner.endpoint } });
    assert.deepEqual(await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }), {
      kind: "final",
      status,
      reason: "redirect (not followed)",
    });
  }
  assert.equal(target.counters.requests, 0);
});

Deno.test("sender: SSRF tricks are refused before any byte is sent", async () => {
  // The strict policy: no private addresses, https only.
  await using s = await setup({ allowPrivate: false });
  const { made } = await subscribed(s.fake);
  const path = new URL(made.endpoint).pathname;
  const port = s.fake.port;
  const cases: Array<[string, string]> = [
    [`http://localhost:${port}${path}`, "not-https"],
    [`https://user:pw@localhost:${port}${path}`, "credentials"],
    [`https://localhost:${port}${path}#x`, "fragment"],
    [`https://localhost:${port}${path}`, "forbidden-address"], // resolves to 127.0.0.1
    [`https://evil.test:${port}${path}`, "forbidden-address"], // ditto, public-looking name
    [`https://127.0.0.1:${port}${path}`, "forbidden-address"],
    [`https://[::1]:${port}${path}`, "forbidden-address"],
    [`https://[::ffff:127.0.0.1]:${port}${path}`, "forbidden-address"],
    [`https://2130706433:${port}${path}`, "forbidden-address"],
    [`https://0x7f000001:${port}${path}`, "forbidden-address"],
    [`https://localhost:${port}/${"a".repeat(1000)}`, "too-long"],
  ];
  const subscription = await loadSubscription(made.json);
  for (const [endpoint, reason] of cases) {
    assert.deepEqual(
      await s.sender.send({
        subscription: { ...subscription, endpoint },
        payload: PAYLOAD,
        ttlSeconds: 60,
      }),
      { kind: "refused", reason },
      endpoint.slice(0, 60),
    );
  }
  // A name that does not resolve may resolve later: retryable, not refused.
  assert.deepEqual(
    await s.sender.send({
      subscription: { ...subscription, endpoint: "https://nowhere.test/p" },
      payload: PAYLOAD,
      ttlSeconds: 60,
    }),
    { kind: "retryable", status: null, reason: "unresolvable", retryAfterMs: null },
  );
  assert.equal(s.fake.counters.requests, 0);
});

Deno.test("sender: connects to the checked address, SNI and Host stay the hostname", async () => {
  // `push.test` resolves only through the test's resolver; the system cannot resolve it, so
  // a second resolution would fail. The certificate is for push.test only.
  const pems = await selfsigned.generate([{ name: "commonName", value: "push.test" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "push.test" }] }],
  });
  await using s = await setup({
    fakeHostname: "push.test",
    cert: { cert: pems.cert, key: pems.private },
  });
  const { made, subscription } = await subscribed(s.fake);
  assert.ok(made.endpoint.startsWith("https://push.test:"));
  assert.deepEqual(await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }), {
    kind: "delivered",
    status: 201,
  });
  const [message] = await s.fake.waitForMessages(1, 5000);
  assert.equal(new Map(message.headers).get("host"), `push.test:${s.fake.port}`);
  assert.equal(message.claims.aud, `https://push.test:${s.fake.port}`);
});

Deno.test("sender: a certificate that does not match the hostname fails", async () => {
  // The fake's certificate is for localhost; the endpoint says push.test.
  await using s = await setup({ fakeHostname: "push.test" });
  const { subscription } = await subscribed(s.fake);
  assert.deepEqual(await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 }), {
    kind: "retryable",
    status: null,
    reason: "network",
    retryAfterMs: null,
  });
  assert.equal(s.fake.counters.requests, 0);
});

Deno.test("sender: plain HTTP only with allowHttp", async () => {
  await using s = await setup({ tls: false, allowHttp: true });
  const { subscription } = await subscribed(s.fake);
  assert.equal(
    (await s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 })).kind,
    "delivered",
  );
  const [message] = await s.fake.waitForMessages(1, 5000);
  assert.equal(message.claims.aud, s.fake.origin);
  assert.ok(s.fake.origin.startsWith("http://localhost:"));
});

Deno.test("sender: too large a payload is an outcome, bad headers a caller error", async () => {
  await using s = await setup();
  const { subscription } = await subscribed(s.fake);
  assert.deepEqual(
    await s.sender.send({ subscription, payload: new Uint8Array(3994), ttlSeconds: 60 }),
    { kind: "too-large", status: null },
  );
  assert.equal(
    (await s.sender.send({ subscription, payload: new Uint8Array(3993), ttlSeconds: 60 })).kind,
    "delivered",
  );
  assert.equal((await s.fake.waitForMessages(1, 5000))[0].bodyBytes, 4096);
  await assert.rejects(
    s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: -1 }),
    RangeError,
  );
  await assert.rejects(
    s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 1.5 }),
    RangeError,
  );
  await assert.rejects(
    s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 1, topic: "x".repeat(33) }),
    RangeError,
  );
  await assert.rejects(
    s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 1, topic: "a+b" }),
    RangeError,
  );
  assert.equal(s.fake.counters.requests, 1);
});

Deno.test("sender: concurrent pushes to many subscriptions all arrive intact", async () => {
  await using s = await setup();
  const subs = await Promise.all(Array.from({ length: 40 }, () => subscribed(s.fake)));
  const outcomes = await Promise.all(subs.map(({ subscription }, i) =>
    s.sender.send({
      subscription,
      payload: new TextEncoder().encode(`{"n":${i}}`),
      ttlSeconds: 60,
    })
  ));
  assert.ok(outcomes.every((o) => o.kind === "delivered"));
  const messages = await s.fake.waitForMessages(40, 10_000);
  const byEndpoint = new Map(messages.map((m) => [m.endpoint, m.text]));
  subs.forEach(({ made }, i) => assert.equal(byEndpoint.get(made.endpoint), `{"n":${i}}`));
});

Deno.test("sender: VAPID keys made by web-push's generateVAPIDKeys sign accepted pushes", async () => {
  const made = webpush.generateVAPIDKeys();
  const tls = await testCertificate();
  await using fake = await startFakePushService({ tls, hostname: "localhost" });
  const sender = new WebPushSender({
    policy: new EndpointPolicy({ allowPrivate: true, resolve: LOOPBACK_DNS }),
    authorizer: new VapidAuthorizer({
      keys: await VapidKeys.load(made),
      subject: "https://push.example/contact",
    }),
    caCerts: [tls.cert],
  });
  try {
    const bound = fake.subscribe({ vapidKey: made.publicKey });
    const outcome = await sender.send({
      subscription: await loadSubscription(bound.json),
      payload: PAYLOAD,
      ttlSeconds: 60,
    });
    assert.deepEqual(outcome, { kind: "delivered", status: 201 });
    assert.equal(
      (await fake.waitForMessages(1, 5000))[0].claims.sub,
      "https://push.example/contact",
    );
  } finally {
    sender.close();
  }
});

Deno.test("sender: at most maxSocketsPerHost requests in flight to one push service", async () => {
  await using s = await setup({ maxSocketsPerHost: 2 });
  const subs = await Promise.all(Array.from({ length: 6 }, () => subscribed(s.fake)));
  for (const { made } of subs) s.fake.delayNext(made.endpoint, 300);
  const started = performance.now();
  const outcomes = await Promise.all(
    subs.map(({ subscription }) =>
      s.sender.send({ subscription, payload: PAYLOAD, ttlSeconds: 60 })
    ),
  );
  assert.ok(outcomes.every((o) => o.kind === "delivered"));
  // Six 300 ms answers over two connections take at least three rounds.
  assert.ok(performance.now() - started >= 850, `${performance.now() - started} ms`);
});

Deno.test("sender: a resolver that never answers ends in the timeout", async () => {
  await using fake = await startFakePushService();
  const sender = new WebPushSender({
    policy: new EndpointPolicy({ resolve: () => new Promise(() => {}) }),
    authorizer: new VapidAuthorizer({ keys, subject: "mailto:a@b.c" }),
    timeoutMs: 200,
  });
  try {
    const { keys: receiver } = await loadSubscription(fake.subscribe().json);
    assert.deepEqual(
      await sender.send({
        subscription: { endpoint: "https://slow-dns.example/p", keys: receiver },
        payload: PAYLOAD,
        ttlSeconds: 60,
      }),
      { kind: "retryable", status: null, reason: "timeout", retryAfterMs: null },
    );
  } finally {
    sender.close();
  }
});

Deno.test("WebPushSender.sendEncrypted: relays a body as it is; empty or oversized bodies are not sent", async () => {
  await using s = await setup({ allowPrivate: true });
  const subscription = s.fake.subscribe();
  const body = new Uint8Array(
    webpush.encrypt(
      subscription.json.keys.p256dh,
      subscription.json.keys.auth,
      "relayed",
      "aes128gcm",
    )
      .cipherText,
  );
  const authorization = await s.authorizer.authorization(s.fake.origin);
  const base = { endpoint: subscription.endpoint, authorization, ttlSeconds: 60 };
  assert.equal((await s.sender.sendEncrypted({ ...base, body })).kind, "delivered");
  assert.equal(s.fake.received[0].text, "relayed");
  for (const size of [0, 4097]) {
    assert.deepEqual(await s.sender.sendEncrypted({ ...base, body: new Uint8Array(size) }), {
      kind: "too-large",
      status: null,
    });
  }
  assert.equal(s.fake.requests.length, 1);
  // The same endpoint policy: not https, nothing sent.
  assert.deepEqual(
    await s.sender.sendEncrypted({ ...base, body, endpoint: "http://localhost/push/x" }),
    { kind: "refused", reason: "not-https" },
  );
});
