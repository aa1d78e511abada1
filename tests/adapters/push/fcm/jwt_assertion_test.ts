import assert from "node:assert/strict";
import { decodeProtectedHeader, importSPKI, jwtVerify } from "jose";
import {
  assertionClaims,
  FCM_SCOPE,
  importServiceAccountKey,
  signAssertion,
} from "../../../../adapters/push/fcm/jwt_assertion.ts";
import {
  parseServiceAccount,
  readServiceAccountFile,
  ServiceAccountError,
} from "../../../../adapters/push/fcm/service_account.ts";
import {
  generateServiceAccountKey,
  serviceAccountJson,
} from "../../../../adapters/push/fcm/throwaway_service_account.ts";

const key = await generateServiceAccountKey();
const json = serviceAccountJson(key, "demo-project", "https://oauth2.googleapis.com/token");

Deno.test("parseServiceAccount: a console-shaped key file passes, extra fields ignored", () => {
  const account = parseServiceAccount({ ...json, universe_domain: "googleapis.com" });
  assert.equal(account.project_id, "demo-project");
  assert.equal(account.client_email, json.client_email);
  assert.equal(account.token_uri, "https://oauth2.googleapis.com/token");
  assert.equal(account.private_key_id, key.keyId);
  const { token_uri: _, ...withoutUri } = json;
  assert.equal(parseServiceAccount(withoutUri).token_uri, "https://oauth2.googleapis.com/token");
});

Deno.test("parseServiceAccount: names every bad field, never shows the key", () => {
  const cases: [unknown, RegExp][] = [
    [{ ...json, type: "authorized_user" }, /type/],
    [{ ...json, project_id: undefined }, /project_id: missing/],
    [{ ...json, private_key: "not a key" }, /private_key: not a PEM PKCS#8 private key/],
    [{ ...json, client_email: "nobody" }, /client_email/],
    [{ ...json, token_uri: "ftp://x/token" }, /token_uri/],
    [null, /\(file\)/],
  ];
  for (const [input, pattern] of cases) {
    assert.throws(() => parseServiceAccount(input), (error: unknown) => {
      assert.ok(error instanceof ServiceAccountError);
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes("PRIVATE KEY"), error.message);
      return true;
    });
  }
  // A key in the wrong field does not leak through the message either.
  assert.throws(
    () => parseServiceAccount({ ...json, client_email: key.privateKeyPem }),
    (error: Error) => !error.message.includes(key.privateKeyPem.slice(40, 80)),
  );
});

Deno.test("signAssertion: RS256 JWT that jose verifies with the public key; claims per fcm-v1.md §2", async () => {
  const account = parseServiceAccount(json);
  const now = Date.now();
  const jwt = await signAssertion({
    account,
    key: await importServiceAccountKey(account.private_key),
    now,
  });
  assert.match(jwt, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const header = decodeProtectedHeader(jwt);
  assert.deepEqual(header, { alg: "RS256", typ: "JWT", kid: key.keyId });
  const { payload } = await jwtVerify(jwt, await importSPKI(key.publicKeyPem, "RS256"), {
    algorithms: ["RS256"],
    issuer: account.client_email,
    audience: "https://oauth2.googleapis.com/token",
  });
  assert.equal(payload.scope, FCM_SCOPE);
  assert.equal(payload.iat, Math.floor(now / 1000));
  assert.equal(payload.exp! - payload.iat!, 3600);
  assert.deepEqual(Object.keys(payload).sort(), ["aud", "exp", "iat", "iss", "scope"]);
});

Deno.test("signAssertion: another key's signature does not verify", async () => {
  const other = await generateServiceAccountKey();
  const account = parseServiceAccount(json);
  const jwt = await signAssertion({
    account,
    key: await importServiceAccountKey(other.privateKeyPem),
    now: Date.now(),
  });
  await assert.rejects(jwtVerify(jwt, await importSPKI(key.publicKeyPem, "RS256")));
});

Deno.test("assertionClaims: lifetime at most an hour, custom scope, no kid without private_key_id", async () => {
  const account = parseServiceAccount(json);
  const claims = assertionClaims({ account, now: 1_000_500, lifetimeSeconds: 7200, scope: "s" });
  assert.deepEqual(claims, {
    iss: account.client_email,
    scope: "s",
    aud: account.token_uri,
    iat: 1000,
    exp: 4600,
  });
  assert.equal(assertionClaims({ account, now: 0, lifetimeSeconds: 600 }).exp, 600);
  const { private_key_id: _, ...noKid } = account;
  const jwt = await signAssertion({
    account: noKid,
    key: await importServiceAccountKey(account.private_key),
    now: Date.now(),
  });
  assert.deepEqual(decodeProtectedHeader(jwt), { alg: "RS256", typ: "JWT" });
});

Deno.test("importServiceAccountKey: refuses what is not an RSA PKCS#8 key, without echoing it", async () => {
  await assert.rejects(
    importServiceAccountKey("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----"),
    /not base64/,
  );
  await assert.rejects(
    importServiceAccountKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
    /not an RSA PKCS#8 key/,
  );
  // An EC key is PKCS#8 but not RSA.
  const ec = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", ec.privateKey));
  const pem = `-----BEGIN PRIVATE KEY-----\n${der.toBase64()}\n-----END PRIVATE KEY-----\n`;
  await assert.rejects(importServiceAccountKey(pem), /not an RSA PKCS#8 key/);
});

Deno.test("readServiceAccountFile: reads a key file; unreadable or non-JSON files say so without content", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ok.json`, JSON.stringify(json));
    assert.equal((await readServiceAccountFile(`${dir}/ok.json`)).project_id, "demo-project");
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      `{"private_key": "${key.privateKeyPem.slice(30, 60)}`,
    );
    await assert.rejects(readServiceAccountFile(`${dir}/bad.json`), (error: Error) => {
      assert.ok(error instanceof ServiceAccountError);
      assert.match(error.message, /is not JSON/);
      assert.ok(!error.message.includes(key.privateKeyPem.slice(30, 60)));
      return true;
    });
    await assert.rejects(readServiceAccountFile(`${dir}/missing.json`), /cannot read .* NotFound/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
