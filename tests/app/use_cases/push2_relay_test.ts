import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as jose from "jose";
import webpush from "web-push";
import { WebPushAppSchema } from "../../../app/config/webpush_app.ts";
import { createWebPushApp, type WebPushAppDelivery } from "../../../app/wiring/webpush_wiring.ts";
import {
  type FakePushService,
  type FakeSubscription,
  startFakePushService,
} from "../../../adapters/push/webpush/fake_push_service.ts";
import { handlePush2Message } from "../../../adapters/xmpp/push2_message.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { NO_METRICS } from "../../../domain/ports/metrics.ts";
import type { DeliveryOutcome } from "../../../domain/ports/push_delivery.ts";
import { push2Answer } from "../../../app/use_cases/push2_relay.ts";
import { parseXml } from "../../support/parse_xml.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import { testCertificate } from "../../support/tls_cert.ts";

/** What the client gives its server in `<enable>`: a key pair for the JWT (mod_push2). */
interface ClientJwtKey {
  privateKey: CryptoKey;
  /** Raw public key, standard base64 (as mod_push2 writes `<jwt key>`). */
  publicKeyBase64: string;
  publicKeyBase64Url: string;
}

async function clientJwtKey(): Promise<ClientJwtKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey as CryptoKey));
  return {
    privateKey: privateKey as CryptoKey,
    publicKeyBase64: raw.toBase64(),
    publicKeyBase64Url: raw.toBase64({ alphabet: "base64url", omitPadding: true }),
  };
}

/** The user's server's side, done with independent code: web-push encrypts, jose signs. */
async function notificationStanza(
  subscription: FakeSubscription,
  key: ClientJwtKey,
  plaintext: string,
  options: { priority?: string; audience?: string } = {},
): Promise<string> {
  const { endpoint, keys } = subscription.json;
  const encrypted = webpush.encrypt(keys.p256dh, keys.auth, plaintext, "aes128gcm");
  const jwt = await new jose.SignJWT({ sub: "mailto:admin@example.org" })
    .setProtectedHeader({ alg: "ES256", typ: "JWT" })
    .setAudience(options.audience ?? new URL(endpoint).origin)
    .setExpirationTime("12h")
    .sign(key.privateKey);
  return `<message from="example.org" to="push.example.org" id="p1">` +
    `<notification xmlns="urn:xmpp:push2:0"><client>${endpoint}</client>` +
    `<priority>${options.priority ?? "high"}</priority>` +
    `<encrypted xmlns="urn:xmpp:sce:rfc8291:0"><payload>${
      Buffer.from(encrypted.cipherText).toString("base64")
    }</payload></encrypted>` +
    `<jwt key="${key.publicKeyBase64}">${jwt}</jwt></notification></message>`;
}

interface Setup {
  fake: FakePushService;
  app: WebPushAppDelivery;
  statuses: (number | null)[];
  [Symbol.asyncDispose](): Promise<void>;
}

async function setup(extra: Record<string, unknown> = {}): Promise<Setup> {
  const tls = await testCertificate();
  const fake = await startFakePushService({ tls, hostname: "localhost" });
  const statuses: (number | null)[] = [];
  const metrics = {
    ...NO_METRICS,
    pushServiceResponse(_service: string, _app: string, status: number | null) {
      statuses.push(status);
    },
  };
  const config = WebPushAppSchema.parse({
    service: "webpush",
    vapid: { subject: "mailto:ops@push.example.org" },
    allowPrivateAddresses: true,
    maxAttempts: 1,
    ...extra,
  });
  const app = await createWebPushApp("up", config, {
    store: new MemoryStore(),
    clock: { now: () => Date.now() },
    logger: new RecordingLogger(),
    metrics,
  }, {
    resolve: (host) =>
      host === "localhost"
        ? Promise.resolve([{ address: "127.0.0.1", family: 4 }])
        : Promise.reject(new Error("ENOTFOUND")),
    caCerts: [tls.cert],
  });
  return {
    fake,
    app,
    statuses,
    async [Symbol.asyncDispose]() {
      await app.close();
      await fake.close();
    },
  };
}

function relay(s: Setup, xml: string) {
  return handlePush2Message(parseXml(xml), (n) => s.app.push2.relay(n));
}

Deno.test("push2 relay: the user's server's ciphertext and JWT reach the client as they are", async () => {
  await using s = await setup();
  const key = await clientJwtKey();
  const subscription = s.fake.subscribe({ vapidKey: key.publicKeyBase64Url });
  const forwarded = "<forwarded xmlns='urn:xmpp:forward:0'>...</forwarded>";
  const answer = await relay(s, await notificationStanza(subscription, key, forwarded));
  assert.equal(answer, null);
  // The fake verified the client's JWT with jose and decrypted with http_ece.
  const [message] = s.fake.received;
  assert.equal(message.text, forwarded);
  assert.equal(message.claims.sub, "mailto:admin@example.org");
  const headers = new Map(message.headers);
  assert.equal(headers.get("urgency"), "high");
  assert.equal(headers.get("ttl"), "86400");
  assert.equal(headers.get("content-encoding"), "aes128gcm");
  assert.deepEqual(s.statuses, [201]);
});

