/**
 * WNS delivery against the fake WNS, one test per WNS answer, plus token expiry and an
 * outage during a burst: WNS's adapter (the real HTTP sender) behind the shared delivery policy.
 */

import assert from "node:assert/strict";
import { ChannelBackoff } from "../../../app/delivery/channel_backoff.ts";
import { ConcurrencyGate } from "../../../app/delivery/concurrency_gate.ts";
import { DeliveryPolicy, PolicyDelivery } from "../../../app/delivery/delivery_policy.ts";
import { WNS_TARGETS, WnsPushDelivery } from "../../../adapters/push/wns/wns_push_delivery.ts";
import { type FakeWns, startFakeWns } from "../../../adapters/push/wns/fake_wns_server.ts";
import { HttpWnsSender } from "../../../adapters/push/wns/http_wns_sender.ts";
import { ENTRA_SCOPE, WnsTokenSource } from "../../../adapters/push/wns/wns_token_source.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import type { DeliveryOutcome, Notification } from "../../../domain/ports/push_delivery.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const NOTIFICATION: Notification = {
  kind: "push",
  accountId: "A",
  counts: { messageCount: 1, pendingSubscriptionCount: 0 },
};
/** Kept by WNS for a minute: sent with WNS's cache policy. */
const CACHE = { ttlSeconds: 60 };

interface Options {
  maxAttempts?: number;
  maxInFlight?: number;
  maxQueued?: number;
  maxDelayMs?: number;
  clientSecret?: string;
  timeoutMs?: number;
  entra?: { tokenUrl: string; appId: string };
}

function pipeline(fake: FakeWns, options: Options = {}) {
  const logger = new RecordingLogger();
  const clock = { now: () => Date.now() };
  const tokens = new WnsTokenSource({
    tokenUrl: options.entra?.tokenUrl ?? fake.tokenUrl,
    packetId: options.entra?.appId ?? fake.packetId,
    clientSecret: options.clientSecret ?? fake.clientSecret,
    scope: options.entra ? ENTRA_SCOPE : undefined,
    store: new MemoryStore(),
    clock,
    logger,
    requestTimeoutMs: 2000,
  });
  const gate = new ConcurrencyGate(options.maxInFlight ?? 16, options.maxQueued ?? 1000);
  const backoff = new ChannelBackoff(clock);
  const policy = new DeliveryPolicy({
    gate,
    backoff,
    retry: {
      maxAttempts: options.maxAttempts ?? 4,
      initialDelayMs: 20,
      maxDelayMs: options.maxDelayMs ?? 200,
    },
    logger,
  });
  // WNS's adapter (HTTP and the token) behind the shared policy, as the server wires it.
  const http = new HttpWnsSender({ tokens, logger, requestTimeoutMs: options.timeoutMs ?? 2000 });
  const delivery = new PolicyDelivery(new WnsPushDelivery(http), policy);
  const send = (uri: string) =>
    delivery.deliver({ ...WNS_TARGETS, address: uri }, NOTIFICATION, CACHE);
  return { send, gate, backoff, logger };
}

const posts = (fake: FakeWns, uri?: string) =>
  fake.requests.filter((r) => r.path.startsWith("/channel/") && (!uri || r.channelUri === uri))
    .length;

Deno.test("200 received: delivered once, with WNS's status", async () => {
  await using fake = await startFakeWns();
  const { send } = pipeline(fake);
  const uri = fake.channelUri();
  assert.deepEqual(await send(uri), {
    kind: "delivered",
    status: 200,
    detail: "received",
  });
  assert.equal(fake.received.length, 1);
  const header = (name: string) => fake.received[0].headers.find(([k]) => k === name)?.[1];
  assert.equal(header("x-wns-cache-policy"), "cache");
  assert.equal(header("x-wns-ttl"), "60");
});

