/**
 * WNS delivery against the fake WNS, one test per WNS answer, plus token expiry and an
 * outage during a burst: the real HTTP sender inside the delivery pipeline.
 */

import assert from "node:assert/strict";
import { ChannelBackoff } from "../../../app/delivery/channel_backoff.ts";
import { ConcurrencyGate } from "../../../app/delivery/concurrency_gate.ts";
import { DeliveryPipeline } from "../../../app/delivery/delivery_pipeline.ts";
import { type FakeWns, startFakeWns } from "../../../adapters/push/wns/fake_wns_server.ts";
import { HttpWnsSender } from "../../../adapters/push/wns/http_wns_sender.ts";
import { ENTRA_SCOPE, WnsTokenSource } from "../../../adapters/push/wns/wns_token_source.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import type { WnsOutcome } from "../../../adapters/push/wns/wns_sender.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const PAYLOAD = JSON.stringify({ version: 2, action: "push", account_id: "A", message_count: 1 });
const CACHE = { cache: true, ttlSeconds: 60 };

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
  const sender = new DeliveryPipeline({
    sender: new HttpWnsSender({ tokens, logger, requestTimeoutMs: options.timeoutMs ?? 2000 }),
    gate,
    backoff,
    retry: {
      maxAttempts: options.maxAttempts ?? 4,
      initialDelayMs: 20,
      maxDelayMs: options.maxDelayMs ?? 200,
    },
    logger,
  });
  return { sender, gate, backoff, logger };
}

const posts = (fake: FakeWns, uri?: string) =>
  fake.requests.filter((r) => r.path.startsWith("/channel/") && (!uri || r.channelUri === uri))
    .length;

Deno.test("200 received: delivered once, with WNS's status", async () => {
  await using fake = await startFakeWns();
  const { sender } = pipeline(fake);
  const uri = fake.channelUri();
  assert.deepEqual(await sender.sendRaw(uri, PAYLOAD, CACHE), {
    kind: "delivered",
    status: 200,
    wnsStatus: "received",
  });
  assert.equal(fake.received.length, 1);
  const header = (name: string) => fake.received[0].headers.find(([k]) => k === name)?.[1];
  assert.equal(header("x-wns-cache-policy"), "cache");
  assert.equal(header("x-wns-ttl"), "60");
});

Deno.test("200 channelthrottled: the channel backs off and is not posted to meanwhile", async () => {
  await using fake = await startFakeWns();
  const { sender, backoff } = pipeline(fake);
  const uri = fake.channelUri();
  fake.failNext(uri, 200, { "X-WNS-Status": "channelthrottled" });
  assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "throttled");
  assert.ok(backoff.blockedFor(uri) > 0);
  assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "throttled");
  assert.equal(posts(fake, uri), 1, "a backing-off channel was posted to");
  // Other channels are not affected.
  assert.equal((await sender.sendRaw(fake.channelUri(), PAYLOAD, CACHE)).kind, "delivered");
});

for (const status of [400, 405, 413]) {
  Deno.test(`${status}: our bug, no retry, logged with WNS's diagnostics`, async () => {
    await using fake = await startFakeWns();
    const { sender, logger } = pipeline(fake);
    const uri = fake.channelUri();
    fake.failNext(uri, status, {
      "X-WNS-Error-Description": "described",
      "X-WNS-Msg-ID": "1234567890ABCDEF",
    });
    const outcome = await sender.sendRaw(uri, PAYLOAD, CACHE);
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
  const { sender } = pipeline(fake);
  const uri = fake.channelUri();
  assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "delivered");
  fake.expireTokens();
  assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "delivered");
  assert.equal(fake.tokenRequests.length, 2);
  assert.equal(posts(fake, uri), 3);
});

Deno.test("403: no retry, a loud configuration error", async () => {
  await using fake = await startFakeWns();
  const { sender, logger } = pipeline(fake);
  const uri = fake.channelUri();
  fake.failNext(uri, 403);
  const outcome = await sender.sendRaw(uri, PAYLOAD, CACHE);
  assert.equal(outcome.kind === "failed" && outcome.retryable, false);
  assert.equal(posts(fake, uri), 1);
  assert.ok(logger.at("error").some((l) => /refuses our credentials/.test(l.message)));
});

for (const status of [404, 410]) {
  Deno.test(`${status}: the channel is gone, no retry`, async () => {
    await using fake = await startFakeWns();
    const { sender } = pipeline(fake);
    const uri = fake.channelUri();
    fake.failNext(uri, status);
    assert.deepEqual(await sender.sendRaw(uri, PAYLOAD, CACHE), { kind: "channel-gone", status });
    assert.equal(posts(fake, uri), 1);
  });
}

