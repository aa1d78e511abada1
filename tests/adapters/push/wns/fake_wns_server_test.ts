import assert from "node:assert/strict";
import { startFakeWns } from "../../../../adapters/push/wns/fake_wns_server.ts";
import type { FakeWns } from "../../../../adapters/push/wns/fake_wns_server.ts";

/** Gets a token the way the classic flow does; returns the parsed answer. */
async function requestToken(
  fake: FakeWns,
  fields: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: fake.packetId,
    client_secret: fake.clientSecret,
    scope: "notify.windows.com",
    ...fields,
  });
  const response = await fetch(fake.tokenUrl, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form.toString(),
  });
  return { status: response.status, json: await response.json() };
}

async function token(fake: FakeWns): Promise<string> {
  const { json } = await requestToken(fake);
  return String(json.access_token);
}

/** A well-formed raw push, with `overrides` applied (null drops a header). */
async function push(
  uri: string,
  accessToken: string,
  overrides: { headers?: Record<string, string | null>; body?: Uint8Array<ArrayBuffer> } = {},
): Promise<Response> {
  const headers = new Headers({
    "Authorization": `Bearer ${accessToken}`,
    "X-WNS-Type": "wns/raw",
    "Content-Type": "application/octet-stream",
  });
  for (const [name, value] of Object.entries(overrides.headers ?? {})) {
    if (value === null) headers.delete(name);
    else headers.set(name, value);
  }
  const response = await fetch(uri, {
    method: "POST",
    headers,
    body: overrides.body ?? new TextEncoder().encode('{"version":2,"action":"test_push"}'),
  });
  await response.arrayBuffer();
  return response;
}

Deno.test("fake WNS token endpoint: classic flow, bad credentials, Entra-style answer", async () => {
  await using fake = await startFakeWns({
    packetId: "ms-app://s-1-15-2-1",
    clientSecret: "s3cret",
  });
  const ok = await requestToken(fake);
  assert.equal(ok.status, 200);
  assert.equal(ok.json.token_type, "bearer");
  assert.equal(ok.json.expires_in, 86400);
  assert.equal(typeof ok.json.access_token, "string");
  assert.deepEqual(fake.issuedTokens, [ok.json.access_token]);

  const bad = await requestToken(fake, { client_secret: "wrong" });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json, { error: "invalid_client" });
  assert.equal((await requestToken(fake, { scope: "other" })).status, 400);
  assert.equal((await requestToken(fake, { grant_type: "password" })).status, 400);
  assert.equal(fake.tokenRequests.length, 4);
  assert.deepEqual(fake.tokenRequests.map((r) => r.status), [200, 400, 400, 400]);

  await using entra = await startFakeWns({ tokenExpiresIn: "86399", tokenType: "Bearer" });
  const answer = await requestToken(entra);
  assert.equal(answer.json.expires_in, "86399");
  assert.equal(answer.json.token_type, "Bearer");
});

Deno.test("fake WNS accepts a well-formed raw push and records it", async () => {
  await using fake = await startFakeWns();
  const uri = fake.channelUri("device-1");
  assert.match(uri, /^http:\/\/127\.0\.0\.1:\d+\/channel\/device-1\?token=%2b[A-Za-z0-9%]+$/);
  const response = await push(uri, await token(fake));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("X-WNS-Status"), "received");
  assert.equal(response.headers.get("X-WNS-NotificationStatus"), "received");
  assert.equal(response.headers.get("X-WNS-DeviceConnectionStatus"), "connected");
  assert.match(response.headers.get("X-WNS-Msg-ID") ?? "", /^[0-9A-F]{16}$/);

  const pushes = await fake.waitForPushes(1, 1000);
  assert.equal(pushes.length, 1);
  assert.equal(pushes[0].channelUri, uri);
  assert.equal(pushes[0].body, '{"version":2,"action":"test_push"}');
  const last = fake.requests.at(-1)!;
  assert.equal(last.path, uri.slice(fake.url.length));
  assert.equal(last.channelUri, uri);
  assert.equal(last.status, 200);
  assert.equal(last.authorizationHeaders, 1);
});

