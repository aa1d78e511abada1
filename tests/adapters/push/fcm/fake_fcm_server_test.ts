import assert from "node:assert/strict";
import { importPKCS8, SignJWT } from "jose";
import {
  FAKE_FCM_ERRORS,
  type FakeFcm,
  startFakeFcm,
} from "../../../../adapters/push/fcm/fake_fcm_server.ts";
import { readFcmError } from "../../../../adapters/push/fcm/fcm_error_body.ts";
import { generateServiceAccountKey } from "../../../../adapters/push/fcm/throwaway_service_account.ts";

const SCOPE = "https://www.googleapis.com/auth/firebase.messaging";

/** An assertion made by jose (not by our signer), with claims the test may spoil. */
async function joseAssertion(
  fake: FakeFcm,
  spoil: { key?: string; kid?: string; aud?: string; scope?: string; lifetime?: number } = {},
): Promise<string> {
  const key = await importPKCS8(spoil.key ?? fake.key.privateKeyPem, "RS256");
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({ scope: spoil.scope ?? SCOPE })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: spoil.kid ?? fake.key.keyId })
    .setIssuer(fake.serviceAccount.client_email)
    .setAudience(spoil.aud ?? fake.tokenUri)
    .setIssuedAt(now)
    .setExpirationTime(now + (spoil.lifetime ?? 3600))
    .sign(key);
}

async function askToken(
  fake: FakeFcm,
  assertion: string,
  grant = "urn:ietf:params:oauth:grant-type:jwt-bearer",
) {
  const response = await fetch(fake.tokenUri, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: grant, assertion }),
  });
  return { status: response.status, body: await response.json() };
}

