import assert from "node:assert/strict";
import { startFakeFcm } from "../../../../adapters/push/fcm/fake_fcm_server.ts";
import {
  type FcmAccessToken,
  FcmTokenError,
  FcmTokenSource,
  type FcmTokenSourceOptions,
  MemoryFcmTokenCache,
} from "../../../../adapters/push/fcm/fcm_token_source.ts";
import { fetchTransport } from "../../../../adapters/push/fcm/http_transport.ts";
import { parseServiceAccount } from "../../../../adapters/push/fcm/service_account.ts";
import {
  generateServiceAccountKey,
  serviceAccountJson,
} from "../../../../adapters/push/fcm/throwaway_service_account.ts";
import { FakeClock } from "../../../support/fakes.ts";
import { RecordingLogger } from "../../../support/recording_logger.ts";

const transport = fetchTransport();

function source(
  fake: { serviceAccount: unknown },
  extra: Partial<FcmTokenSourceOptions> = {},
) {
  const logger = new RecordingLogger();
  const clock = new FakeClock(Date.now());
  const cache = new MemoryFcmTokenCache();
  const tokens = new FcmTokenSource({
    account: parseServiceAccount(fake.serviceAccount),
    cache,
    transport,
    clock,
    logger,
    ...extra,
  });
  return { tokens, logger, clock, cache };
}

Deno.test("FcmTokenSource: trades a jose-verified assertion for a token, caches it in memory and in the shared cache", async () => {
  await using fake = await startFakeFcm();
  const { tokens, cache, clock, logger } = source(fake);
  const token = await tokens.get();
  assert.equal(fake.counters.tokenRequests, 1);
  assert.deepEqual(fake.issuedTokens, [token.accessToken]);
  const request = fake.tokenRequests[0];
  assert.equal(request.status, 200);
  assert.equal(request.claims!.iss, fake.serviceAccount.client_email);
  assert.equal(request.claims!.aud, fake.tokenUri);
  assert.equal(request.claims!.scope, "https://www.googleapis.com/auth/firebase.messaging");
  assert.equal(request.header!.kid, fake.key.keyId);
  assert.equal(token.clientEmail, fake.serviceAccount.client_email);
  assert.equal(token.expiresAt, clock.now() + 3599_000);
  assert.equal(cache.calls.save, 1);

  assert.equal(await tokens.get(), token);
  assert.equal(fake.counters.tokenRequests, 1);
  assert.ok(!logger.text().includes(token.accessToken), "the token is never logged");
  assert.ok(!logger.text().includes("PRIVATE"), "the key is never logged");
});

Deno.test("FcmTokenSource: concurrent callers share one token request (single flight)", async () => {
  await using fake = await startFakeFcm();
  const { tokens } = source(fake);
  const all = await Promise.all(Array.from({ length: 20 }, () => tokens.get()));
  assert.equal(fake.counters.tokenRequests, 1);
  assert.ok(all.every((t) => t === all[0]));
});

Deno.test("FcmTokenSource: a second instance takes the token from the shared cache", async () => {
  await using fake = await startFakeFcm();
  const first = source(fake);
  const token = await first.tokens.get();
  const second = new FcmTokenSource({
    account: parseServiceAccount(fake.serviceAccount),
    cache: first.cache,
    transport,
    clock: first.clock,
    logger: new RecordingLogger(),
  });
  assert.equal((await second.get()).accessToken, token.accessToken);
  assert.equal(fake.counters.tokenRequests, 1);
});

Deno.test("FcmTokenSource: ignores a cached token of another service account", async () => {
  await using fake = await startFakeFcm();
  const { tokens, cache, clock } = source(fake);
  await cache.save({
    accessToken: "someone-elses",
    expiresAt: clock.now() + 3_600_000,
    clientEmail: "other@x.iam.gserviceaccount.com",
  });
  assert.notEqual((await tokens.get()).accessToken, "someone-elses");
  assert.equal(fake.counters.tokenRequests, 1);
});

Deno.test("FcmTokenSource: refreshes the safety margin before expiry, not earlier", async () => {
  await using fake = await startFakeFcm();
  const { tokens, clock } = source(fake, { safetyMarginMs: 300_000 });
  const first = await tokens.get();
  clock.advance(3599_000 - 300_000 - 1);
  assert.equal(await tokens.get(), first);
  assert.equal(fake.counters.tokenRequests, 1);
  clock.advance(1);
  const second = await tokens.get();
  assert.notEqual(second.accessToken, first.accessToken);
  assert.equal(fake.counters.tokenRequests, 2);
});