Deno.test("fake WNS checks in WNS's order: 405, 401, 404, 410, 400, 413", async () => {
  await using fake = await startFakeWns();
  const uri = fake.channelUri();
  const accessToken = await token(fake);

  // 405 comes first, even without Authorization.
  const get = await fetch(uri);
  await get.arrayBuffer();
  assert.equal(get.status, 405);

  // 401: missing, unknown, twice, expired. Before the channel check: unknown channel too.
  assert.equal((await push(uri, accessToken, { headers: { Authorization: null } })).status, 401);
  assert.equal((await push(uri, "not-issued")).status, 401);
  const twice = new Headers({
    "X-WNS-Type": "wns/raw",
    "Content-Type": "application/octet-stream",
  });
  twice.append("Authorization", `Bearer ${accessToken}`);
  twice.append("Authorization", `Bearer ${accessToken}`);
  const doubled = await fetch(uri, { method: "POST", headers: twice, body: new Uint8Array([1]) });
  await doubled.arrayBuffer();
  assert.equal(doubled.status, 401);
  assert.equal(fake.requests.at(-1)!.authorizationHeaders, 2);
  assert.equal((await push(`${fake.url}/channel/nope?token=x`, "not-issued")).status, 401);

  // 404: unknown channel, or a known one whose query was re-encoded.
  assert.equal((await push(`${fake.url}/channel/nope?token=x`, accessToken)).status, 404);
  const reencoded = uri.replace(/%[0-9a-f]{2}/g, (e) => e.toUpperCase());
  assert.notEqual(reencoded, uri);
  assert.equal((await push(reencoded, accessToken)).status, 404);

  // 400: wrong type or content type (checked before size: empty body still says 400).
  const wrongType = await push(uri, accessToken, { headers: { "X-WNS-Type": "wns/toast" } });
  assert.equal(wrongType.status, 400);
  assert.ok(wrongType.headers.get("X-WNS-Error-Description"));
  assert.equal(
    (await push(uri, accessToken, {
      headers: { "Content-Type": "text/xml" },
      body: new Uint8Array(0),
    })).status,
    400,
  );

  // 413: empty or over 5000 bytes; exactly 5000 is fine.
  assert.equal((await push(uri, accessToken, { body: new Uint8Array(0) })).status, 413);
  assert.equal((await push(uri, accessToken, { body: new Uint8Array(5001) })).status, 413);
  assert.equal((await push(uri, accessToken, { body: new Uint8Array(5000) })).status, 200);

  // 410 once expired, before the header check.
  fake.expireChannel(uri);
  assert.equal(
    (await push(uri, accessToken, { headers: { "X-WNS-Type": "wns/toast" } })).status,
    410,
  );

  // Expired tokens: 401 even for an expired channel.
  fake.expireTokens();
  assert.equal((await push(uri, accessToken)).status, 401);
  assert.equal(fake.received.length, 1);
});

Deno.test("fake WNS injects answers and delays, and reports wait timeouts", async () => {
  await using fake = await startFakeWns();
  const uri = fake.channelUri();
  const accessToken = await token(fake);
  fake.failNext(uri, 503, { "Retry-After": "7" });
  const injected = await push(uri, accessToken);
  assert.equal(injected.status, 503);
  assert.equal(injected.headers.get("Retry-After"), "7");
  assert.equal((await push(uri, accessToken)).status, 200);

  fake.failNextToken(503);
  assert.equal(
    await fetch(fake.tokenUrl, { method: "POST", body: "" }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    }),
    503,
  );

  fake.delayNext(uri, 150);
  const started = Date.now();
  assert.equal((await push(uri, accessToken)).status, 200);
  assert.ok(Date.now() - started >= 140);

  await assert.rejects(
    fake.waitForPushes(5, 50),
    /expected 5 notification\(s\) within 50 ms, got 2/,
  );
  const waiting = fake.waitForPushes(3, 2000);
  await push(uri, accessToken);
  assert.equal((await waiting).length, 3);
  assert.throws(() => fake.expireChannel(`${fake.url}/channel/unknown?token=x`), /unknown channel/);
});

Deno.test("fake WNS without recording keeps counters only, and may accept any channel", async () => {
  await using fake = await startFakeWns({ record: false, acceptAnyChannel: true });
  const accessToken = await token(fake);
  // Never registered through channelUri(): another process made it up.
  const uri = `${fake.url}/channel/bench-1?token=abc`;
  assert.equal((await push(uri, accessToken)).status, 200);
  assert.equal((await push(uri, "not-issued")).status, 401);
  assert.equal((await push(`${fake.url}/elsewhere`, accessToken)).status, 404);
  assert.deepEqual(fake.counters, { requests: 4, pushes: 1, tokenRequests: 1 });
  assert.deepEqual([fake.requests.length, fake.received.length, fake.tokenRequests.length], [
    0,
    0,
    0,
  ]);
  assert.deepEqual(await fake.waitForPushes(1, 100), []);

  await using strict = await startFakeWns();
  assert.equal(
    (await push(`${strict.url}/channel/bench-1?token=abc`, await token(strict))).status,
    404,
  );
  assert.deepEqual(strict.counters, { requests: 2, pushes: 0, tokenRequests: 1 });
  assert.equal(strict.requests.length, 2);
});

