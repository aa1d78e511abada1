import assert from "node:assert/strict";
import webpush from "web-push";
import { type WebPushAppConfig, WebPushAppSchema } from "../../../app/config/webpush_app.ts";
import type { AppDelivery } from "../../../app/wiring/app_delivery.ts";
import type { WebPushAppDelivery } from "../../../app/wiring/webpush_wiring.ts";
import {
  createWebPushApp,
  vapidKeysFor,
  vapidStorageKey,
} from "../../../app/wiring/webpush_wiring.ts";
import type { AddressResolver } from "../../../adapters/push/webpush/endpoint_policy.ts";
import {
  type FakePushService,
  type FakeSubscription,
  startFakePushService,
} from "../../../adapters/push/webpush/fake_push_service.ts";
import { topicFor } from "../../../adapters/push/webpush/topic.ts";
import { formatWebPushAddress } from "../../../adapters/push/webpush/webpush_address.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { NO_METRICS } from "../../../domain/ports/metrics.ts";
import type { Notification } from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import { testCertificate } from "../../support/tls_cert.ts";

const APP = "up";
const PUSH: Notification = {
  kind: "push",
  accountId: "a".repeat(64),
  counts: { messageCount: 3, pendingSubscriptionCount: 1 },
};
const DAY = 86_400;

/** Test DNS: localhost (what the certificate names) is on loopback; nothing else resolves. */
const LOOPBACK_DNS: AddressResolver = (hostname) =>
  hostname === "localhost"
    ? Promise.resolve([{ address: "127.0.0.1", family: 4 }])
    : Promise.reject(new Error("ENOTFOUND"));

interface Response {
  service: string;
  app: string;
  status: number | null;
}

function config(extra: Record<string, unknown> = {}): WebPushAppConfig {
  return WebPushAppSchema.parse({
    service: "webpush",
    vapid: { subject: "mailto:ops@push.example.org" },
    allowPrivateAddresses: true,
    ...extra,
  });
}

function targetOf(subscription: FakeSubscription): PushTarget {
  const { endpoint, keys } = subscription.json;
  return {
    service: "webpush",
    app: APP,
    address: formatWebPushAddress({ endpoint, p256dh: keys.p256dh, auth: keys.auth }),
  };
}

interface Setup {
  fake: FakePushService;
  app: AppDelivery;
  store: MemoryStore;
  responses: Response[];
  logger: RecordingLogger;
  /** A subscription bound to the app's VAPID key, as a browser makes it. */
  subscribe(): FakeSubscription;
  [Symbol.asyncDispose](): Promise<void>;
}

async function setup(extra: Record<string, unknown> = {}, resolve = LOOPBACK_DNS): Promise<Setup> {
  const tls = await testCertificate();
  const fake = await startFakePushService({ tls, hostname: "localhost" });
  const store = new MemoryStore();
  const responses: Response[] = [];
  const logger = new RecordingLogger();
  const metrics = {
    ...NO_METRICS,
    pushServiceResponse(service: string, app: string, status: number | null) {
      responses.push({ service, app, status });
    },
  };
  const clock = { now: () => Date.now() };
  const app = await createWebPushApp(APP, config(extra), { store, clock, logger, metrics }, {
    resolve,
    caCerts: [tls.cert],
  });
  const vapidKey = (await vapidKeysFor(APP, config(extra), store)).publicKey;
  return {
    fake,
    app,
    store,
    responses,
    logger,
    subscribe: () => fake.subscribe({ vapidKey }),
    async [Symbol.asyncDispose]() {
      await app.close();
      await fake.close();
    },
  };
}

Deno.test("createWebPushApp: a push reaches the subscription encrypted and VAPID-signed", async () => {
  await using s = await setup({ ttlSeconds: 3600 });
  assert.equal(s.app.service, "webpush");
  assert.equal(s.app.app, APP);
  const subscription = s.subscribe();
  const outcome = await s.app.delivery.deliver(targetOf(subscription), PUSH, { ttlSeconds: DAY });
  assert.equal(outcome.kind, "delivered");
  const [message] = s.fake.received;
  // http_ece decrypted it with the receiver's key; jose verified the JWT (fake's checks).
  assert.deepEqual(JSON.parse(message.text), {
    v: 1,
    kind: "push",
    account: PUSH.kind === "push" ? PUSH.accountId : "",
    message_count: 3,
    pending_subscription_count: 1,
  });
  assert.equal(message.claims.aud, s.fake.origin);
  assert.equal(message.claims.sub, "mailto:ops@push.example.org");
  const headers = new Map(message.headers);
  // The use case asked a day; the app caps at an hour.
  assert.equal(headers.get("ttl"), "3600");
  assert.equal(headers.get("urgency"), "normal");
  assert.equal(headers.get("topic"), await topicFor("a".repeat(64)));
  assert.deepEqual(s.responses, [{ service: "webpush", app: APP, status: 201 }]);

  // A test push: no topic, TTL 0 as asked, the test payload.
  assert.equal(
    (await s.app.delivery.deliver(targetOf(subscription), { kind: "test" }, { ttlSeconds: 0 }))
      .kind,
    "delivered",
  );
  const test = s.fake.received[1];
  assert.deepEqual(JSON.parse(test.text), { v: 1, kind: "test" });
  assert.equal(new Map(test.headers).get("ttl"), "0");
  assert.equal(new Map(test.headers).has("topic"), false);
  // Never the address in the logs.
  assert.ok(!JSON.stringify(s.logger.lines).includes(subscription.endpoint));
});