Deno.test("200 channelthrottled: the channel backs off and is not posted to meanwhile", async () => {
  await using fake = await startFakeWns();
  const { send, backoff } = pipeline(fake);
  const uri = fake.channelUri();
  fake.failNext(uri, 200, { "X-WNS-Status": "channelthrottled" });
  assert.equal((await send(uri)).kind, "throttled");
  assert.ok(backoff.blockedFor(uri) > 0);
  assert.equal((await send(uri)).kind, "throttled");
  assert.equal(posts(fake, uri), 1, "a backing-off channel was posted to");
  // Other channels are not affected.
  assert.equal((await send(fake.channelUri())).kind, "delivered");
});

for (const status of [400, 405, 413]) {
  Deno.test(`${status}: our bug, no retry, logged with WNS's diagnostics`, async () => {
    await using fake = await startFakeWns();
    const { send, logger } = pipeline(fake);
    const uri = fake.channelUri();
    fake.failNext(uri, status, {
      "X-WNS-Error-Description": "described",
      "X-WNS-Msg-ID": "1234567890ABCDEF",
    });
    const outcome = await send(uri);
    assert.equal(outcome.kind, "failed");
    assert.equal(outcome.kind === "failed" && outcome.retryable, false);
    assert.equal(posts(fake, uri), 1);
    const line = logger.lines.find((l) => l.message === "WNS send failed");
    assert.equal(line?.fields.errorDescription, "described");
    assert.equal(line?.fields.msgId, "1234567890ABCDEF");
    assert.equal(line?.fields.debugTrace, "FAKEWNS");
  });
}

Deno.test("401: one token refresh, one retry", async () => {
  await using fake = await startFakeWns();
  const { send } = pipeline(fake);
  const uri = fake.channelUri();
  assert.equal((await send(uri)).kind, "delivered");
  fake.expireTokens();
  assert.equal((await send(uri)).kind, "delivered");
  assert.equal(fake.tokenRequests.length, 2);
  assert.equal(posts(fake, uri), 3);
});

Deno.test("403: no retry, a loud configuration error", async () => {
  await using fake = await startFakeWns();
  const { send, logger } = pipeline(fake);
  const uri = fake.channelUri();
  fake.failNext(uri, 403);
  const outcome = await send(uri);
  assert.equal(outcome.kind === "failed" && outcome.retryable, false);
  assert.equal(posts(fake, uri), 1);
  assert.ok(logger.at("error").some((l) => /refuses our credentials/.test(l.message)));
});

for (const status of [404, 410]) {
  Deno.test(`${status}: the channel is gone, no retry`, async () => {
    await using fake = await startFakeWns();
    const { send } = pipeline(fake);
    const uri = fake.channelUri();
    fake.failNext(uri, status);
    assert.deepEqual(await send(uri), { kind: "target-gone", status });
    assert.equal(posts(fake, uri), 1);
  });
}

for (const status of [406, 429]) {
  Deno.test(`${status}: throttled, the channel waits at least Retry-After`, async () => {
    await using fake = await startFakeWns();
    const { send, backoff } = pipeline(fake);
    const uri = fake.channelUri();
    fake.failNext(uri, status, { "Retry-After": "5" });
    const outcome = await send(uri);
    assert.equal(outcome.kind, "throttled");
    assert.ok(backoff.blockedFor(uri) > 4000, `blocked for ${backoff.blockedFor(uri)} ms`);
    assert.equal((await send(uri)).kind, "throttled");
    assert.equal(posts(fake, uri), 1);
  });
}

for (const status of [500, 503]) {
  Deno.test(`${status}: retried with backoff, a bounded number of times`, async () => {
    await using fake = await startFakeWns();
    const { send } = pipeline(fake, { maxAttempts: 3 });
    const uri = fake.channelUri();
    fake.failNext(uri, status);
    fake.failNext(uri, status);
    assert.equal((await send(uri)).kind, "delivered");
    assert.equal(posts(fake, uri), 3);
    for (let i = 0; i < 5; i++) fake.failNext(uri, status);
    const outcome = await send(uri);
    assert.equal(outcome.kind === "failed" && outcome.retryable, true);
    assert.equal(posts(fake, uri), 6, "more attempts than allowed");
  });
}

