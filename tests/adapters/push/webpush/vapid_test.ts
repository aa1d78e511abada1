import assert from "node:assert/strict";
import * as jose from "jose";
import webpush from "web-push";
import { VapidKeyError, VapidKeys } from "../../../../adapters/push/webpush/vapid_keys.ts";
import { signVapidJwt } from "../../../../adapters/push/webpush/vapid_jwt.ts";
import { VapidAuthorizer } from "../../../../adapters/push/webpush/vapid_authorizer.ts";
import { fromBase64Url, toBase64Url } from "../../../../adapters/push/webpush/p256_keys.ts";

/** The public key as jose sees it, built from the raw point only (not from our CryptoKey). */
function joseKey(publicKey: string) {
  const raw = fromBase64Url(publicKey);
  return jose.importJWK({
    kty: "EC",
    crv: "P-256",
    x: toBase64Url(raw.subarray(1, 33)),
    y: toBase64Url(raw.subarray(33)),
  }, "ES256");
}

function parseHeader(value: string): { jwt: string; k: string } {
  const match = /^vapid t=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+), k=([A-Za-z0-9_-]+)$/
    .exec(value);
  assert.ok(match, `not a vapid Authorization value: ${value.slice(0, 20)}...`);
  return { jwt: match[1], k: match[2] };
}

Deno.test("VAPID keys: generated keys serialize and load back, public key 65 bytes / 87 chars", async () => {
  const keys = await VapidKeys.generate();
  const stored = keys.serialize();
  assert.equal(stored.publicKey.length, 87);
  assert.equal(fromBase64Url(stored.publicKey)[0], 4);
  assert.equal(fromBase64Url(stored.privateKey).byteLength, 32);
  const loaded = await VapidKeys.load(JSON.parse(JSON.stringify(stored)));
  assert.equal(loaded.publicKey, keys.publicKey);
  assert.deepEqual(loaded.serialize(), stored);
  // A JWT signed with the loaded key verifies with the original public key.
  const jwt = await signVapidJwt(
    { aud: "https://push.example", exp: Math.floor(Date.now() / 1000) + 60, sub: "mailto:a@b.c" },
    loaded.privateKey,
  );
  await jose.jwtVerify(jwt, await joseKey(keys.publicKey), { algorithms: ["ES256"] });
  // JSON dumps of the key object carry no private part.
  assert.equal(JSON.stringify(keys), JSON.stringify({ publicKey: keys.publicKey }));
});

Deno.test("VAPID keys: keys made by web-push's generateVAPIDKeys load and sign", async () => {
  const made = webpush.generateVAPIDKeys();
  const keys = await VapidKeys.load(made);
  assert.equal(keys.publicKey, made.publicKey);
  const jwt = await signVapidJwt(
    { aud: "https://push.example", exp: Math.floor(Date.now() / 1000) + 60, sub: "mailto:a@b.c" },
    keys.privateKey,
  );
  await jose.jwtVerify(jwt, await joseKey(made.publicKey), { algorithms: ["ES256"] });
});

Deno.test("VAPID keys: malformed or mismatched keys are refused without quoting the secret", async () => {
  const a = (await VapidKeys.generate()).serialize();
  const b = (await VapidKeys.generate()).serialize();
  const offCurve = fromBase64Url(a.publicKey);
  offCurve[64] ^= 1;
  const cases: Array<[unknown, RegExp]> = [
    [null, /invalid VAPID keys/],
    [{ publicKey: a.publicKey }, /privateKey/],
    [{ ...a, extra: 1 }, /invalid VAPID keys/],
    [{ ...a, publicKey: a.publicKey.slice(1) }, /publicKey must encode 65 bytes/],
    [{ ...a, publicKey: `${a.publicKey}=` }, /publicKey must be base64url/],
    [{ ...a, publicKey: toBase64Url(offCurve) }, /uncompressed P-256 point/],
    [{ ...a, privateKey: a.privateKey.slice(2) }, /privateKey must encode 32 bytes/],
    [{ publicKey: a.publicKey, privateKey: b.privateKey }, /does not match the public key/],
  ];
  for (const [input, expected] of cases) {
    await assert.rejects(VapidKeys.load(input), (error: unknown) => {
      assert.ok(error instanceof VapidKeyError, String(error));
      assert.match(error.message, expected);
      assert.ok(!error.message.includes(a.privateKey) && !error.message.includes(b.privateKey));
      return true;
    });
  }
});

