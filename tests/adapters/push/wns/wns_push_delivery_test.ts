import assert from "node:assert/strict";
import { MemoryWnsSender } from "../../../../adapters/push/wns/memory_wns_sender.ts";
import { WNS_TARGETS, WnsPushDelivery } from "../../../../adapters/push/wns/wns_push_delivery.ts";

const CHANNEL = "https://db5p.notify.windows.com/?token=abc";
const target = { ...WNS_TARGETS, address: CHANNEL };

Deno.test("WnsPushDelivery: a push is the app's raw payload, cached for its TTL", async () => {
  const wns = new MemoryWnsSender();
  const outcome = await new WnsPushDelivery(wns).deliver(
    target,
    { kind: "push", accountId: "ACC1", counts: { messageCount: 4, pendingSubscriptionCount: 1 } },
    { ttlSeconds: 86_400 },
  );
  assert.deepEqual(outcome, { kind: "delivered", status: 200, detail: "received" });
  assert.deepEqual(wns.sent, [{
    channelUri: CHANNEL,
    payload:
      '{"version":2,"action":"push","account_id":"ACC1","message_count":4,"pending_subscription_count":1}',
    options: { cache: true, ttlSeconds: 86_400 },
  }]);
});

Deno.test("WnsPushDelivery: a test push is not cached", async () => {
  const wns = new MemoryWnsSender();
  await new WnsPushDelivery(wns).deliver(target, { kind: "test" }, { ttlSeconds: 0 });
  assert.equal(wns.sent.length, 1);
  assert.deepEqual(wns.sent[0].options, { cache: false, ttlSeconds: 0 });
  assert.equal(JSON.parse(wns.sent[0].payload).action, "test_push");
});

Deno.test("WnsPushDelivery: WNS's answers map onto the port's five outcomes", async () => {
  const wns = new MemoryWnsSender();
  const delivery = new WnsPushDelivery(wns);
  const cases = [
    [{ kind: "channel-gone", status: 410 }, { kind: "target-gone", status: 410 }],
    [
      { kind: "throttled", status: 429, detail: "HTTP 429", retryAfterMs: 30_000 },
      { kind: "throttled", status: 429, detail: "HTTP 429", retryAfterMs: 30_000 },
    ],
    [
      { kind: "failed", retryable: true, status: 503, detail: "HTTP 503", retryAfterMs: 5000 },
      { kind: "failed", retryable: true, status: 503, detail: "HTTP 503", retryAfterMs: 5000 },
    ],
    [
      { kind: "failed", retryable: false, status: 400, detail: "HTTP 400" },
      { kind: "failed", retryable: false, status: 400, detail: "HTTP 400" },
    ],
  ] as const;
  for (const [answer, expected] of cases) {
    wns.setDefaultOutcome(answer);
    assert.deepEqual(await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 }), expected);
  }
});