Deno.test("push2 relay: a gone client is cancel/item-not-found", async () => {
  await using s = await setup();
  const key = await clientJwtKey();
  const subscription = s.fake.subscribe({ vapidKey: key.publicKeyBase64Url });
  s.fake.unsubscribe(subscription.endpoint);
  const answer = await relay(s, await notificationStanza(subscription, key, "x"));
  const error = answer?.getChild("error");
  assert.equal(error?.attrs.type, "cancel");
  assert.ok(error?.getChild("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas"));
  assert.equal(answer?.attrs.to, "example.org");
  assert.equal(answer?.attrs.id, "p1");
});

Deno.test("push2 relay: throttling and 5xx are wait errors, never cancel", async () => {
  await using s = await setup();
  const key = await clientJwtKey();
  const throttled = s.fake.subscribe({ vapidKey: key.publicKeyBase64Url });
  s.fake.answerNext(throttled.endpoint, { status: 429, headers: { "Retry-After": "30" } });
  const first = await relay(s, await notificationStanza(throttled, key, "x"));
  assert.equal(first?.getChild("error")?.attrs.type, "wait");
  assert.ok(first?.getChild("error")?.getChild("resource-constraint"));
  const failing = s.fake.subscribe({ vapidKey: key.publicKeyBase64Url });
  s.fake.answerNext(failing.endpoint, { status: 503 });
  const second = await relay(s, await notificationStanza(failing, key, "x"));
  assert.equal(second?.getChild("error")?.attrs.type, "wait");
  assert.ok(second?.getChild("error")?.getChild("service-unavailable"));
});

Deno.test("push2 relay: a JWT the push service refuses is auth/not-authorized", async () => {
  await using s = await setup();
  const key = await clientJwtKey();
  const other = await clientJwtKey();
  // Subscribed with another key: the push service answers 403.
  const subscription = s.fake.subscribe({ vapidKey: other.publicKeyBase64Url });
  const answer = await relay(s, await notificationStanza(subscription, key, "x"));
  assert.equal(answer?.getChild("error")?.attrs.type, "auth");
  assert.ok(answer?.getChild("error")?.getChild("not-authorized"));
  assert.equal(s.fake.received.length, 0);
});

Deno.test("push2 relay: endpoints on private addresses get nothing (cancel/not-allowed)", async () => {
  await using s = await setup({ allowPrivateAddresses: false });
  const key = await clientJwtKey();
  const subscription = s.fake.subscribe({ vapidKey: key.publicKeyBase64Url });
  const answer = await relay(s, await notificationStanza(subscription, key, "x"));
  assert.equal(answer?.getChild("error")?.attrs.type, "cancel");
  assert.ok(answer?.getChild("error")?.getChild("not-allowed"));
  assert.equal(s.fake.requests.length, 0);
  assert.deepEqual(s.statuses, []);
});

Deno.test("push2Answer: every outcome's answer; cancel only for a gone client", () => {
  const cases: [DeliveryOutcome, string | null][] = [
    [{ kind: "delivered", status: 201, detail: null }, null],
    [{ kind: "target-gone", status: 410 }, "cancel/item-not-found"],
    [{ kind: "throttled", status: null, detail: "queue full" }, "wait/resource-constraint"],
    [
      { kind: "failed", retryable: true, status: null, detail: "timeout" },
      "wait/remote-server-timeout",
    ],
    [
      { kind: "failed", retryable: true, status: 502, detail: "server-error" },
      "wait/service-unavailable",
    ],
    [{ kind: "failed", retryable: false, status: 403, detail: "VAPID" }, "auth/not-authorized"],
    [
      { kind: "failed", retryable: false, status: 413, detail: "too large" },
      "modify/not-acceptable",
    ],
    [
      { kind: "failed", retryable: false, status: null, detail: "too large" },
      "modify/not-acceptable",
    ],
    [{ kind: "failed", retryable: false, status: 400, detail: "refused" }, "modify/not-acceptable"],
    [
      { kind: "failed", retryable: false, status: null, detail: "endpoint refused: not-https" },
      "cancel/not-allowed",
    ],
  ];
  for (const [outcome, expected] of cases) {
    const answer = push2Answer(outcome);
    assert.equal(
      answer.kind === "relayed" ? null : `${answer.type}/${answer.condition}`,
      expected,
      JSON.stringify(outcome),
    );
  }
});