Deno.test("fake WNS: a token request that is not a form is refused", async () => {
  await using fake = await startFakeWns();
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: fake.packetId,
    client_secret: fake.clientSecret,
    scope: "notify.windows.com",
  }).toString();
  for (const contentType of [null, "application/json", "text/plain"]) {
    const response = await fetch(fake.tokenUrl, {
      method: "POST",
      headers: contentType === null ? {} : { "Content-Type": contentType },
      body: contentType === "application/json"
        ? JSON.stringify(Object.fromEntries(new URLSearchParams(form)))
        : new TextEncoder().encode(form),
    });
    assert.equal(response.status, 400, String(contentType));
    assert.deepEqual(await response.json(), { error: "invalid_request" });
  }
  assert.equal(fake.issuedTokens.length, 0);
  assert.equal((await requestToken(fake)).status, 200, "a form still gets a token");
});

Deno.test("fake WNS: a channel of another app is 403, after the token check", async () => {
  await using fake = await startFakeWns();
  const accessToken = await token(fake);
  const uri = fake.channelUri();
  fake.giveChannelToOtherApp(uri);
  assert.equal((await push(uri, accessToken)).status, 403);
  assert.equal((await push(uri, "not-a-token")).status, 401, "authorization is checked first");
  assert.equal(fake.received.length, 0);
});

Deno.test("fake WNS: cache policy, TTL and priority headers are checked", async () => {
  await using fake = await startFakeWns();
  const accessToken = await token(fake);
  const uri = fake.channelUri();
  const bad: Record<string, string>[] = [
    { "X-WNS-Cache-Policy": "sometimes" },
    { "X-WNS-TTL": "-1" },
    { "X-WNS-TTL": "1.5" },
    { "X-WNS-TTL": "soon" },
    { "X-WNS-PRIORITY": "0" },
    { "X-WNS-PRIORITY": "5" },
  ];
  for (const headers of bad) {
    const response = await push(uri, accessToken, { headers });
    assert.equal(response.status, 400, JSON.stringify(headers));
    assert.match(response.headers.get("X-WNS-Error-Description") ?? "", /^Invalid X-WNS-/);
  }
  const good: Record<string, string>[] = [
    { "X-WNS-Cache-Policy": "cache", "X-WNS-TTL": "86400" },
    { "X-WNS-Cache-Policy": "no-cache" },
    { "X-WNS-PRIORITY": "1" },
  ];
  for (const headers of good) {
    assert.equal((await push(uri, accessToken, { headers })).status, 200, JSON.stringify(headers));
  }
  assert.equal(fake.received.length, good.length);
});

Deno.test("fake WNS: an offline device drops no-cache pushes and keeps the latest cached one", async () => {
  await using fake = await startFakeWns();
  const accessToken = await token(fake);
  const uri = fake.channelUri();
  const body = (n: number) => new TextEncoder().encode(`{"n":${n}}`);
  fake.setDeviceOffline(uri, true);

  const droppedAnswer = await push(uri, accessToken, { body: body(1) });
  assert.equal(droppedAnswer.status, 200);
  assert.equal(droppedAnswer.headers.get("X-WNS-Status"), "dropped");
  assert.equal(droppedAnswer.headers.get("X-WNS-DeviceConnectionStatus"), "disconnected");
  for (const n of [2, 3]) {
    const cached = await push(uri, accessToken, {
      headers: { "X-WNS-Cache-Policy": "cache", "X-WNS-TTL": "60" },
      body: body(n),
    });
    assert.equal(cached.headers.get("X-WNS-Status"), "received");
    assert.equal(cached.headers.get("X-WNS-DeviceConnectionStatus"), "disconnected");
  }
  assert.deepEqual(fake.dropped.map((p) => p.body), ['{"n":1}']);
  assert.equal(fake.received.length, 0, "nothing reached the device while it was away");

  fake.setDeviceOffline(uri, false);
  assert.deepEqual(fake.received.map((p) => p.body), ['{"n":3}'], "only the latest cached one");
  assert.equal(fake.counters.pushes, 1);

  // A cached push whose TTL ran out is gone when the device comes back.
  fake.setDeviceOffline(uri, true);
  await push(uri, accessToken, {
    headers: { "X-WNS-Cache-Policy": "cache", "X-WNS-TTL": "0" },
    body: body(4),
  });
  fake.setDeviceOffline(uri, false);
  assert.equal(fake.received.length, 1);
});
