import assert from "node:assert/strict";
import { fcmWakeup } from "../../../../domain/payloads/fcm_payload.ts";
import {
  FAKE_FCM_ERRORS,
  type FakeFcm,
  type FakeFcmErrorName,
  startFakeFcm,
} from "../../../../adapters/push/fcm/fake_fcm_server.ts";
import type { FcmOutcome } from "../../../../adapters/push/fcm/fcm_outcome.ts";
import { FcmSender, type FcmSenderOptions } from "../../../../adapters/push/fcm/fcm_sender.ts";
import {
  FcmTokenSource,
  MemoryFcmTokenCache,
} from "../../../../adapters/push/fcm/fcm_token_source.ts";
import {
  fetchTransport,
  type HttpTransport,
  nodeHttpTransport,
} from "../../../../adapters/push/fcm/http_transport.ts";
import { parseServiceAccount } from "../../../../adapters/push/fcm/service_account.ts";
import { RecordingLogger } from "../../../support/recording_logger.ts";

const HASH = "ec164939a8485ee6b7f7871071a11c7bb18aead5";
const WAKEUP = fcmWakeup({ account: HASH });

function sender(fake: FakeFcm, transport: HttpTransport, extra: Partial<FcmSenderOptions> = {}) {
  const logger = new RecordingLogger();
  const account = parseServiceAccount(fake.serviceAccount);
  const tokens = new FcmTokenSource({
    account,
    cache: new MemoryFcmTokenCache(),
    transport,
    clock: { now: Date.now },
    logger,
  });
  const fcm = new FcmSender({
    projectId: account.project_id,
    tokens,
    transport,
    logger,
    baseUrl: fake.url,
    ...extra,
  });
  return { fcm, logger, tokens };
}

/** The outcome each canned error body must map to (fcm-v1.md §5), without volatile fields. */
const EXPECTED: Record<FakeFcmErrorName, Partial<FcmOutcome>> = {
  UNREGISTERED: { kind: "token-gone", status: 404, code: "UNREGISTERED" },
  INVALID_ARGUMENT_TOKEN: { kind: "token-gone", status: 400, code: "INVALID_ARGUMENT" },
  INVALID_ARGUMENT_TOKEN_MESSAGE_ONLY: {
    kind: "token-gone",
    status: 400,
    code: "INVALID_ARGUMENT",
  },
  INVALID_ARGUMENT_MESSAGE: {
    kind: "final",
    status: 400,
    reason: "bad-message",
    code: "INVALID_ARGUMENT",
  },
  QUOTA_EXCEEDED: { kind: "throttled", status: 429, code: "QUOTA_EXCEEDED", retryAfterMs: 60_000 },
  RATE_LIMIT_EXCEEDED: { kind: "throttled", status: 429, code: null, retryAfterMs: null },
  UNAVAILABLE: {
    kind: "retryable",
    status: 503,
    reason: "server-error",
    code: "UNAVAILABLE",
    retryAfterMs: 10_000,
  },
  INTERNAL: {
    kind: "retryable",
    status: 500,
    reason: "server-error",
    code: "INTERNAL",
    retryAfterMs: null,
  },
  UNSPECIFIED_ERROR: {
    kind: "retryable",
    status: 500,
    reason: "server-error",
    code: "UNSPECIFIED_ERROR",
    retryAfterMs: null,
  },
  SENDER_ID_MISMATCH: {
    kind: "final",
    status: 403,
    reason: "configuration",
    code: "SENDER_ID_MISMATCH",
  },
  THIRD_PARTY_AUTH_ERROR: {
    kind: "final",
    status: 401,
    reason: "configuration",
    code: "THIRD_PARTY_AUTH_ERROR",
  },
  PERMISSION_DENIED: { kind: "final", status: 403, reason: "configuration", code: null },
  UNAUTHENTICATED: { kind: "final", status: 401, reason: "configuration", code: null },
  PROJECT_NOT_FOUND: { kind: "final", status: 404, reason: "configuration", code: null },
};