Deno.test("createWebPushApp: urgency and topic follow the configuration", async () => {
  await using s = await setup({ urgency: "high", topic: false });
  const subscription = s.subscribe();
  await s.app.delivery.deliver(targetOf(subscription), PUSH, { ttlSeconds: DAY });
  const headers = new Map(s.fake.received[0].headers);
  assert.equal(headers.get("urgency"), "high");
  assert.equal(headers.get("ttl"), String(DAY));
  assert.equal(headers.has("topic"), false);
});

Deno.test("createWebPushApp: 404 and 410 are the target gone", async () => {
  await using s = await setup();
  const gone = s.subscribe();
  s.fake.unsubscribe(gone.endpoint);
  assert.deepEqual(await s.app.delivery.deliver(targetOf(gone), PUSH, { ttlSeconds: DAY }), {
    kind: "target-gone",
    status: 410,
  });
  const unknown = s.subscribe();
  s.fake.answerNext(unknown.endpoint, { status: 404 });
  assert.deepEqual(await s.app.delivery.deliver(targetOf(unknown), PUSH, { ttlSeconds: DAY }), {
    kind: "target-gone",
    status: 404,
  });
});

Deno.test("createWebPushApp: 413 is a clear final error, sent once", async () => {
  await using s = await setup();
  const subscription = s.subscribe();
  s.fake.answerNext(subscription.endpoint, { status: 413 });
  const outcome = await s.app.delivery.deliver(targetOf(subscription), PUSH, { ttlSeconds: DAY });
  assert.deepEqual(outcome, {
    kind: "failed",
    retryable: false,
    status: 413,
    detail: "too large",
  });
  assert.equal(s.fake.requests.length, 1);
});

Deno.test("createWebPushApp: 5xx is retried with backoff, then delivered", async () => {
  await using s = await setup({ maxAttempts: 3 });
  const subscription = s.subscribe();
  s.fake.answerNext(subscription.endpoint, { status: 503 });
  s.fake.answerNext(subscription.endpoint, { status: 500 });
  const started = performance.now();
  const outcome = await s.app.delivery.deliver(targetOf(subscription), PUSH, { ttlSeconds: DAY });
  assert.equal(outcome.kind, "delivered");
  // Two pauses: at least 250 ms and 500 ms (half of 500 ms and 1 s, jittered upwards).
  assert.ok(performance.now() - started >= 700, "retried without backing off");
  assert.deepEqual(s.responses.map((r) => r.status), [503, 500, 201]);
  assert.equal(s.fake.received.length, 1);
});

Deno.test("createWebPushApp: 5xx on every attempt ends retryable (the user's server hears wait)", async () => {
  await using s = await setup({ maxAttempts: 2 });
  const subscription = s.subscribe();
  s.fake.answerNext(subscription.endpoint, { status: 502 });
  s.fake.answerNext(subscription.endpoint, { status: 502 });
  const outcome = await s.app.delivery.deliver(targetOf(subscription), PUSH, { ttlSeconds: DAY });
  assert.equal(outcome.kind, "failed");
  assert.equal(outcome.kind === "failed" && outcome.retryable, true);
  assert.equal(s.fake.requests.length, 2);
});