Deno.test("a cut connection and a timeout are retried", async () => {
  await using fake = await startFakeWns();
  const { send } = pipeline(fake, { timeoutMs: 200 });
  const uri = fake.channelUri();
  fake.resetNext(uri);
  assert.equal((await send(uri)).kind, "delivered");
  fake.delayNext(uri, 600);
  assert.equal((await send(uri)).kind, "delivered");
  assert.equal(fake.received.length, 2);
});

Deno.test("tokens expiring during a burst: one refresh for all", async () => {
  await using fake = await startFakeWns();
  const { send } = pipeline(fake, { maxInFlight: 32 });
  const uri = fake.channelUri();
  await send(uri);
  fake.expireTokens();
  const outcomes = await Promise.all(
    Array.from({ length: 100 }, () => send(uri)),
  );
  assert.ok(outcomes.every((o) => o.kind === "delivered"));
  assert.equal(fake.tokenRequests.length, 2, "more than one refresh");
  assert.equal(fake.received.length, 101);
});

Deno.test("a WNS outage of seconds during a burst: every push WNS later accepts arrives", async () => {
  await using fake = await startFakeWns();
  // Retries span at least 2.1 s (jitter takes at most half of each pause): longer than the outage.
  const { send, gate } = pipeline(fake, {
    maxAttempts: 10,
    maxDelayMs: 1000,
    maxInFlight: 16,
    maxQueued: 500,
  });
  const uris = Array.from({ length: 10 }, () => fake.channelUri());
  await send(uris[0]); // a token before the outage
  fake.outage(503, 2000);
  let maxQueued = 0;
  const watch = setInterval(() => maxQueued = Math.max(maxQueued, gate.queued), 10);
  const outcomes = await Promise.all(
    Array.from({ length: 200 }, (_, i) => send(uris[i % 10])),
  );
  clearInterval(watch);
  const kinds = count(outcomes);
  assert.deepEqual(kinds, { delivered: 200 }, JSON.stringify(kinds));
  assert.equal(fake.received.length, 201);
  assert.ok(maxQueued <= 500 && gate.inFlight === 0 && gate.queued === 0);
});

Deno.test("a full queue refuses at once with throttled instead of buffering", async () => {
  await using fake = await startFakeWns();
  const { send, gate } = pipeline(fake, { maxInFlight: 2, maxQueued: 3 });
  const uri = fake.channelUri();
  for (let i = 0; i < 5; i++) fake.delayNext(uri, 300);
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, () => send(uri)),
  );
  const kinds = count(outcomes);
  assert.deepEqual(kinds, { delivered: 5, throttled: 5 }, JSON.stringify(kinds));
  assert.equal(gate.queued, 0);
});

Deno.test("a bad client secret: reported once, pushes fail fast without asking again", async () => {
  await using fake = await startFakeWns();
  const { send, logger } = pipeline(fake, { clientSecret: "wrong" });
  const uri = fake.channelUri();
  const outcomes = [];
  for (let i = 0; i < 20; i++) outcomes.push(await send(uri));
  assert.ok(outcomes.every((o) => o.kind === "failed" && !o.retryable));
  assert.equal(fake.tokenRequests.length, 1);
  assert.equal(
    logger.at("error").filter((l) => /refused our credentials/.test(l.message)).length,
    1,
  );
  assert.equal(posts(fake), 0);
});

Deno.test("the Microsoft Entra flow: Bearer, a string expires_in, the .default scope", async () => {
  await using fake = await startFakeWns({ entra: { tenantId: "contoso", appId: "app-guid" } });
  const { send } = pipeline(fake, {
    entra: { tokenUrl: fake.entraTokenUrl!, appId: "app-guid" },
  });
  assert.equal((await send(fake.channelUri())).kind, "delivered");
  const form = new URLSearchParams(fake.tokenRequests[0].body);
  assert.equal(form.get("scope"), "https://wns.windows.com/.default");
  assert.equal(form.get("client_id"), "app-guid");
});

function count(outcomes: DeliveryOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  return counts;
}