function pick(outcome: FcmOutcome, like: Partial<FcmOutcome>): Partial<FcmOutcome> {
  return Object.fromEntries(
    Object.keys(like).map((k) => [k, (outcome as unknown as Record<string, unknown>)[k]]),
  ) as Partial<FcmOutcome>;
}

for (
  const [name, makeTransport] of [
    ["fetch", () => ({ send: fetchTransport(), close() {} })],
    ["node:http", () => nodeHttpTransport()],
  ] as const
) {
  Deno.test(`FcmSender (${name}): delivers a data-only HIGH message exactly as fcm-v1.md §3 says`, async () => {
    await using fake = await startFakeFcm();
    const transport = makeTransport();
    try {
      const { fcm, logger } = sender(fake, transport.send, { ttlSeconds: 86400 });
      const device = fake.deviceToken();
      const outcome = await fcm.send(device, WAKEUP.data, { collapseKey: WAKEUP.collapseKey });
      assert.equal(outcome.kind, "delivered");
      assert.equal(outcome.status, 200);
      assert.equal(fake.messages.length, 1);
      const request = fake.sendRequests[0];
      assert.equal(request.path, `/v1/projects/${fake.projectId}/messages:send`);
      const headers = new Map(request.headers);
      assert.equal(headers.get("authorization"), `Bearer ${fake.issuedTokens[0]}`);
      assert.equal(headers.get("content-type"), "application/json; charset=UTF-8");
      assert.deepEqual(JSON.parse(request.body), {
        message: {
          token: device,
          data: { account: HASH },
          android: { priority: "HIGH", ttl: "86400s", collapse_key: "ec1649" },
        },
      });
      assert.ok(!logger.text().includes(device), "the registration token is never logged");
      assert.ok(!logger.text().includes(fake.issuedTokens[0]), "the access token is never logged");
    } finally {
      transport.close();
    }
  });

  Deno.test(`FcmSender (${name}): every error body of fcm-v1.md §4 maps to its §5 outcome`, async () => {
    await using fake = await startFakeFcm();
    const transport = makeTransport();
    try {
      const { fcm } = sender(fake, transport.send);
      for (const errorName of Object.keys(FAKE_FCM_ERRORS) as FakeFcmErrorName[]) {
        const device = fake.deviceToken();
        fake.failAlways(device, errorName);
        const outcome = await fcm.send(device, WAKEUP.data);
        assert.deepEqual(pick(outcome, EXPECTED[errorName]), EXPECTED[errorName], errorName);
      }
      assert.equal(fake.messages.length, 0);
    } finally {
      transport.close();
    }
  });
}

Deno.test("FcmSender: an expired access token is refreshed once and the push retried once", async () => {
  await using fake = await startFakeFcm();
  const { fcm } = sender(fake, fetchTransport());
  const device = fake.deviceToken();
  assert.equal((await fcm.send(device, WAKEUP.data)).kind, "delivered");
  fake.expireTokens();
  const outcome = await fcm.send(device, WAKEUP.data);
  assert.equal(outcome.kind, "delivered");
  assert.equal(fake.counters.tokenRequests, 2);
  assert.equal(fake.counters.sends, 3);
  assert.deepEqual(fake.sendRequests.map((r) => r.status), [200, 401, 200]);
  assert.equal(fake.messages[1].accessToken, fake.issuedTokens[1]);
});

Deno.test("FcmSender: many pushes meeting an expired token share one refresh", async () => {
  await using fake = await startFakeFcm();
  const { fcm } = sender(fake, fetchTransport());
  assert.equal((await fcm.send(fake.deviceToken(), WAKEUP.data)).kind, "delivered");
  fake.expireTokens();
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, () => fcm.send(fake.deviceToken(), WAKEUP.data)),
  );
  assert.ok(outcomes.every((o) => o.kind === "delivered"));
  assert.equal(fake.counters.tokenRequests, 2);
  assert.equal(fake.messages.length, 21);
});

