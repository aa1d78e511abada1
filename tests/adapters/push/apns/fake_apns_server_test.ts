import assert from "node:assert/strict";
import http2 from "node:http2";
import { X509Certificate } from "node:crypto";
import { importPKCS8, SignJWT } from "jose";
import { startFakeApns } from "../../../../adapters/push/apns/fake_apns_server.ts";
import { deviceToken, KEY_ID, sharedMaterial, TEAM_ID, TestClock, TOPIC } from "./apns_test_kit.ts";

const ALERT = '{"aps":{"alert":{"title":"New Message","body":"New Message?"}}}';
const BACKGROUND = '{"aps":{"content-available":1}}';

async function jwtFor(p8: string, iat: number, kid = KEY_ID, iss = TEAM_ID): Promise<string> {
  return await new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid })
    .setIssuer(iss)
    .setIssuedAt(iat)
    .sign(await importPKCS8(p8, "ES256"));
}

/** One raw HTTP/2 request: status and reason. */
function request(
  session: http2.ClientHttp2Session,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; reason: string | null }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status = 0;
    let text = "";
    stream.on("response", (h) => status = Number(h[":status"]));
    stream.on("data", (chunk: Uint8Array) => text += new TextDecoder().decode(chunk));
    stream.on("end", () => resolve({ status, reason: text ? JSON.parse(text).reason : null }));
    stream.on("error", reject);
    // GET streams are ended by node:http2 itself.
    if (headers[":method"] !== "GET") stream.end(body);
  });
}

async function withFake(
  test: (
    send: (
      headers: Record<string, string>,
      body?: string,
    ) => Promise<{ status: number; reason: string | null }>,
    context: { p8: string; clock: TestClock; reconnect(): Promise<void> },
  ) => Promise<void>,
): Promise<void> {
  const [certificates, key] = await sharedMaterial();
  const clock = new TestClock();
  const fake = await startFakeApns({
    keys: [{ keyId: KEY_ID, teamId: TEAM_ID, publicKeyPem: key.publicKeyPem }],
    topics: [TOPIC],
    certificates,
    clock,
  });
  let session = http2.connect(fake.url, { ca: fake.caCert });
  try {
    await test(
      async (headers, body = ALERT) =>
        await request(session, { ":method": "POST", ...headers }, body),
      {
        p8: key.p8,
        clock,
        async reconnect() {
          session.close();
          session = http2.connect(fake.url, { ca: fake.caCert });
          await new Promise((resolve) => session.once("remoteSettings", resolve));
        },
      },
    );
  } finally {
    session.close();
    await fake.close();
  }
}

Deno.test("fake APNs: its certificate is a leaf (not a CA) issued by a separate test CA", async () => {
  const [{ caCert, cert }] = await sharedMaterial();
  const ca = new X509Certificate(caCert);
  const leaf = new X509Certificate(cert);
  assert.equal(ca.ca, true);
  assert.equal(leaf.ca, false);
  assert.ok(leaf.checkIssued(ca));
  assert.ok(leaf.checkIP("127.0.0.1"));
});

Deno.test("fake APNs: checks requests in APNs's order, with APNs's reasons", async () => {
  await withFake(async (send, { p8, clock }) => {
    const now = Math.floor(clock.now() / 1000);
    const jwt = await jwtFor(p8, now);
    const path = `/3/device/${deviceToken(1)}`;
    const ok = {
      ":path": path,
      authorization: `bearer ${jwt}`,
      "apns-topic": TOPIC,
      "apns-push-type": "alert",
      "apns-priority": "10",
      "apns-expiration": String(now + 60),
    };
    const cases: Array<[Record<string, string>, string, number, string | null]> = [
      [ok, ALERT, 200, null],
      [{ ...ok, ":method": "GET" }, "", 405, "MethodNotAllowed"],
      [{ ...ok, ":path": "/2/device/abc" }, ALERT, 404, "BadPath"],
      [{ ...ok, ":path": "/3/device/" }, ALERT, 400, "MissingDeviceToken"],
      [{ ...ok, authorization: "" }, ALERT, 403, "MissingProviderToken"],
      [{ ...ok, authorization: `bearer ${jwt}x` }, ALERT, 403, "InvalidProviderToken"],
      [
        { ...ok, authorization: `bearer ${await jwtFor(p8, now, "OTHERKEY12")}` },
        ALERT,
        403,
        "InvalidProviderToken",
      ],
      [
        { ...ok, authorization: `bearer ${await jwtFor(p8, now, KEY_ID, "OTHERTEAM1")}` },
        ALERT,
        403,
        "InvalidProviderToken",
      ],
      [
        { ...ok, authorization: `bearer ${await jwtFor(p8, now - 3601)}` },
        ALERT,
        403,
        "ExpiredProviderToken",
      ],
      [{ ...ok, "apns-topic": "org.other" }, ALERT, 400, "TopicDisallowed"],
      [{ ...ok, "apns-push-type": "mystery" }, ALERT, 400, "InvalidPushType"],
      [{ ...ok, "apns-priority": "7" }, ALERT, 400, "BadPriority"],
      [{ ...ok, "apns-push-type": "background" }, BACKGROUND, 400, "BadPriority"],
      [{ ...ok, "apns-push-type": "background", "apns-priority": "5" }, BACKGROUND, 200, null],
      [
        { ...ok, "apns-push-type": "background", "apns-priority": "5" },
        ALERT,
        400,
        "InvalidPushType",
      ],
      [{ ...ok, "apns-expiration": "soon" }, ALERT, 400, "BadExpirationDate"],
      [{ ...ok, "apns-expiration": "2419200" }, ALERT, 400, "BadExpirationDate"],
      [{ ...ok, "apns-expiration": "0" }, ALERT, 200, null],
      [{ ...ok, "apns-collapse-id": "c".repeat(65) }, ALERT, 400, "BadCollapseId"],
      [{ ...ok, "apns-id": "not-a-uuid" }, ALERT, 400, "BadMessageId"],
      [ok, "", 400, "PayloadEmpty"],
      [ok, JSON.stringify({ aps: { alert: "x".repeat(4100) } }), 413, "PayloadTooLarge"],
      [{ ...ok, ":path": "/3/device/abcd" }, ALERT, 400, "BadDeviceToken"],
    ];
    for (const [headers, body, status, reason] of cases) {
      const label = JSON.stringify(headers).slice(0, 160);
      assert.deepEqual(await send(headers, body), { status, reason }, label);
    }
  });
});

Deno.test("fake APNs: a second JWT on one connection within 20 minutes is TooManyProviderTokenUpdates", async () => {
  await withFake(async (send, { p8, clock, reconnect }) => {
    const now = Math.floor(clock.now() / 1000);
    const headers = (jwt: string) => ({
      ":path": `/3/device/${deviceToken(2)}`,
      authorization: `bearer ${jwt}`,
      "apns-topic": TOPIC,
    });
    assert.equal((await send(headers(await jwtFor(p8, now - 600)))).status, 200);
    assert.deepEqual(await send(headers(await jwtFor(p8, now))), {
      status: 429,
      reason: "TooManyProviderTokenUpdates",
    });
    assert.equal((await send(headers(await jwtFor(p8, now - 600 + 1200)))).status, 200);
    // Another connection has its own history.
    await reconnect();
    assert.equal((await send(headers(await jwtFor(p8, now - 60)))).status, 200);
  });
});