Deno.test("VAPID JWT: jose verifies ES256, typ JWT, aud, exp and sub", async () => {
  const keys = await VapidKeys.generate();
  const authorizer = new VapidAuthorizer({ keys, subject: "mailto:ops@push.example" });
  const before = Math.floor(Date.now() / 1000);
  const { jwt, k } = parseHeader(await authorizer.authorization("https://push.example:8443"));
  assert.equal(k, keys.publicKey);
  const { payload, protectedHeader } = await jose.jwtVerify(jwt, await joseKey(k), {
    algorithms: ["ES256"],
    audience: "https://push.example:8443",
    subject: "mailto:ops@push.example",
    typ: "JWT",
  });
  assert.deepEqual(protectedHeader, { typ: "JWT", alg: "ES256" });
  assert.deepEqual(Object.keys(payload).sort(), ["aud", "exp", "sub"]);
  assert.ok(payload.exp! >= before + 12 * 3600 - 1 && payload.exp! <= before + 12 * 3600 + 2);
  // Another key does not verify it.
  const other = await VapidKeys.generate();
  await assert.rejects(jose.jwtVerify(jwt, await joseKey(other.publicKey)));
});

Deno.test("VAPID authorizer: one JWT per audience, renewed before expiry", async () => {
  const keys = await VapidKeys.generate();
  let now = Date.UTC(2026, 0, 1);
  const authorizer = new VapidAuthorizer({
    keys,
    subject: "https://push.example/contact",
    lifetimeSeconds: 3600,
    renewBeforeSeconds: 600,
    now: () => now,
  });
  const [a1, a2] = await Promise.all([
    authorizer.authorization("https://a.example"),
    authorizer.authorization("https://a.example"),
  ]);
  assert.equal(a1, a2);
  assert.equal(authorizer.signatures, 1);
  const b = await authorizer.authorization("https://b.example");
  assert.notEqual(b, a1);
  assert.equal(authorizer.signatures, 2);
  const exp = (value: string) => jose.decodeJwt(parseHeader(value).jwt).exp!;
  assert.equal(exp(a1), now / 1000 + 3600);

  now += (3600 - 600) * 1000 - 1; // just before the renewal point
  assert.equal(await authorizer.authorization("https://a.example"), a1);
  now += 1;
  const renewed = await authorizer.authorization("https://a.example");
  assert.notEqual(renewed, a1);
  assert.equal(exp(renewed), now / 1000 + 3600);
  assert.equal(authorizer.signatures, 3);
});

Deno.test("VAPID authorizer: audiences beyond the bound drop the oldest", async () => {
  const keys = await VapidKeys.generate();
  const authorizer = new VapidAuthorizer({ keys, subject: "mailto:a@b.c", maxAudiences: 2 });
  await authorizer.authorization("https://1.example");
  await authorizer.authorization("https://2.example");
  await authorizer.authorization("https://3.example");
  assert.equal(authorizer.signatures, 3);
  await authorizer.authorization("https://3.example");
  await authorizer.authorization("https://2.example");
  assert.equal(authorizer.signatures, 3);
  await authorizer.authorization("https://1.example");
  assert.equal(authorizer.signatures, 4);
});

Deno.test("VAPID authorizer: subject and lifetime are checked", async () => {
  const keys = await VapidKeys.generate();
  for (
    const subject of ["ops@push.example", "http://push.example", "mailto:", "xmpp:push.example"]
  ) {
    assert.throws(() => new VapidAuthorizer({ keys, subject }), /mailto: address or an https: URL/);
  }
  assert.throws(
    () => new VapidAuthorizer({ keys, subject: "mailto:a@b.c", lifetimeSeconds: 24 * 3600 + 1 }),
    /1 s to 24 h/,
  );
  new VapidAuthorizer({ keys, subject: "mailto:a@b.c", lifetimeSeconds: 24 * 3600 });
});