Deno.test("FcmTokenSource: a short-lived token is refreshed at half its life, not on every call", async () => {
  await using fake = await startFakeFcm({ tokenExpiresIn: 60 });
  const { tokens, clock } = source(fake);
  const first = await tokens.get();
  clock.advance(29_000);
  assert.equal(await tokens.get(), first);
  clock.advance(1_000);
  assert.notEqual(await tokens.get(), first);
  assert.equal(fake.counters.tokenRequests, 2);
});

Deno.test("FcmTokenSource: invalidate (FCM said 401) fetches a new token, and never the refused one from the cache", async () => {
  await using fake = await startFakeFcm();
  const { tokens, cache } = source(fake);
  const first = await tokens.get();
  tokens.invalidate(first);
  const second = await tokens.get();
  assert.notEqual(second.accessToken, first.accessToken);
  assert.equal(fake.counters.tokenRequests, 2);
  assert.equal((await cache.load())!.accessToken, second.accessToken);
  // Invalidating an older token keeps the newer one.
  tokens.invalidate(first);
  assert.equal(await tokens.get(), second);
  assert.equal(fake.counters.tokenRequests, 2);
});

Deno.test("FcmTokenSource: refused credentials are logged once and fail fast until the retry delay", async () => {
  await using fake = await startFakeFcm();
  const stranger = await generateServiceAccountKey();
  // Same identity and token_uri, but a key the fake does not know: invalid_grant.
  const account = { ...serviceAccountJson(stranger, fake.projectId, fake.tokenUri) };
  const { tokens, logger, clock } = source({ serviceAccount: account }, { refusedRetryMs: 60_000 });
  for (let i = 0; i < 5; i++) {
    await assert.rejects(tokens.get(), (error: unknown) => {
      assert.ok(error instanceof FcmTokenError);
      assert.equal(error.retryable, false);
      assert.equal(error.status, 400);
      assert.match(error.message, /invalid_grant/);
      return true;
    });
  }
  assert.equal(fake.counters.tokenRequests, 1, "no request per call while refused");
  assert.equal(logger.at("error").length, 1);
  assert.match(logger.at("error")[0].message, /refused the service account/);
  clock.advance(60_000);
  await assert.rejects(tokens.get(), FcmTokenError);
  assert.equal(fake.counters.tokenRequests, 2, "asks again after the delay");
  assert.equal(logger.at("error").length, 1, "still one log line for the same run of refusals");
});

Deno.test("FcmTokenSource: an unusable private key fails fast without a request", async () => {
  await using fake = await startFakeFcm();
  const ec = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
  ]);
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", ec.privateKey));
  const account = {
    ...fake.serviceAccount,
    private_key: `-----BEGIN PRIVATE KEY-----\n${der.toBase64()}\n-----END PRIVATE KEY-----\n`,
  };
  const { tokens, logger } = source({ serviceAccount: account });
  await assert.rejects(tokens.get(), (e: FcmTokenError) => !e.retryable);
  await assert.rejects(tokens.get(), (e: FcmTokenError) => !e.retryable);
  assert.equal(fake.counters.tokenRequests, 0);
  assert.equal(logger.at("error").length, 1);
});

Deno.test("FcmTokenSource: endpoint trouble is retryable and asked again on the next call", async () => {
  await using fake = await startFakeFcm();
  const { tokens } = source(fake);
  fake.failNextToken(503, { error: "backendError" });
  await assert.rejects(tokens.get(), (e: FcmTokenError) => e.retryable && e.status === 503);
  fake.failNextToken(200, { access_token: "x" }); // no expires_in: unusable
  await assert.rejects(
    tokens.get(),
    (e: FcmTokenError) => e.retryable && /expires_in/.test(e.message),
  );
  const token: FcmAccessToken = await tokens.get();
  assert.ok(token.accessToken.startsWith("ya29.fake-"));
  assert.equal(fake.counters.tokenRequests, 3);
});

Deno.test("FcmTokenSource: a token endpoint that does not answer times out (retryable)", async () => {
  // A listener that accepts and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    await using fake = await startFakeFcm();
    const account = {
      ...fake.serviceAccount,
      token_uri: `http://127.0.0.1:${listener.addr.port}/token`,
    };
    const { tokens } = source({ serviceAccount: account }, { requestTimeoutMs: 200 });
    const started = performance.now();
    await assert.rejects(
      tokens.get(),
      (e: FcmTokenError) => e.retryable && /timed out/.test(e.message),
    );
    assert.ok(performance.now() - started < 5_000);
  } finally {
    listener.close();
    for (const conn of held) conn.close();
  }
});