Deno.test("FcmSender: 401 after the refresh too is a configuration failure, not a loop", async () => {
  await using fake = await startFakeFcm();
  const { fcm, logger } = sender(fake, fetchTransport());
  const device = fake.deviceToken();
  fake.failAlways(device, "UNAUTHENTICATED");
  const outcome = await fcm.send(device, WAKEUP.data);
  assert.deepEqual(pick(outcome, { kind: "final", status: 401, reason: "configuration" }), {
    kind: "final",
    status: 401,
    reason: "configuration",
  });
  assert.equal(fake.counters.sends, 2);
  assert.equal(fake.counters.tokenRequests, 2);
  // Alerted once per kind of failure, not once per push.
  await fcm.send(device, WAKEUP.data);
  assert.equal(logger.at("error").filter((l) => /freshly issued/.test(l.message)).length, 1);
});

Deno.test("FcmSender: THIRD_PARTY_AUTH_ERROR (401 with FcmError) does not refresh the token", async () => {
  await using fake = await startFakeFcm();
  const { fcm } = sender(fake, fetchTransport());
  const device = fake.deviceToken();
  fake.failNext(device, "THIRD_PARTY_AUTH_ERROR");
  assert.equal((await fcm.send(device, WAKEUP.data)).kind, "final");
  assert.equal(fake.counters.sends, 1);
  assert.equal(fake.counters.tokenRequests, 1);
});

Deno.test("FcmSender: Retry-After as an HTTP date", async () => {
  await using fake = await startFakeFcm();
  const now = Date.parse("2026-01-01T00:00:00Z");
  const { fcm } = sender(fake, fetchTransport(), { now: () => now });
  const device = fake.deviceToken();
  fake.failNext(device, "UNAVAILABLE", { "Retry-After": "Thu, 01 Jan 2026 00:00:30 GMT" });
  const outcome = await fcm.send(device, WAKEUP.data);
  assert.equal(outcome.kind, "retryable");
  assert.equal((outcome as { retryAfterMs: number }).retryAfterMs, 30_000);
});

Deno.test("FcmSender: a slow FCM times out (retryable), a cut answer is a network failure", async () => {
  await using fake = await startFakeFcm();
  const node = nodeHttpTransport();
  for (const transport of [fetchTransport(), node.send]) {
    const { fcm } = sender(fake, transport, { requestTimeoutMs: 300 });
    const slow = fake.deviceToken();
    fake.delayNext(slow, 3_000);
    const started = performance.now();
    const outcome = await fcm.send(slow, WAKEUP.data);
    assert.deepEqual(pick(outcome, { kind: "retryable", reason: "timeout" }), {
      kind: "retryable",
      reason: "timeout",
    });
    assert.ok(performance.now() - started < 2_900, "did not wait for the answer");
    const cut = fake.deviceToken();
    fake.resetNext(cut);
    const cutOutcome = await fcm.send(cut, WAKEUP.data);
    assert.deepEqual(pick(cutOutcome, { kind: "retryable", reason: "network" }), {
      kind: "retryable",
      reason: "network",
    });
  }
  node.close();
});

Deno.test("FcmSender: nothing listening is a retryable network failure; refused credentials are final", async () => {
  await using fake = await startFakeFcm();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = listener.addr.port;
  listener.close();
  const { fcm } = sender(fake, fetchTransport(), { baseUrl: `http://127.0.0.1:${deadPort}` });
  assert.deepEqual(
    pick(await fcm.send(fake.deviceToken(), WAKEUP.data), { kind: "retryable", reason: "network" }),
    {
      kind: "retryable",
      reason: "network",
    },
  );

  fake.failNextToken(400, { error: "invalid_grant", error_description: "Invalid JWT Signature." });
  const refused = sender(fake, fetchTransport());
  const outcome = await refused.fcm.send(fake.deviceToken(), WAKEUP.data);
  assert.deepEqual(pick(outcome, { kind: "final", reason: "configuration" }), {
    kind: "final",
    reason: "configuration",
  });
  fake.failNextToken(503, {});
  const down = sender(fake, fetchTransport());
  const downOutcome = await down.fcm.send(fake.deviceToken(), WAKEUP.data);
  assert.deepEqual(pick(downOutcome, { kind: "retryable", reason: "token-unavailable" }), {
    kind: "retryable",
    reason: "token-unavailable",
  });
});