Deno.test("createWebPushApp: a 503's Retry-After (longer than a publish waits) holds the endpoint back too", async () => {
  await using s = await setup();
  const subscription = s.subscribe();
  s.fake.answerNext(subscription.endpoint, { status: 503, headers: { "Retry-After": "120" } });
  const target = targetOf(subscription);
  const first = await s.app.delivery.deliver(target, PUSH, { ttlSeconds: DAY });
  assert.equal(first.kind === "failed" && first.retryable, true, "answered wait");
  assert.equal(s.fake.requests.length, 1, "not retried within the publish: 120 s > 8 s");
  // The service asked for two minutes: the next push to it waits without a request.
  const second = await s.app.delivery.deliver(target, PUSH, { ttlSeconds: DAY });
  assert.equal(second.kind, "throttled");
  assert.equal(s.fake.requests.length, 1);
  const other = await s.app.delivery.deliver(targetOf(s.subscribe()), PUSH, { ttlSeconds: DAY });
  assert.equal(other.kind, "delivered");
});

Deno.test("createWebPushApp: a Push 2.0 relay's 503 Retry-After holds the client's endpoint back too", async () => {
  await using s = await setup();
  const subscription = s.subscribe();
  s.fake.answerNext(subscription.endpoint, { status: 503, headers: { "Retry-After": "120" } });
  const relay = (s.app as WebPushAppDelivery).push2;
  const notification = {
    endpoint: subscription.endpoint,
    urgency: "normal" as const,
    body: new Uint8Array(100),
    jwt: "e30.e30.c2ln",
    key: "BBBB",
  };
  const first = await relay.relay(notification);
  assert.equal(first.kind === "error" && first.type, "wait");
  const second = await relay.relay(notification);
  assert.equal(second.kind === "error" && second.condition, "resource-constraint", "held back");
  assert.equal(s.fake.requests.length, 1, "nothing sent within the Retry-After");
});

Deno.test("createWebPushApp: 429 throttles and Retry-After holds the endpoint back", async () => {
  await using s = await setup();
  const subscription = s.subscribe();
  s.fake.answerNext(subscription.endpoint, { status: 429, headers: { "Retry-After": "120" } });
  const target = targetOf(subscription);
  const first = await s.app.delivery.deliver(target, PUSH, { ttlSeconds: DAY });
  assert.equal(first.kind, "throttled");
  assert.equal(first.kind === "throttled" && first.retryAfterMs, 120_000);
  // The next push to it is held back without a request; another endpoint is not.
  const second = await s.app.delivery.deliver(target, PUSH, { ttlSeconds: DAY });
  assert.equal(second.kind, "throttled");
  assert.equal(s.fake.requests.length, 1);
  const other = await s.app.delivery.deliver(targetOf(s.subscribe()), PUSH, { ttlSeconds: DAY });
  assert.equal(other.kind, "delivered");
});

Deno.test("createWebPushApp: redirects are not followed", async () => {
  await using s = await setup();
  const subscription = s.subscribe();
  const elsewhere = s.subscribe();
  s.fake.answerNext(subscription.endpoint, {
    status: 307,
    headers: { Location: elsewhere.endpoint },
  });
  const outcome = await s.app.delivery.deliver(targetOf(subscription), PUSH, { ttlSeconds: DAY });
  assert.equal(outcome.kind, "failed");
  assert.equal(outcome.kind === "failed" && outcome.retryable, false);
  assert.equal(s.fake.requests.length, 1);
  assert.equal(s.fake.received.length, 0);
});

Deno.test("createWebPushApp: without allowPrivateAddresses a loopback endpoint gets nothing", async () => {
  await using s = await setup({ allowPrivateAddresses: false });
  const subscription = s.subscribe();
  const outcome = await s.app.delivery.deliver(targetOf(subscription), PUSH, { ttlSeconds: DAY });
  assert.deepEqual(outcome, {
    kind: "failed",
    retryable: false,
    status: null,
    detail: "endpoint refused: forbidden-address",
  });
  assert.equal(s.fake.requests.length, 0);
  // Nothing was sent: nothing to meter.
  assert.deepEqual(s.responses, []);
});

Deno.test("createWebPushApp: a malformed stored address fails for good, nothing sent", async () => {
  await using s = await setup();
  const subscription = s.subscribe();
  for (
    const address of [
      subscription.endpoint,
      `${targetOf(subscription).address}#extra`,
      `${subscription.endpoint}#AAAA#BBBB`,
      "",
    ]
  ) {
    const outcome = await s.app.delivery.deliver(
      { service: "webpush", app: APP, address },
      PUSH,
      { ttlSeconds: DAY },
    );
    assert.deepEqual(outcome, {
      kind: "failed",
      retryable: false,
      status: null,
      detail: "malformed address",
    });
  }
  assert.equal(s.fake.requests.length, 0);
});

