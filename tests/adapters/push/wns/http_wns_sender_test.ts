import assert from "node:assert/strict";
import type { Clock } from "../../../../domain/ports/clock.ts";
import type {
  RawNotificationOptions,
  WnsOutcome,
} from "../../../../adapters/push/wns/wns_sender.ts";
import type { AccessToken } from "../../../../domain/ports/storage.ts";
import { HttpWnsSender } from "../../../../adapters/push/wns/http_wns_sender.ts";
import { Http1Client } from "../../../../adapters/push/wns/http1_client.ts";
import type { WnsPost, WnsTokenProvider } from "../../../../adapters/push/wns/http_wns_sender.ts";
import { WnsTokenError, WnsTokenSource } from "../../../../adapters/push/wns/wns_token_source.ts";
import type { WnsTokenStore } from "../../../../adapters/push/wns/wns_token_source.ts";
import { startFakeWns } from "../../../../adapters/push/wns/fake_wns_server.ts";
import type { FakeWns, FakeWnsRequest } from "../../../../adapters/push/wns/fake_wns_server.ts";
import { RecordingLogger } from "../../../support/recording_logger.ts";

const PAYLOAD = '{"version":2,"action":"push","account_id":"é","message_count":1}';
const NO_CACHE: RawNotificationOptions = { cache: false, ttlSeconds: 0 };
const CACHE: RawNotificationOptions = { cache: true, ttlSeconds: 600 };

/** The token cache part of a store, in memory, counting reads and writes. */
class TokenStore implements WnsTokenStore {
  token: AccessToken | null = null;
  loads = 0;
  saves = 0;
  loadToken(key: string): Promise<AccessToken | null> {
    assert.equal(key, "WNS");
    this.loads++;
    return Promise.resolve(this.token);
  }
  saveToken(key: string, token: AccessToken): Promise<void> {
    assert.equal(key, "WNS");
    this.saves++;
    this.token = token;
    return Promise.resolve();
  }
}

class FakeClock implements Clock {
  constructor(public time = Date.now()) {}
  now(): number {
    return this.time;
  }
}

/**
 * The transports the sender's POSTs can go over: `http1` is what the server runs
 * (`app/wns_delivery.ts` hands it `Http1Client.post`); `fetch` is the default without one.
 * Every test that talks to the fake WNS runs on both.
 */
type Transport = "http1" | "fetch";
const TRANSPORTS: readonly Transport[] = ["http1", "fetch"];

/** Http1Clients opened by the running test, closed when it ends. */
const openClients: Http1Client[] = [];

/** Registers `fn` as one test per transport. */
function senderTest(name: string, fn: (transport: Transport) => Promise<void>) {
  for (const transport of TRANSPORTS) {
    Deno.test(`${name} [${transport}]`, async () => {
      try {
        await fn(transport);
      } finally {
        for (const client of openClients.splice(0)) client.close();
      }
    });
  }
}

interface Setup {
  sender: HttpWnsSender;
  tokens: WnsTokenSource;
  store: TokenStore;
  logger: RecordingLogger;
}

function setup(
  transport: Transport,
  fake: FakeWns,
  overrides: {
    store?: TokenStore;
    logger?: RecordingLogger;
    clientSecret?: string;
    clock?: Clock;
    timeoutMs?: number;
  } = {},
): Setup {
  const store = overrides.store ?? new TokenStore();
  const logger = overrides.logger ?? new RecordingLogger();
  const tokens = new WnsTokenSource({
    tokenUrl: fake.tokenUrl,
    packetId: fake.packetId,
    clientSecret: overrides.clientSecret ?? fake.clientSecret,
    store,
    clock: overrides.clock ?? { now: () => Date.now() },
    logger,
    requestTimeoutMs: overrides.timeoutMs ?? 2000,
  });
  let post: WnsPost | undefined;
  if (transport === "http1") {
    const client = new Http1Client();
    openClients.push(client);
    post = client.post.bind(client);
  }
  const sender = new HttpWnsSender({
    tokens,
    logger,
    requestTimeoutMs: overrides.timeoutMs ?? 2000,
    post,
  });
  return { sender, tokens, store, logger };
}

function channelRequests(fake: FakeWns): FakeWnsRequest[] {
  return fake.requests.filter((r) => r.path.startsWith("/channel/"));
}

