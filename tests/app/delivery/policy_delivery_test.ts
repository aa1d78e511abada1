/**
 * The delivery policy is one for every push service: here in front of a service that is not
 * WNS (addresses are tokens, not URLs), through the delivery port alone.
 */

import assert from "node:assert/strict";
import { ChannelBackoff } from "../../../app/delivery/channel_backoff.ts";
import { ConcurrencyGate } from "../../../app/delivery/concurrency_gate.ts";
import { DeliveryPolicy, PolicyDelivery } from "../../../app/delivery/delivery_policy.ts";
import type {
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import { FakeClock } from "../../support/fakes.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

/** A service that answers from a script, one answer per attempt, and counts attempts. */
class ScriptedService implements PushDelivery {
  attempts = 0;
  constructor(readonly answers: DeliveryOutcome[]) {}
  deliver(_target: PushTarget, _notification: Notification): Promise<DeliveryOutcome> {
    this.attempts++;
    return Promise.resolve(
      this.answers.shift() ?? { kind: "delivered", status: 200, detail: null },
    );
  }
}

const target: PushTarget = { service: "fcm", app: "im.example", address: "token-123" };

function policyOver(service: ScriptedService) {
  const clock = new FakeClock();
  const sleeps: number[] = [];
  const policy = new DeliveryPolicy({
    gate: new ConcurrencyGate(4, 10),
    backoff: new ChannelBackoff(clock),
    retry: { maxAttempts: 3, initialDelayMs: 500, maxDelayMs: 8000 },
    logger: new RecordingLogger(),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 1,
  });
  return { delivery: new PolicyDelivery(service, policy), sleeps, clock };
}

Deno.test("PolicyDelivery: a retryable failure is retried with backoff, then delivered", async () => {
  const service = new ScriptedService([
    { kind: "failed", retryable: true, status: 503, detail: "UNAVAILABLE" },
    { kind: "failed", retryable: true, status: 503, detail: "UNAVAILABLE" },
  ]);
  const { delivery, sleeps } = policyOver(service);
  const outcome = await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 });
  assert.equal(outcome.kind, "delivered");
  assert.equal(service.attempts, 3);
  assert.deepEqual(sleeps, [500, 1000]);
});

Deno.test("PolicyDelivery: a final failure and a gone target are not retried", async () => {
  for (
    const answer of [
      { kind: "failed", retryable: false, status: 403, detail: "config" },
      { kind: "target-gone", status: 404 },
    ] as const
  ) {
    const service = new ScriptedService([answer]);
    const { delivery } = policyOver(service);
    assert.deepEqual(await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 }), answer);
    assert.equal(service.attempts, 1);
  }
});

Deno.test("PolicyDelivery: a throttled target is left alone, without asking the service", async () => {
  const service = new ScriptedService([
    { kind: "throttled", status: 429, detail: "QUOTA_EXCEEDED", retryAfterMs: 60_000 },
  ]);
  const { delivery } = policyOver(service);
  assert.equal(
    (await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 })).kind,
    "throttled",
  );
  const again = await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 });
  assert.equal(again.kind, "throttled");
  assert.equal(service.attempts, 1);
  // Another target of the same service is not held back.
  const other = await delivery.deliver({ ...target, address: "token-456" }, { kind: "test" }, {
    ttlSeconds: 0,
  });
  assert.equal(other.kind, "delivered");
  assert.equal(service.attempts, 2);
});

Deno.test("PolicyDelivery: a 5xx's Retry-After longer than a retry pause holds the target back for later publishes", async () => {
  const service = new ScriptedService([
    { kind: "failed", retryable: true, status: 503, detail: "UNAVAILABLE", retryAfterMs: 30_000 },
  ]);
  const { delivery, sleeps, clock } = policyOver(service);
  const first = await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 });
  assert.equal(first.kind, "failed");
  // Asked for longer than a publish may wait: no retry now.
  assert.equal(service.attempts, 1);
  assert.deepEqual(sleeps, []);
  // A later publish within the Retry-After is not sent: throttled (the user's server hears wait).
  clock.advance(29_000);
  const second = await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 });
  assert.equal(second.kind, "throttled");
  assert.equal(service.attempts, 1);
  // Another target of the same service is not held back.
  const other = { ...target, address: "token-456" };
  assert.equal(
    (await delivery.deliver(other, { kind: "test" }, { ttlSeconds: 0 })).kind,
    "delivered",
  );
  // Once it has passed, the target is tried again.
  clock.advance(1_001);
  assert.equal(
    (await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 })).kind,
    "delivered",
  );
});

Deno.test("PolicyDelivery: the last attempt's Retry-After holds the target back too", async () => {
  const failure = {
    kind: "failed",
    retryable: true,
    status: 503,
    detail: "UNAVAILABLE",
    retryAfterMs: 2_000,
  } as const;
  const service = new ScriptedService([failure, failure, failure]);
  const { delivery, clock } = policyOver(service);
  assert.equal(
    (await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 })).kind,
    "failed",
  );
  assert.equal(service.attempts, 3);
  clock.advance(1_000);
  assert.equal(
    (await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 })).kind,
    "throttled",
  );
  assert.equal(service.attempts, 3);
});

Deno.test("PolicyDelivery: a 5xx without Retry-After does not hold the target back", async () => {
  const failure = { kind: "failed", retryable: true, status: 503, detail: "UNAVAILABLE" } as const;
  const service = new ScriptedService([failure, failure, failure]);
  const { delivery } = policyOver(service);
  assert.equal(
    (await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 })).kind,
    "failed",
  );
  assert.equal(
    (await delivery.deliver(target, { kind: "test" }, { ttlSeconds: 0 })).kind,
    "delivered",
  );
  assert.equal(service.attempts, 4);
});