Deno.test("createWebPushApp: one endpoint gets maxInFlightPerEndpoint requests at once", async () => {
  await using s = await setup({ maxInFlightPerEndpoint: 1 });
  const subscription = s.subscribe();
  s.fake.delayNext(subscription.endpoint, 300);
  const target = targetOf(subscription);
  const pushes = [1, 2].map(() => s.app.delivery.deliver(target, PUSH, { ttlSeconds: DAY }));
  await new Promise((resolve) => setTimeout(resolve, 150));
  // One request in flight at the fake, the other queued behind it.
  assert.equal(s.app.queueDepth(), 2);
  assert.equal(s.fake.requests.length, 0);
  const outcomes = await Promise.all(pushes);
  assert.deepEqual(outcomes.map((o) => o.kind), ["delivered", "delivered"]);
  assert.equal(s.app.queueDepth(), 0);
});

Deno.test("vapidKeysFor: generated once and kept; instances starting at once agree", async () => {
  const store = new MemoryStore();
  const [a, b] = await Promise.all([
    vapidKeysFor(APP, config(), store),
    vapidKeysFor(APP, config(), store),
  ]);
  assert.equal(a.publicKey, b.publicKey);
  assert.equal((await vapidKeysFor(APP, config(), store)).publicKey, a.publicKey);
  // Kept under the app's key, in web-push's serialized shape.
  const kept = JSON.parse(await store.keepFirstSecret(vapidStorageKey(APP), "ignored"));
  assert.equal(kept.publicKey, a.publicKey);
  // Another app has a key pair of its own.
  assert.notEqual((await vapidKeysFor("other", config(), store)).publicKey, a.publicKey);
});

Deno.test("vapidKeysFor: keys given in the configuration or a file win; bad ones are named", async () => {
  const store = new MemoryStore();
  const keys = webpush.generateVAPIDKeys();
  const given = config({ vapid: { subject: "mailto:ops@push.example.org", keys } });
  assert.equal((await vapidKeysFor(APP, given, store)).publicKey, keys.publicKey);
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/vapid.json`;
    await Deno.writeTextFile(file, JSON.stringify(keys));
    const fromFile = config({ vapid: { subject: "mailto:a@b.example", keysFile: file } });
    assert.equal((await vapidKeysFor(APP, fromFile, store)).publicKey, keys.publicKey);

    const other = webpush.generateVAPIDKeys();
    await Deno.writeTextFile(file, JSON.stringify({ ...keys, privateKey: other.privateKey }));
    await assert.rejects(
      vapidKeysFor(APP, fromFile, store),
      /^Error: apps\.up\.vapid\.keysFile: invalid VAPID keys: the private key does not match/,
    );
    await Deno.writeTextFile(file, "not json");
    await assert.rejects(vapidKeysFor(APP, fromFile, store), /apps\.up\.vapid\.keysFile: not JSON/);
    const missing = config({ vapid: { subject: "mailto:a@b.example", keysFile: `${dir}/none` } });
    await assert.rejects(
      vapidKeysFor(APP, missing, store),
      /apps\.up\.vapid\.keysFile: cannot read/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // Nothing was generated into storage while keys were given.
  assert.equal(await store.keepFirstSecret(vapidStorageKey(APP), "probe"), "probe");
  // A garbled kept value stops the app instead of minting a second key.
  await assert.rejects(vapidKeysFor(APP, config(), store), /apps\.up\.vapid \(the key pair kept/);
});

Deno.test("createWebPushApp: no resolver given, the app does not start (tests never reach the system's DNS)", async () => {
  const store = new MemoryStore();
  const deps = {
    store,
    clock: { now: () => Date.now() },
    logger: new RecordingLogger(),
    metrics: NO_METRICS,
  };
  await assert.rejects(
    createWebPushApp(APP, config(), deps),
    (error: Error) => error.message.startsWith(`apps.${APP}: no DNS resolver`),
  );
  await assert.rejects(createWebPushApp(APP, config(), deps, { caCerts: [] }), /no DNS resolver/);
});

Deno.test("createWebPushApp: ecdh openssl without a loadable libcrypto does not start, naming the field", async () => {
  const deps = {
    store: new MemoryStore(),
    clock: { now: () => Date.now() },
    logger: new RecordingLogger(),
    metrics: NO_METRICS,
  };
  await assert.rejects(
    createWebPushApp(APP, { ...config(), ecdh: "openssl" }, deps, {
      resolve: () => Promise.resolve([{ address: "127.0.0.1", family: 4 }]),
      libcryptoPath: "/nonexistent/libcrypto.so.3",
    }),
    (error: Error) =>
      error.message.startsWith(`apps.${APP}.ecdh: "openssl" needs OpenSSL 3's libcrypto`) &&
      error.message.includes("/nonexistent/libcrypto.so.3"),
  );
});