for (const status of [406, 429]) {
  Deno.test(`${status}: throttled, the channel waits at least Retry-After`, async () => {
    await using fake = await startFakeWns();
    const { sender, backoff } = pipeline(fake);
    const uri = fake.channelUri();
    fake.failNext(uri, status, { "Retry-After": "5" });
    const outcome = await sender.sendRaw(uri, PAYLOAD, CACHE);
    assert.equal(outcome.kind, "throttled");
    assert.ok(backoff.blockedFor(uri) > 4000, `blocked for ${backoff.blockedFor(uri)} ms`);
    assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "throttled");
    assert.equal(posts(fake, uri), 1);
  });
}

for (const status of [500, 503]) {
  Deno.test(`${status}: retried with backoff, a bounded number of times`, async () => {
    await using fake = await startFakeWns();
    const { sender } = pipeline(fake, { maxAttempts: 3 });
    const uri = fake.channelUri();
    fake.failNext(uri, status);
    fake.failNext(uri, status);
    assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "delivered");
    assert.equal(posts(fake, uri), 3);
    for (let i = 0; i < 5; i++) fake.failNext(uri, status);
    const outcome = await sender.sendRaw(uri, PAYLOAD, CACHE);
    assert.equal(outcome.kind === "failed" && outcome.retryable, true);
    assert.equal(posts(fake, uri), 6, "more attempts than allowed");
  });
}

Deno.test("a cut connection and a timeout are retried", async () => {
  await using fake = await startFakeWns();
  const { sender } = pipeline(fake, { timeoutMs: 200 });
  const uri = fake.channelUri();
  fake.resetNext(uri);
  assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "delivered");
  fake.delayNext(uri, 600);
  assert.equal((await sender.sendRaw(uri, PAYLOAD, CACHE)).kind, "delivered");
  assert.equal(fake.received.length, 2);
});

Deno.test("tokens expiring during a burst: one refresh for all", async () => {
  await using fake = await startFakeWns();
  const { sender } = pipeline(fake, { maxInFlight: 32 });
  const uri = fake.channelUri();
  await sender.sendRaw(uri, PAYLOAD, CACHE);
  fake.expireTokens();
  const outcomes = await Promise.all(
    Array.from({ length: 100 }, () => sender.sendRaw(uri, PAYLOAD, CACHE)),
  );
  assert.ok(outcomes.every((o) => o.kind === "delivered"));
  assert.equal(fake.tokenRequests.length, 2, "more than one refresh");
  assert.equal(fake.received.length, 101);
});

Deno.test("a WNS outage of seconds during a burst: every push WNS later accepts arrives", async () => {
  await using fake = await startFakeWns();
  // Retries span at least 2.1 s (jitter takes at most half of each pause): longer than the outage.
  const { sender, gate } = pipeline(fake, {
    maxAttempts: 10,
    maxDelayMs: 1000,
    maxInFlight: 16,
    maxQueued: 500,
  });
  const uris = Array.from({ length: 10 }, () => fake.channelUri());
  await sender.sendRaw(uris[0], PAYLOAD, CACHE); // a token before the outage
  fake.outage(503, 2000);
  let maxQueued = 0;
  const watch = setInterval(() => maxQueued = Math.max(maxQueued, gate.queued), 10);
  const outcomes = await Promise.all(
    Array.from({ length: 200 }, (_, i) => sender.sendRaw(uris[i % 10], PAYLOAD, CACHE)),
  );
  clearInterval(watch);
  const kinds = count(outcomes);
  assert.deepEqual(kinds, { delivered: 200 }, JSON.stringify(kinds));
  assert.equal(fake.received.length, 201);
  assert.ok(maxQueued <= 500 && gate.inFlight === 0 && gate.queued === 0);
});

Deno.test("a full queue refuses at once with throttled instead of buffering", async () => {
  await using fake = await startFakeWns();
  const { sender, gate } = pipeline(fake, { maxInFlight: 2, maxQueued: 3 });
  const uri = fake.channelUri();
  for (let i = 0; i < 5; i++) fake.delayNext(uri, 300);
  const outcomes = await Promise.all(
    Array.from({ length: 10 }, () => sender.sendRaw(uri, PAYLOAD, CACHE)),
  );
  const kinds = count(outcomes);
  assert.deepEqual(kinds, { delivered: 5, throttled: 5 }, JSON.stringify(kinds));
  assert.equal(gate.queued, 0);
});

Deno.test("a bad client secret: reported once, pushes fail fast without asking again", async () => {
  await using fake = await startFakeWns();
  const { sender, logger } = pipeline(fake, { clientSecret: "wrong" });
  const uri = fake.channelUri();
  const outcomes = [];
  for (let i = 0; i < 20; i++) outcomes.push(await sender.sendRaw(uri, PAYLOAD, CACHE));
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
  const { sender } = pipeline(fake, {
    entra: { tokenUrl: fake.entraTokenUrl!, appId: "app-guid" },
  });
  assert.equal((await sender.sendRaw(fake.channelUri(), PAYLOAD, CACHE)).kind, "delivered");
  const form = new URLSearchParams(fake.tokenRequests[0].body);
  assert.equal(form.get("scope"), "https://wns.windows.com/.default");
  assert.equal(form.get("client_id"), "app-guid");
});

function count(outcomes: WnsOutcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  return counts;
}
