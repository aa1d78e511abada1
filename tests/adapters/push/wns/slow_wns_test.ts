/**
 * Issue 13, item 3: a slow WNS must not stall everyone. Some channels answer after 30 s;
 * pushes to the others must still go out, or be answered `wait` within the configured
 * longest wait, never queue behind the slow ones. And a retry's pause holds no slot.
 */

import assert from "node:assert/strict";
import { ChannelBackoff } from "../../../../app/delivery/channel_backoff.ts";
import { ConcurrencyGate, type GateOptions } from "../../../../app/delivery/concurrency_gate.ts";
import { DeliveryPolicy, PolicyDelivery } from "../../../../app/delivery/delivery_policy.ts";
import { WNS_TARGETS, WnsPushDelivery } from "../../../../adapters/push/wns/wns_push_delivery.ts";
import { type FakeWns, startFakeWns } from "../../../../adapters/push/wns/fake_wns_server.ts";
import { HttpWnsSender } from "../../../../adapters/push/wns/http_wns_sender.ts";
import { WnsTokenSource } from "../../../../adapters/push/wns/wns_token_source.ts";
import { MemoryStore } from "../../../../adapters/storage/memory/memory_store.ts";
import type { DeliveryOutcome, Notification } from "../../../../domain/ports/push_delivery.ts";
import { RecordingLogger } from "../../../support/recording_logger.ts";
import { scaledMs } from "../../../support/timing.ts";

const NOTIFICATION: Notification = {
  kind: "push",
  accountId: "A",
  counts: { messageCount: 1, pendingSubscriptionCount: 0 },
};
/** Kept by WNS for a minute: sent with WNS's cache policy. */
const CACHE = { ttlSeconds: 60 };
const SLOW_MS = 30_000;

/**
 * `ms` stretched for a loaded machine, but kept well under {@link SLOW_MS}: a bound past it
 * would let a push that waited for a slow channel pass.
 */
const bound = (ms: number) => Math.min(scaledMs(ms), SLOW_MS / 2);

function pipeline(
  fake: FakeWns,
  maxInFlight: number,
  limits: GateOptions,
  initialDelayMs = 20,
  sleep?: (ms: number) => Promise<void>,
) {
  const logger = new RecordingLogger();
  const clock = { now: () => Date.now() };
  const tokens = new WnsTokenSource({
    tokenUrl: fake.tokenUrl,
    packetId: fake.packetId,
    clientSecret: fake.clientSecret,
    store: new MemoryStore(),
    clock,
    logger,
    requestTimeoutMs: 5000,
  });
  const gate = new ConcurrencyGate(maxInFlight, 10_000, limits);
  const policy = new DeliveryPolicy({
    gate,
    backoff: new ChannelBackoff(clock),
    retry: { maxAttempts: 3, initialDelayMs, maxDelayMs: initialDelayMs * 4 },
    logger,
    sleep,
  });
  // WNS's adapter (HTTP and the token) behind the shared policy, as the server wires it.
  // Longer than the slow channels take: their requests hold their slots all along.
  const http = new HttpWnsSender({ tokens, logger, requestTimeoutMs: 60_000 });
  const delivery = new PolicyDelivery(new WnsPushDelivery(http), policy);
  const send = (uri: string) =>
    delivery.deliver({ ...WNS_TARGETS, address: uri }, NOTIFICATION, CACHE);
  return { send, gate };
}

/** Sends a push and resolves with its outcome and how long it took. */
async function timed(
  send: () => Promise<DeliveryOutcome>,
): Promise<{ outcome: DeliveryOutcome; ms: number }> {
  const started = performance.now();
  const outcome = await send();
  return { outcome, ms: performance.now() - started };
}

/** Channels whose next `n` requests each answer after {@link SLOW_MS}. */
function slowChannels(fake: FakeWns, count: number, n: number): string[] {
  return Array.from({ length: count }, () => {
    const uri = fake.channelUri();
    for (let i = 0; i < n; i++) fake.delayNext(uri, SLOW_MS);
    return uri;
  });
}

Deno.test("slow WNS channels: pushes to other channels are delivered at once", async () => {
  const fake = await startFakeWns();
  const { send } = pipeline(fake, 16, { maxPerChannel: 2, maxPerHost: 16, maxWaitMs: 2000 });
  const slow = slowChannels(fake, 4, 20);
  // 4 slow channels, 20 pushes each: before, they filled all 16 slots for 30 s.
  const stuck = slow.flatMap((uri) => Array.from({ length: 20 }, () => timed(() => send(uri))));
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fast = await Promise.all(
      Array.from({ length: 40 }, () => {
        const uri = fake.channelUri();
        return timed(() => send(uri));
      }),
    );
    for (const { outcome } of fast) assert.equal(outcome.kind, "delivered");
    const slowest = Math.max(...fast.map((f) => f.ms));
    // Measured: tens of ms; the bound leaves room for a loaded machine.
    assert.ok(slowest < bound(1500), `a push to a fast channel took ${slowest} ms`);
    // The slow channels' queued pushes are answered wait after the longest wait.
    const waited = await Promise.race([
      Promise.all(stuck.slice(2, 20)),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), bound(5000))),
    ]);
    assert.ok(waited !== null, "queued pushes for a slow channel were not given up in time");
    for (const { outcome, ms } of waited) {
      assert.equal(outcome.kind, "throttled");
      assert.ok(ms >= 1900 && ms < bound(4500), `${ms} ms`);
    }
  } finally {
    await fake.close();
    await Promise.all(stuck);
  }
});

Deno.test("slow WNS channels: with more slow channels than slots, others get wait within the bound", async () => {
  const fake = await startFakeWns();
  const { send } = pipeline(fake, 8, { maxPerChannel: 1, maxPerHost: 8, maxWaitMs: 1000 });
  const slow = slowChannels(fake, 12, 1);
  const stuck = slow.map((uri) => timed(() => send(uri)));
  try {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fast = await Promise.all(
      Array.from({ length: 20 }, () => {
        const uri = fake.channelUri();
        return timed(() => send(uri));
      }),
    );
    // Every slot is held by a slow channel: each push is answered wait after at most the
    // longest wait (not after 30 s), so the user's server retries later.
    for (const { outcome, ms } of fast) {
      assert.equal(outcome.kind, "throttled");
      assert.ok(ms < bound(3000), `${ms} ms`);
    }
  } finally {
    await fake.close();
    await Promise.all(stuck);
  }
});

Deno.test("a retry's pause holds no slot: other channels are delivered meanwhile", async () => {
  await using fake = await startFakeWns();
  // The retry's pause lasts until the test ends it: the check is by order, not wall time.
  const pause = Promise.withResolvers<void>();
  const pausing = Promise.withResolvers<void>();
  const sleep = () => {
    pausing.resolve();
    return pause.promise;
  };
  // One slot in all.
  const { send, gate } = pipeline(fake, 1, { maxWaitMs: 5000 }, 20, sleep);
  const failing = fake.channelUri();
  fake.failNext(failing, 503);
  const retried = send(failing);
  await pausing.promise;
  assert.equal(gate.inFlight, 0, "the pause held the only slot");
  // Delivered while the failing channel is still pausing (a held slot: refused after 5 s).
  const other = await send(fake.channelUri());
  assert.equal(other.kind, "delivered");
  pause.resolve();
  assert.equal((await retried).kind, "delivered");
});
