import assert from "node:assert/strict";
import { PublishAdmission } from "../../app/publish_admission.ts";
import type { PublishMetricOutcome } from "../../domain/ports/metrics.ts";
import type { PublishOutcome, PublishRequest } from "../../domain/publish.ts";

const request: PublishRequest = { node: "n", secret: "s", summary: null };

function admission(limited: PublishOutcome | null = null) {
  const counted: PublishMetricOutcome[] = [];
  let finish: (outcome: PublishOutcome) => void = () => {};
  const door = new PublishAdmission({
    handle: () => new Promise((resolve) => finish = resolve),
    limits: { check: () => limited },
    metrics: { publish: (outcome) => counted.push(outcome) },
  });
  return { door, counted, finish: (outcome: PublishOutcome) => finish(outcome) };
}

Deno.test("PublishAdmission: a publish reaches the use case, is tracked until answered, counted", async () => {
  const { door, counted, finish } = admission();
  const answer = door.onPublish(request);
  assert.equal(door.inProgress, 1);
  assert.equal(await door.idle(10), false);
  finish({ kind: "pushed" });
  assert.deepEqual(await answer, { kind: "pushed" });
  assert.equal(door.inProgress, 0);
  assert.equal(await door.idle(10), true);
  assert.deepEqual(counted, ["pushed"]);
});

Deno.test("PublishAdmission: over a rate, the limit's answer; the use case is not called", async () => {
  const { door, counted } = admission({ kind: "throttled", reason: "too many publishes" });
  assert.deepEqual(await door.onPublish(request), {
    kind: "throttled",
    reason: "too many publishes",
  });
  assert.equal(door.inProgress, 0);
  assert.deepEqual(counted, ["throttled"]);
});

Deno.test("PublishAdmission: once draining, every publish is answered wait at once", async () => {
  const { door, counted } = admission();
  door.drain();
  assert.deepEqual(await door.onPublish(request), {
    kind: "unavailable",
    reason: "push server shutting down",
  });
  assert.equal(door.inProgress, 0);
  assert.deepEqual(counted, ["unavailable"]);
});
