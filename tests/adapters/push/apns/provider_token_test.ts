import assert from "node:assert/strict";
import { decodeProtectedHeader, importSPKI, jwtVerify } from "jose";
import { generateApnsTestKey } from "../../../../adapters/push/apns/fake_apns_server.ts";
import { ApnsProviderToken } from "../../../../adapters/push/apns/provider_token.ts";

const KEY_ID = "ABC123DEFG";
const TEAM_ID = "DEF123GHIJ";
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 10, 25, 22, 0, 0, 400);

async function setup(renewAfterMs?: number) {
  const key = await generateApnsTestKey();
  const clock = {
    t: T0,
    now() {
      return this.t;
    },
  };
  const token = await ApnsProviderToken.create({
    keyId: KEY_ID,
    teamId: TEAM_ID,
    privateKeyPem: key.p8,
    clock,
    renewAfterMs,
  });
  return { key, clock, token };
}

Deno.test("ApnsProviderToken: an ES256 JWT with kid, iss and iat that jose verifies", async () => {
  const { key, token } = await setup();
  const jwt = await token.current();
  assert.deepEqual(decodeProtectedHeader(jwt), { alg: "ES256", kid: KEY_ID });
  const { payload } = await jwtVerify(jwt, await importSPKI(key.publicKeyPem, "ES256"), {
    algorithms: ["ES256"],
    issuer: TEAM_ID,
    currentDate: new Date(T0),
  });
  assert.deepEqual(payload, { iss: TEAM_ID, iat: Math.floor(T0 / 1000) });
  // Another key's public half does not verify it.
  const other = await generateApnsTestKey();
  await assert.rejects(jwtVerify(jwt, await importSPKI(other.publicKeyPem, "ES256")));
});

Deno.test("ApnsProviderToken: reused until the renewal age (20 ≤ age < 60 min)", async () => {
  const { clock, token } = await setup(); // default 45 minutes
  const first = await token.current();
  clock.t += 20 * MINUTE;
  assert.equal(await token.current(), first);
  clock.t += 24 * MINUTE + 59_000;
  assert.equal(await token.current(), first);
  clock.t += 1000; // 45 minutes
  const second = await token.current();
  assert.notEqual(second, first);
  assert.equal(await token.current(), second);
  assert.equal(token.counters.signed, 2);
  await assert.rejects(setup(20 * MINUTE - 1), RangeError);
  await assert.rejects(setup(60 * MINUTE), RangeError);
  await setup(20 * MINUTE);
});

Deno.test("ApnsProviderToken: concurrent callers share one signature", async () => {
  const { clock, token } = await setup();
  const jwts = await Promise.all(Array.from({ length: 50 }, () => token.current()));
  assert.equal(new Set(jwts).size, 1);
  clock.t += 50 * MINUTE;
  const renewed = await Promise.all(Array.from({ length: 50 }, () => token.current()));
  assert.equal(new Set(renewed).size, 1);
  assert.equal(token.counters.signed, 2);
});

Deno.test("ApnsProviderToken: ExpiredProviderToken renews once (single flight), never within 20 min of a signing", async () => {
  const { clock, token } = await setup();
  const rejected = await token.current();
  // "Expired" a second after signing (a skewed clock): a new JWT now would break Apple's
  // 20-minute rule (429 TooManyProviderTokenUpdates) and look just as expired.
  clock.t += 1000;
  assert.equal(await token.renewAfterExpired(rejected), null);
  clock.t += 20 * MINUTE - 1001;
  assert.equal(await token.renewAfterExpired(rejected), null);
  clock.t += 1;
  const renewals = await Promise.all(
    Array.from({ length: 20 }, () => token.renewAfterExpired(rejected)),
  );
  assert.equal(new Set(renewals).size, 1);
  const renewed = renewals[0]!;
  assert.ok(renewed !== null && renewed !== rejected);
  assert.equal(await token.current(), renewed);
  // Late callers holding the old token get the new one, without signing.
  assert.equal(await token.renewAfterExpired(rejected), renewed);
  // The new one "expired" too, a minute later: no renewal (Apple would answer 429).
  clock.t += MINUTE;
  assert.equal(await token.renewAfterExpired(renewed), null);
  clock.t += 19 * MINUTE;
  const third = await token.renewAfterExpired(renewed);
  assert.ok(third !== null && third !== renewed);
  assert.deepEqual(token.counters, { signed: 3, forcedRenewals: 2, refusedRenewals: 3 });
});

Deno.test("ApnsProviderToken: a forced renewal counts from the scheduled one too", async () => {
  const { clock, token } = await setup();
  await token.current();
  clock.t += 45 * MINUTE;
  const scheduled = await token.current(); // renewed on schedule
  clock.t += 5 * MINUTE;
  assert.equal(await token.renewAfterExpired(scheduled), null, "5 minutes after a signing");
  assert.equal(token.counters.signed, 2);
});

Deno.test("ApnsProviderToken: a clock jumping back renews instead of sending a future iat", async () => {
  const { clock, token } = await setup();
  const first = await token.current();
  clock.t -= 30 * 1000; // small steps back keep the token
  assert.equal(await token.current(), first);
  clock.t -= 5 * MINUTE;
  assert.notEqual(await token.current(), first);
});

Deno.test("ApnsProviderToken: bad keys and ids are refused without quoting the key", async () => {
  const { p8 } = await generateApnsTestKey();
  const clock = { now: () => T0 };
  // A PKCS#8 key on another curve (P-384): a real key, not an APNs one.
  const p384 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", p384.privateKey));
  const otherCurve = `-----BEGIN PRIVATE KEY-----\n${
    btoa(String.fromCharCode(...der))
  }\n-----END PRIVATE KEY-----\n`;
  for (const privateKeyPem of ["", "not a key", otherCurve, p8.replace("PRIVATE", "PUBLIC")]) {
    const error = await ApnsProviderToken.create({
      keyId: KEY_ID,
      teamId: TEAM_ID,
      privateKeyPem,
      clock,
    }).then(() => null, (e: Error) => e);
    assert.ok(error instanceof Error, "refused");
    assert.match(error.message, /PKCS#8/);
    assert.ok(!error.message.includes(p8.split("\n")[1].slice(0, 20)));
  }
  await assert.rejects(
    ApnsProviderToken.create({ keyId: "short", teamId: TEAM_ID, privateKeyPem: p8, clock }),
    RangeError,
  );
  await assert.rejects(
    ApnsProviderToken.create({ keyId: KEY_ID, teamId: "lower12345", privateKeyPem: p8, clock }),
    RangeError,
  );
});

Deno.test("ApnsProviderToken: inspecting or serializing it shows neither key nor JWT", async () => {
  const { key, token } = await setup();
  const jwt = await token.current();
  const signature = jwt.split(".")[2];
  const keyLine = key.p8.split("\n")[1];
  for (
    const text of [Deno.inspect(token, { depth: 10, showHidden: true }), JSON.stringify(token)]
  ) {
    assert.ok(!text.includes(signature));
    assert.ok(!text.includes(keyLine));
  }
});