Deno.test("FcmSender: refuses to send what FCM would refuse, without a request", async () => {
  await using fake = await startFakeFcm();
  const { fcm } = sender(fake, fetchTransport());
  const cases: [string, Record<string, string>][] = [
    ["", WAKEUP.data],
    ["has space", WAKEUP.data],
    [fake.deviceToken(), {}],
    [fake.deviceToken(), { from: "x" }],
    [fake.deviceToken(), { google_x: "x" }],
    [fake.deviceToken(), { account: "x".repeat(4090) }],
  ];
  for (const [device, data] of cases) {
    const outcome = await fcm.send(device, data);
    assert.deepEqual(pick(outcome, { kind: "final", reason: "bad-message" }), {
      kind: "final",
      reason: "bad-message",
    });
  }
  assert.equal(fake.counters.sends, 0);
  assert.equal(fake.counters.tokenRequests, 0);
});

Deno.test("FcmSender: NORMAL priority, no TTL, restricted package, per-message overrides", async () => {
  await using fake = await startFakeFcm();
  const { fcm } = sender(fake, fetchTransport(), {
    priority: "NORMAL",
    restrictedPackageName: "eu.siacs.conversations",
  });
  const device = fake.deviceToken();
  await fcm.send(device, WAKEUP.data);
  await fcm.send(device, WAKEUP.data, { priority: "HIGH", ttlSeconds: 0, collapseKey: "abc" });
  assert.deepEqual(fake.messages.map((m) => m.android), [
    { priority: "NORMAL", restricted_package_name: "eu.siacs.conversations" },
    {
      priority: "HIGH",
      ttl: "0s",
      collapse_key: "abc",
      restricted_package_name: "eu.siacs.conversations",
    },
  ]);
});

/** A plain server answering what a test says, counting requests per path. */
function stubServer(answer: (path: string) => Response) {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const path = new URL(request.url).pathname;
    hits.push(path);
    return answer(path);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, hits, close: () => server.shutdown() };
}

Deno.test("FcmSender: redirects are not followed; an oversized answer is cut and judged by status", async () => {
  await using fake = await startFakeFcm();
  const stub = stubServer((path) => {
    if (path.startsWith("/redirect/")) {
      return new Response(null, { status: 307, headers: { Location: "/elsewhere" } });
    }
    if (path.startsWith("/big/")) {
      // A 503 whose body is far over the limit: only its start is read.
      return new Response(`{"error":{"status":"UNAVAILABLE","message":"${"x".repeat(1 << 20)}"}}`, {
        status: 503,
      });
    }
    return new Response("{}", { status: 200 });
  });
  const node = nodeHttpTransport();
  try {
    for (const transport of [fetchTransport(), node.send]) {
      const redirected = sender(fake, transport, { baseUrl: `${stub.url}/redirect` });
      const outcome = await redirected.fcm.send(fake.deviceToken(), WAKEUP.data);
      assert.deepEqual(pick(outcome, { kind: "final", status: 307, reason: "configuration" }), {
        kind: "final",
        status: 307,
        reason: "configuration",
      });
      const big = sender(fake, transport, { baseUrl: `${stub.url}/big`, maxResponseBytes: 1024 });
      const bigOutcome = await big.fcm.send(fake.deviceToken(), WAKEUP.data);
      assert.deepEqual(pick(bigOutcome, { kind: "retryable", status: 503 }), {
        kind: "retryable",
        status: 503,
      });
    }
    assert.ok(!stub.hits.includes("/elsewhere"));
  } finally {
    node.close();
    await stub.close();
  }
});
