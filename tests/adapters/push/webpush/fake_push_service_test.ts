import assert from "node:assert/strict";
import https from "node:https";
import webpush from "web-push";
import { startFakePushService } from "../../../../adapters/push/webpush/fake_push_service.ts";
import { testCertificate } from "../../../support/tls_cert.ts";

// The fake is checked against the reference sender (web-push, another code base than ours),
// so that our sender's tests do not rest on a fake made to fit it.

async function sendWithWebPush(
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } },
  payload: string,
  vapid: { publicKey: string; privateKey: string },
  extra: Record<string, unknown> = {},
) {
  const { cert } = await testCertificate();
  try {
    const result = await webpush.sendNotification(subscription, payload, {
      vapidDetails: { subject: "mailto:ops@push.example", ...vapid },
      TTL: 60,
      urgency: "high",
      topic: "abc_DEF-123",
      contentEncoding: "aes128gcm",
      agent: new https.Agent({ ca: cert }),
      ...extra,
    });
    return result.statusCode;
  } catch (error) {
    return (error as { statusCode?: number }).statusCode ?? -1;
  }
}

Deno.test("fake push service: accepts and decrypts what web-push sends", async () => {
  const tls = await testCertificate();
  await using fake = await startFakePushService({ tls, hostname: "localhost" });
  const vapid = webpush.generateVAPIDKeys();
  const subscription = fake.subscribe({ vapidKey: vapid.publicKey });
  assert.equal(await sendWithWebPush(subscription.json, '{"account":"x"}', vapid), 201);
  const [message] = await fake.waitForMessages(1, 5000);
  assert.equal(message.text, '{"account":"x"}');
  assert.equal(message.endpoint, subscription.endpoint);
  assert.equal(message.claims.aud, fake.origin);
  const headers = new Map(message.headers);
  assert.equal(headers.get("ttl"), "60");
  assert.equal(headers.get("urgency"), "high");
  assert.equal(headers.get("topic"), "abc_DEF-123");
});

Deno.test("fake push service: refuses what a real push service refuses", async () => {
  const tls = await testCertificate();
  await using fake = await startFakePushService({ tls, hostname: "localhost" });
  const vapid = webpush.generateVAPIDKeys();
  const bound = fake.subscribe({ vapidKey: vapid.publicKey });
  // Signed with another key than the subscription's.
  assert.equal(await sendWithWebPush(bound.json, "x", webpush.generateVAPIDKeys()), 403);
  // Encrypted for other keys: the fake cannot decrypt it.
  const other = fake.subscribe();
  assert.equal(
    await sendWithWebPush({ ...bound.json, keys: other.json.keys }, "x", vapid),
    400,
  );
  // Unknown and unsubscribed endpoints.
  assert.equal(
    await sendWithWebPush({ ...bound.json, endpoint: `${fake.origin}/push/nope` }, "x", vapid),
    404,
  );
  fake.unsubscribe(bound.endpoint);
  assert.equal(await sendWithWebPush(bound.json, "x", vapid), 410);
  assert.equal(fake.received.length, 0);
  assert.deepEqual(fake.requests.map((r) => r.status), [403, 400, 404, 410]);
});

Deno.test("fake push service: checks the JWT audience and the headers", async () => {
  const { cert, key } = await testCertificate();
  await using fake = await startFakePushService({ tls: { cert, key }, hostname: "localhost" });
  const vapid = webpush.generateVAPIDKeys();
  const subscription = fake.subscribe();
  const client = Deno.createHttpClient({ caCerts: [cert] });
  const post = async (headers: Record<string, string>) => {
    const response = await fetch(subscription.endpoint, {
      method: "POST",
      headers,
      body: new Uint8Array(100),
      client,
    });
    await response.body?.cancel();
    return response.status;
  };
  const goodAuth = (audience: string) => {
    const h = webpush.getVapidHeaders(
      audience,
      "mailto:a@b.c",
      vapid.publicKey,
      vapid.privateKey,
      "aes128gcm",
    );
    return h.Authorization;
  };
  const base = {
    "TTL": "10",
    "Content-Encoding": "aes128gcm",
    "Content-Type": "application/octet-stream",
  };
  assert.equal(await post(base), 401);
  assert.equal(await post({ ...base, Authorization: goodAuth("https://elsewhere.example") }), 401);
  assert.equal(await post({ ...base, Authorization: "vapid t=a.b.c, k=xyz" }), 401);
  const auth = goodAuth(fake.origin);
  assert.equal(await post({ ...base, Authorization: auth, TTL: "" }), 400);
  assert.equal(await post({ ...base, Authorization: auth, Urgency: "urgent" }), 400);
  assert.equal(await post({ ...base, Authorization: auth, Topic: "x".repeat(33) }), 400);
  assert.equal(await post({ ...base, Authorization: auth, "Content-Encoding": "aesgcm" }), 400);
  // Right headers, but 100 zero bytes are no ciphertext.
  assert.equal(await post({ ...base, Authorization: auth }), 400);
  client.close();
  assert.ok(fake.requests.every((r) => r.error !== null));
});

Deno.test("fake push service: verify false checks headers only (benchmarks)", async () => {
  await using fake = await startFakePushService({ verify: false });
  const subscription = fake.subscribe();
  const post = async (headers: Record<string, string>) => {
    const response = await fetch(subscription.endpoint, {
      method: "POST",
      headers,
      body: new Uint8Array(100),
    });
    await response.body?.cancel();
    return response.status;
  };
  const headers = {
    "TTL": "10",
    "Content-Encoding": "aes128gcm",
    "Content-Type": "application/octet-stream",
    "Authorization": "vapid t=a.b.c, k=xyz",
  };
  assert.equal(await post(headers), 201);
  assert.equal(await post({ ...headers, Authorization: "Bearer x" }), 401);
  assert.equal(await post({ ...headers, TTL: "x" }), 400);
  assert.equal(fake.received.length, 1);
  assert.equal(fake.received[0].plaintext.byteLength, 0);
});