function header(request: FakeWnsRequest, name: string): string | undefined {
  return request.headers.find(([n]) => n === name.toLowerCase())?.[1];
}

function assertFailed(
  outcome: WnsOutcome,
  retryable: boolean,
  status: number | null,
): asserts outcome is Extract<WnsOutcome, { kind: "failed" }> {
  assert.equal(outcome.kind, "failed", JSON.stringify(outcome));
  assert.equal(outcome.retryable, retryable, outcome.detail);
  assert.equal(outcome.status, status, outcome.detail);
}

/** A loopback port nobody listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

senderTest(
  "delivers a raw push with exactly the WNS headers, a Content-Length and the URI as given",
  async (transport) => {
    await using fake = await startFakeWns();
    const { sender } = setup(transport, fake);
    const uri = fake.channelUri();

    const outcome = await sender.sendRaw(uri, PAYLOAD, NO_CACHE);
    assert.deepEqual(outcome, { kind: "delivered", status: 200, wnsStatus: "received" });
    const cached = await sender.sendRaw(uri, PAYLOAD, CACHE);
    assert.equal(cached.kind, "delivered");

    const [first, second] = channelRequests(fake);
    const bytes = new TextEncoder().encode(PAYLOAD).byteLength;
    assert.notEqual(bytes, PAYLOAD.length); // the "é" makes bytes and characters differ
    for (const request of [first, second]) {
      assert.equal(request.method, "POST");
      assert.equal(request.path, uri.slice(fake.url.length)); // byte-identical query
      assert.equal(request.channelUri, uri);
      assert.equal(request.authorizationHeaders, 1);
      assert.equal(header(request, "authorization"), `Bearer ${fake.issuedTokens[0]}`);
      assert.equal(header(request, "x-wns-type"), "wns/raw");
      assert.equal(header(request, "content-type"), "application/octet-stream");
      assert.equal(header(request, "x-wns-requestforstatus"), "true");
      assert.equal(header(request, "content-length"), String(bytes));
      assert.equal(header(request, "transfer-encoding"), undefined);
      assert.equal(header(request, "expect"), undefined);
      assert.equal(request.body, PAYLOAD);
    }
    assert.equal(header(first, "x-wns-cache-policy"), "no-cache");
    assert.equal(header(first, "x-wns-ttl"), undefined);
    assert.equal(header(second, "x-wns-cache-policy"), "cache");
    assert.equal(header(second, "x-wns-ttl"), "600");
    assert.equal(fake.received.length, 2);
  },
);

senderTest(
  "takes the status from X-WNS-NotificationStatus when X-WNS-Status is missing",
  async (transport) => {
    await using fake = await startFakeWns();
    const { sender } = setup(transport, fake);
    const uri = fake.channelUri();
    fake.failNext(uri, 200, { "X-WNS-NotificationStatus": "dropped" });
    assert.deepEqual(await sender.sendRaw(uri, PAYLOAD, NO_CACHE), {
      kind: "delivered",
      status: 200,
      wnsStatus: "dropped",
    });
    fake.failNext(uri, 200);
    assert.deepEqual(await sender.sendRaw(uri, PAYLOAD, NO_CACHE), {
      kind: "delivered",
      status: 200,
      wnsStatus: null,
    });
  },
);

senderTest(
  "fetches the token once for many sends, and once for concurrent sends",
  async (transport) => {
    await using fake = await startFakeWns();
    const sequential = setup(transport, fake);
    const uri = fake.channelUri();
    for (let i = 0; i < 10; i++) {
      assert.equal((await sequential.sender.sendRaw(uri, PAYLOAD, NO_CACHE)).kind, "delivered");
    }
    assert.equal(fake.tokenRequests.length, 1);
    assert.equal(sequential.store.saves, 1);

    const concurrent = setup(transport, fake); // a fresh source and store: nothing cached
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, () => concurrent.sender.sendRaw(uri, PAYLOAD, NO_CACHE)),
    );
    assert.ok(outcomes.every((o) => o.kind === "delivered"));
    assert.equal(fake.tokenRequests.length, 2);
    assert.equal(concurrent.store.saves, 1);
    assert.equal(fake.received.length, 35);
  },
);

senderTest("reuses the stored token after a restart", async (transport) => {
  await using fake = await startFakeWns();
  const store = new TokenStore();
  const uri = fake.channelUri();
  assert.equal(
    (await setup(transport, fake, { store }).sender.sendRaw(uri, PAYLOAD, NO_CACHE)).kind,
    "delivered",
  );
  assert.equal(fake.tokenRequests.length, 1);

  const restarted = setup(transport, fake, { store });
  assert.equal((await restarted.sender.sendRaw(uri, PAYLOAD, NO_CACHE)).kind, "delivered");
  assert.equal(fake.tokenRequests.length, 1);
  assert.equal(store.saves, 1);
});

senderTest(
  "refreshes a token that is about to expire, not one that is still good",
  async (transport) => {
    await using fake = await startFakeWns();
    const clock = new FakeClock();
    const { tokens } = setup(transport, fake, { clock });
    const first = await tokens.get();
    assert.equal(first.expiresAt, clock.time + 86_400_000);
    clock.time += 86_400_000 - 10 * 60_000; // ten minutes left: still fine
    assert.equal((await tokens.get()).accessToken, first.accessToken);
    clock.time += 6 * 60_000; // four minutes left: inside the safety margin
    assert.notEqual((await tokens.get()).accessToken, first.accessToken);
    assert.equal(fake.tokenRequests.length, 2);
  },
);

senderTest("parses an Entra-style token answer (string expires_in, Bearer)", async (transport) => {
  await using fake = await startFakeWns({ tokenExpiresIn: "86399", tokenType: "Bearer" });
  const clock = new FakeClock();
  const { sender, tokens } = setup(transport, fake, { clock });
  assert.equal((await tokens.get()).expiresAt, clock.time + 86_399_000);
  assert.equal((await sender.sendRaw(fake.channelUri(), PAYLOAD, NO_CACHE)).kind, "delivered");
});

senderTest("on 401 refreshes the token once and retries once", async (transport) => {
  await using fake = await startFakeWns();
  const { sender, store } = setup(transport, fake);
  const uri = fake.channelUri();
  assert.equal((await sender.sendRaw(uri, PAYLOAD, NO_CACHE)).kind, "delivered");

  fake.expireTokens();
  assert.equal((await sender.sendRaw(uri, PAYLOAD, NO_CACHE)).kind, "delivered");
  // The store still held the refused token: it must not be taken back from there.
  assert.equal(fake.tokenRequests.length, 2);
  assert.deepEqual(channelRequests(fake).map((r) => r.status), [200, 401, 200]);
  assert.equal(store.token?.accessToken, fake.issuedTokens[1]);
  assert.equal(header(channelRequests(fake)[2], "authorization"), `Bearer ${fake.issuedTokens[1]}`);

  // Refused twice: report, never a third attempt.
  fake.failNext(uri, 401);
  fake.failNext(uri, 401);
  const outcome = await sender.sendRaw(uri, PAYLOAD, NO_CACHE);
  assertFailed(outcome, false, 401);
  assert.equal(channelRequests(fake).length, 5);
  assert.equal(fake.tokenRequests.length, 3);
});

senderTest("concurrent 401s share one token refresh", async (transport) => {
  await using fake = await startFakeWns();
  const { sender } = setup(transport, fake);
  const uri = fake.channelUri();
  assert.equal((await sender.sendRaw(uri, PAYLOAD, NO_CACHE)).kind, "delivered");
  fake.expireTokens();
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, () => sender.sendRaw(uri, PAYLOAD, NO_CACHE)),
  );
  assert.ok(outcomes.every((o) => o.kind === "delivered"), JSON.stringify(outcomes));
  assert.equal(fake.tokenRequests.length, 2);
});

senderTest("404 and 410 mean the channel is gone", async (transport) => {
  await using fake = await startFakeWns();
  const { sender } = setup(transport, fake);
  const unknown = `${fake.url}/channel/never-registered?token=abc%2bdef`;
  assert.deepEqual(await sender.sendRaw(unknown, PAYLOAD, NO_CACHE), {
    kind: "channel-gone",
    status: 404,
  });
  const expired = fake.channelUri();
  fake.expireChannel(expired);
  assert.deepEqual(await sender.sendRaw(expired, PAYLOAD, NO_CACHE), {
    kind: "channel-gone",
    status: 410,
  });
});

senderTest("400, 403, 405, 413 and redirects fail for good", async (transport) => {
  await using fake = await startFakeWns();
  const { sender } = setup(transport, fake);
  const uri = fake.channelUri();
  for (const status of [400, 403, 405, 413]) {
    fake.failNext(uri, status, { "X-WNS-Error-Description": `injected ${status}` });
    const outcome = await sender.sendRaw(uri, PAYLOAD, NO_CACHE);
    assertFailed(outcome, false, status);
    assert.match(outcome.detail, new RegExp(`${status}.*injected ${status}`));
  }
  const elsewhere = fake.channelUri();
  fake.failNext(uri, 302, { Location: elsewhere });
  assertFailed(await sender.sendRaw(uri, PAYLOAD, NO_CACHE), false, 302);
  assert.equal(channelRequests(fake).filter((r) => r.channelUri === elsewhere).length, 0);
});

senderTest("empty and oversize payloads are refused without a request", async (transport) => {
  await using fake = await startFakeWns();
  const { sender } = setup(transport, fake);
  const uri = fake.channelUri();
  assertFailed(await sender.sendRaw(uri, "", NO_CACHE), false, null);
  const oversize = await sender.sendRaw(uri, "x".repeat(5001), NO_CACHE);
  assertFailed(oversize, false, null);
  assert.match(oversize.detail, /5001 bytes/);
  // 2500 two-byte characters are 5000 bytes: the limit is in bytes.
  assert.equal((await sender.sendRaw(uri, "é".repeat(2500), NO_CACHE)).kind, "delivered");
  assertFailed(await sender.sendRaw(uri, "é".repeat(2501), NO_CACHE), false, null);
  assert.equal(channelRequests(fake).length, 1);
  assert.equal(fake.tokenRequests.length, 1);
});

senderTest(
  "406 and 429 are throttling with Retry-After; 500 and 503 are retryable",
  async (transport) => {
    await using fake = await startFakeWns();
    const { sender } = setup(transport, fake);
    const uri = fake.channelUri();
    for (const status of [406, 429]) {
      fake.failNext(uri, status, { "Retry-After": "30" });
      const outcome = await sender.sendRaw(uri, PAYLOAD, NO_CACHE);
      assert.equal(outcome.kind, "throttled");
      assert.equal(outcome.kind === "throttled" && outcome.retryAfterMs, 30_000);
    }
    for (const status of [500, 503]) {
      fake.failNext(uri, status, { "Retry-After": "7" });
      const outcome = await sender.sendRaw(uri, PAYLOAD, NO_CACHE);
      assertFailed(outcome, true, status);
      assert.equal(outcome.retryAfterMs, 7000);
    }
  },
);

senderTest("a 200 saying channelthrottled is throttling, not a delivery", async (transport) => {
  await using fake = await startFakeWns();
  const { sender } = setup(transport, fake);
  const uri = fake.channelUri();
  fake.failNext(uri, 200, { "X-WNS-Status": "channelthrottled" });
  assert.equal((await sender.sendRaw(uri, PAYLOAD, NO_CACHE)).kind, "throttled");
});

senderTest(
  "a bad client secret fails for good with a clear detail and no secret in it",
  async (transport) => {
    await using fake = await startFakeWns({ clientSecret: "the-right-secret" });
    const wrongSecret = "a-wrong-secret-value";
    const { sender, store } = setup(transport, fake, { clientSecret: wrongSecret });
    const outcome = await sender.sendRaw(fake.channelUri(), PAYLOAD, NO_CACHE);
    assertFailed(outcome, false, null);
    assert.match(outcome.detail, /token endpoint answered 400 \(invalid_client\)/);
    assert.ok(!outcome.detail.includes(wrongSecret));
    assert.equal(channelRequests(fake).length, 0);
    assert.equal(store.saves, 0);
  },
);

senderTest(
  "token endpoint trouble is retryable; WnsTokenError carries the status",
  async (transport) => {
    await using fake = await startFakeWns();
    const { sender, tokens } = setup(transport, fake);
    const uri = fake.channelUri();
    fake.failNextToken(503);
    assertFailed(await sender.sendRaw(uri, PAYLOAD, NO_CACHE), true, null);
    fake.failNextToken(200, '{"access_token":"x","token_type":"mac","expires_in":60}');
    const error = await tokens.get().then(() => null, (e: unknown) => e);
    assert.ok(error instanceof WnsTokenError);
    assert.equal(error.status, 200);
    assert.equal(error.retryable, true);
    assert.match(error.message, /token_type/);
    assert.ok(!error.message.includes('"x"'));
    // The endpoint recovers: so does the sender.
    assert.equal((await sender.sendRaw(uri, PAYLOAD, NO_CACHE)).kind, "delivered");
  },
);

senderTest("a closed port is a retryable failure within the timeout", async (transport) => {
  await using fake = await startFakeWns();
  const { sender } = setup(transport, fake, { timeoutMs: 1000 });
  const uri = `http://127.0.0.1:${closedPort()}/channel/x?token=abc%2bdef`;
  const started = Date.now();
  const outcome = await sender.sendRaw(uri, PAYLOAD, NO_CACHE);
  assertFailed(outcome, true, null);
  assert.ok(Date.now() - started < 1000);
  assert.ok(!outcome.detail.includes("abc%2bdef"), outcome.detail);
});

senderTest("a WNS that does not answer is a retryable timeout", async (transport) => {
  await using fake = await startFakeWns();
  const { sender } = setup(transport, fake, { timeoutMs: 200 });
  const uri = fake.channelUri();
  await sender.sendRaw(uri, PAYLOAD, NO_CACHE); // token fetched outside the timed part
  fake.delayNext(uri, 3000);
  const started = Date.now();
  const outcome = await sender.sendRaw(uri, PAYLOAD, NO_CACHE);
  assertFailed(outcome, true, null);
  assert.match(outcome.detail, /timed out after 200 ms/);
  assert.ok(Date.now() - started < 1500);
});

Deno.test("never throws, whatever fails underneath", async () => {
  const logger = new RecordingLogger();
  const throwingTokens: WnsTokenProvider = {
    get: () => Promise.reject(new Error("boom")),
    invalidate: () => {
      throw new Error("boom");
    },
  };
  const noToken = new HttpWnsSender({ tokens: throwingTokens, logger });
  assertFailed(
    await noToken.sendRaw("https://x.notify.windows.com/?token=a", PAYLOAD, NO_CACHE),
    true,
    null,
  );

  const token: AccessToken = { accessToken: "t", tokenType: "bearer", expiresAt: Date.now() + 1e6 };
  const badFetch = new HttpWnsSender({
    tokens: { get: () => Promise.resolve(token), invalidate: () => {} },
    logger,
    fetch: () => {
      throw new TypeError("synchronous failure");
    },
  });
  assertFailed(
    await badFetch.sendRaw("https://x.notify.windows.com/?token=a", PAYLOAD, NO_CACHE),
    true,
    null,
  );
  assertFailed(await badFetch.sendRaw("not a url", PAYLOAD, NO_CACHE), false, null);
  assertFailed(await badFetch.sendRaw("ftp://x/?token=a", PAYLOAD, NO_CACHE), false, null);

  const throwsOn401 = new HttpWnsSender({
    tokens: { get: () => Promise.resolve(token), invalidate: throwingTokens.invalidate },
    logger,
    fetch: () => Promise.resolve(new Response(null, { status: 401 })),
  });
  assertFailed(
    await throwsOn401.sendRaw("https://x.notify.windows.com/?token=a", PAYLOAD, NO_CACHE),
    true,
    null,
  );
});

senderTest(
  "logs never contain the client secret, an access token or a channel token",
  async (transport) => {
    await using fake = await startFakeWns({ clientSecret: "never-log-this-secret" });
    const logger = new RecordingLogger();
    const details: string[] = [];
    const run = async (sender: HttpWnsSender, uri: string) => {
      const outcome = await sender.sendRaw(uri, PAYLOAD, NO_CACHE);
      if (outcome.kind === "failed") details.push(outcome.detail);
    };

    const good = setup(transport, fake, { logger, timeoutMs: 300 });
    const uri = fake.channelUri();
    await run(good.sender, uri);
    fake.expireTokens();
    await run(good.sender, uri); // 401, refresh, retry
    fake.failNext(uri, 401);
    fake.failNext(uri, 401);
    await run(good.sender, uri);
    fake.failNext(uri, 503, { "X-WNS-Error-Description": "busy" });
    await run(good.sender, uri);
    const gone = fake.channelUri();
    fake.expireChannel(gone);
    await run(good.sender, gone);
    const refused = `http://127.0.0.1:${closedPort()}/channel/x?token=closed-port-channel-token`;
    await run(good.sender, refused);
    fake.delayNext(uri, 2000);
    await run(good.sender, uri);
    fake.failNextToken(400, '{"error":"invalid_client"}');
    good.tokens.invalidate({
      accessToken: fake.issuedTokens.at(-1)!,
      tokenType: "bearer",
      expiresAt: 0,
    });
    await run(good.sender, uri);

    const badSecret = setup(transport, fake, { logger, clientSecret: "wrong-secret-also-secret" });
    await run(badSecret.sender, uri);

    assert.ok(logger.lines.length >= 8, "the scenarios should have logged");
    assert.ok(logger.lines.some((l) => l.fields.msgId), "failures carry X-WNS-Msg-ID");
    const everything = `${logger.text()}\n${details.join("\n")}`;
    const channelTokens = [uri, gone, refused].map((u) => new URL(u).searchParams.get("token")!);
    const rawChannelTokens = [uri, gone, refused].map((u) => u.slice(u.indexOf("token=") + 6));
    const secrets = [
      "never-log-this-secret",
      "wrong-secret-also-secret",
      ...fake.issuedTokens,
      ...channelTokens,
      ...rawChannelTokens,
    ];
    assert.ok(fake.issuedTokens.length >= 3);
    for (const secret of secrets) {
      assert.ok(!everything.includes(secret), `logged a secret: ${secret.slice(0, 6)}...`);
    }
  },
);

senderTest(
  "a channel answering a redirect to another host never makes us contact that host",
  async (transport) => {
    await using fake = await startFakeWns();
    const { sender } = setup(transport, fake);
    // The host a device (or whoever answers at its channel) would like us to reach.
    const elsewhere = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let contacted = 0;
    const accepting = (async () => {
      for await (const conn of elsewhere) {
        contacted++;
        conn.close();
      }
    })();
    try {
      const uri = fake.channelUri();
      const target = `http://localhost:${elsewhere.addr.port}/collect?token=x`;
      for (const status of [301, 302, 303, 307, 308]) {
        fake.failNext(uri, status, { Location: target });
        assertFailed(await sender.sendRaw(uri, PAYLOAD, NO_CACHE), false, status);
      }
      // A connection of our own, made after every send ended: the listener accepts in order,
      // so a stray connection of the sender's would be counted before this one is.
      (await Deno.connect({ hostname: "127.0.0.1", port: elsewhere.addr.port })).close();
      const deadline = performance.now() + 10_000;
      while (contacted === 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(contacted, 1, "only our own connection reached the other host");
      assert.equal(channelRequests(fake).length, 5, "one request per push, none followed");
    } finally {
      elsewhere.close();
      await accepting.catch(() => {});
    }
  },
);

senderTest("a channel of another app (403) fails for good", async (transport) => {
  await using fake = await startFakeWns();
  const { sender } = setup(transport, fake);
  const uri = fake.channelUri();
  fake.giveChannelToOtherApp(uri);
  assertFailed(await sender.sendRaw(uri, PAYLOAD, NO_CACHE), false, 403);
  assert.equal(channelRequests(fake).length, 1, "no retry");
});

senderTest(
  "an offline device: a cached push waits for it, an uncached one is dropped",
  async (transport) => {
    await using fake = await startFakeWns();
    const { sender } = setup(transport, fake);
    const uri = fake.channelUri();
    fake.setDeviceOffline(uri, true);
    // The fake checks the cache policy and TTL headers the sender writes.
    assert.deepEqual(await sender.sendRaw(uri, PAYLOAD, NO_CACHE), {
      kind: "delivered",
      status: 200,
      wnsStatus: "dropped",
    });
    assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "delivered");
    assert.equal(fake.received.length, 0);
    fake.setDeviceOffline(uri, false);
    assert.deepEqual(fake.received.map((p) => p.body), [PAYLOAD], "the cached push arrives");
    assert.equal(fake.dropped.length, 1);
  },
);
