import assert from "node:assert/strict";
import { boundedPolicy } from "../../../app/delivery/bounded_policy.ts";
import type { DeliveryOutcome } from "../../../domain/ports/push_delivery.ts";
import { FakeClock } from "../../support/fakes.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";

const DELIVERED: DeliveryOutcome = { kind: "delivered", status: 200, detail: null };

Deno.test("boundedPolicy: the configured bounds hold (per target, in all, queue)", async () => {
  const { policy, gate } = boundedPolicy(
    {
      maxInFlight: 2,
      maxQueued: 1,
      maxInFlightPerTarget: 1,
      maxQueueWaitSeconds: 5,
      maxAttempts: 1,
    },
    { clock: new FakeClock(), logger: new RecordingLogger() },
  );
  const releases: (() => void)[] = [];
  const held = () =>
    new Promise<DeliveryOutcome>((resolve) => releases.push(() => resolve(DELIVERED)));
  const a1 = policy.run("token-a", held, "fcm");
  const a2 = policy.run("token-a", held, "fcm");
  await new Promise((resolve) => setTimeout(resolve, 0));
  // One request per target: the second push to token-a waits in the queue.
  assert.equal(gate.inFlight, 1);
  assert.equal(gate.queued, 1);
  // The queue holds one: a third push to token-a is refused at once (answered wait upstream).
  const refused = await policy.run("token-a", held, "fcm");
  assert.equal(refused.kind, "throttled");
  // Another target is under its own bound: it goes out beside token-a's.
  const b = policy.run("token-b", held, "fcm");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(gate.inFlight, 2);
  releases.pop()!();
  assert.equal((await b).kind, "delivered");
  releases.shift()!();
  assert.equal((await a1).kind, "delivered");
  await new Promise((resolve) => setTimeout(resolve, 0));
  releases.shift()!();
  assert.equal((await a2).kind, "delivered");
  assert.equal(gate.inFlight + gate.queued, 0);
});