async function send(
  fake: FakeFcm,
  accessToken: string | null,
  body: unknown,
  project = fake.projectId,
) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (accessToken !== null) headers.Authorization = `Bearer ${accessToken}`;
  const response = await fetch(`${fake.url}/v1/projects/${project}/messages:send`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

const message = (token: string, extra: Record<string, unknown> = {}) => ({
  message: { token, data: { account: "ec164939a8485ee6b7f7871071a11c7bb18aead5" }, ...extra },
});

Deno.test("fake FCM token endpoint: accepts an assertion made by jose, issues Bearer tokens", async () => {
  await using fake = await startFakeFcm({ tokenExpiresIn: 1234 });
  const answer = await askToken(fake, await joseAssertion(fake));
  assert.equal(answer.status, 200);
  assert.deepEqual(Object.keys(answer.body).sort(), ["access_token", "expires_in", "token_type"]);
  assert.equal(answer.body.expires_in, 1234);
  assert.equal(answer.body.token_type, "Bearer");
  assert.deepEqual(fake.issuedTokens, [answer.body.access_token]);
});

Deno.test("fake FCM token endpoint: refuses bad signatures, claims and grants with invalid_grant", async () => {
  await using fake = await startFakeFcm();
  const stranger = await generateServiceAccountKey();
  const cases: [string, Promise<string>][] = [
    ["another key", joseAssertion(fake, { key: stranger.privateKeyPem })],
    ["wrong kid", joseAssertion(fake, { kid: "00".repeat(20) })],
    ["wrong audience", joseAssertion(fake, { aud: "https://oauth2.googleapis.com/token" })],
    [
      "wrong scope",
      joseAssertion(fake, { scope: "https://www.googleapis.com/auth/userinfo.email" }),
    ],
    ["over an hour", joseAssertion(fake, { lifetime: 3601 })],
    ["not a JWT", Promise.resolve("garbage")],
  ];
  for (const [label, assertion] of cases) {
    const answer = await askToken(fake, await assertion);
    assert.equal(answer.status, 400, label);
    assert.equal(answer.body.error, "invalid_grant", label);
  }
  const wrongGrant = await askToken(fake, await joseAssertion(fake), "client_credentials");
  assert.equal(wrongGrant.body.error, "unsupported_grant_type");
  assert.equal(fake.issuedTokens.length, 0);
  // The broader cloud-platform scope is fine.
  const broad = await askToken(
    fake,
    await joseAssertion(fake, { scope: `openid https://www.googleapis.com/auth/cloud-platform` }),
  );
  assert.equal(broad.status, 200);
});

Deno.test("fake FCM send endpoint: checks the Bearer token, the project and the body as FCM does", async () => {
  await using fake = await startFakeFcm();
  const access = (await askToken(fake, await joseAssertion(fake))).body.access_token;
  const device = fake.deviceToken();

  assert.equal((await send(fake, null, message(device))).status, 401);
  assert.equal((await send(fake, "ya29.unknown", message(device))).status, 401);
  const wrongProject = await send(fake, access, message(device), "other-project");
  assert.equal(wrongProject.status, 404);
  assert.equal(readFcmError(JSON.stringify(wrongProject.body)).fcmErrorCode, null);

  const invalid: [unknown, string][] = [
    ["{not json", "(body)"],
    [message(device, { data: { from: "x" } }), "message.data.from"],
    [message(device, { data: { n: 1 } }), "message.data.n"],
    [message(device, { android: { ttl: "1 day" } }), "message.android.ttl"],
    [message(device, { android: { ttl: "2419201s" } }), "message.android.ttl"],
    [message(device, { android: { priority: "URGENT" } }), "message.android.priority"],
    [message(device, { notification: { title: "x" } }), "message"],
    [{ message: { data: { a: "b" } } }, "message"],
    [message(device, { data: { a: "x".repeat(4096) } }), "message.data"],
  ];
  for (const [body, field] of invalid) {
    const answer = await send(fake, access, body);
    assert.equal(answer.status, 400, field);
    const reading = readFcmError(JSON.stringify(answer.body));
    assert.equal(reading.fcmErrorCode, "INVALID_ARGUMENT", field);
    assert.deepEqual(reading.badFields, [field], JSON.stringify(body).slice(0, 80));
  }
  assert.equal(fake.messages.length, 0);

  const ok = await send(
    fake,
    access,
    message(device, { android: { priority: "HIGH", ttl: "0.5s" } }),
  );
  assert.equal(ok.status, 200);
  assert.match(ok.body.name, new RegExp(`^projects/${fake.projectId}/messages/0:`));
  assert.deepEqual(fake.messages.map((m) => [m.token, m.data, m.android, m.accessToken]), [
    [device, { account: "ec164939a8485ee6b7f7871071a11c7bb18aead5" }, {
      priority: "HIGH",
      ttl: "0.5s",
    }, access],
  ]);
  fake.expireTokens();
  assert.equal((await send(fake, access, message(device))).status, 401);
});

Deno.test("fake FCM: failNext, failAlways/heal, outage and reset", async () => {
  await using fake = await startFakeFcm();
  const access = (await askToken(fake, await joseAssertion(fake))).body.access_token;
  const a = fake.deviceToken();
  const b = fake.deviceToken();
  fake.failNext(a, "QUOTA_EXCEEDED");
  const quota = await send(fake, access, message(a));
  assert.equal(quota.status, 429);
  assert.equal(quota.headers.get("retry-after"), "60");
  assert.deepEqual(quota.body, FAKE_FCM_ERRORS.QUOTA_EXCEEDED.body);
  assert.equal((await send(fake, access, message(a))).status, 200, "failNext is used once");

  fake.failAlways(b, "UNREGISTERED");
  assert.equal((await send(fake, access, message(b))).status, 404);
  assert.equal((await send(fake, access, message(b))).status, 404);
  fake.heal(b);
  assert.equal((await send(fake, access, message(b))).status, 200);

  fake.outage("UNAVAILABLE", 60_000);
  assert.equal((await send(fake, access, message(a))).status, 503);
  assert.equal(fake.counters.delivered, 2);
  assert.deepEqual(fake.sendRequests.map((r) => r.errorName), [
    "QUOTA_EXCEEDED",
    null,
    "UNREGISTERED",
    "UNREGISTERED",
    null,
    "UNAVAILABLE",
  ]);

  fake.reset();
  assert.equal(fake.counters.sends, 0);
  assert.equal(fake.messages.length, 0);
  assert.equal((await send(fake, access, message(a))).status, 200, "outage over after reset");
  const waited = await fake.waitForMessages(1, 1_000);
  assert.equal(waited.length, 1);
  await assert.rejects(fake.waitForMessages(5, 50), /expected 5 message/);
});

Deno.test("fake FCM: record false keeps counters only", async () => {
  await using fake = await startFakeFcm({ record: false });
  const access = (await askToken(fake, await joseAssertion(fake))).body.access_token;
  for (let i = 0; i < 3; i++) {
    assert.equal((await send(fake, access, message(fake.deviceToken()))).status, 200);
  }
  assert.equal(fake.counters.delivered, 3);
  assert.equal(fake.counters.tokensIssued, 1);
  assert.equal(fake.messages.length, 0);
  assert.equal(fake.sendRequests.length, 0);
  assert.equal(fake.tokenRequests.length, 0);
});
