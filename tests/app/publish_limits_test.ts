import assert from "node:assert/strict";
import type { LimitName } from "../../domain/ports/metrics.ts";
import { PublishLimits } from "../../app/publish_limits.ts";
import type { PublishRequest } from "../../domain/publish.ts";
import { FakeClock } from "../support/fakes.ts";

function limits() {
  const clock = new FakeClock();
  const hits: LimitName[] = [];
  const publishLimits = new PublishLimits({
    perNode: { burst: 3, perSecond: 1 },
    perServer: { burst: 5, perSecond: 2 },
    maxKeys: 1000,
    clock,
    report: (limit) => hits.push(limit),
  });
  return { clock, hits, publishLimits };
}

const publish = (node: string, from?: string): PublishRequest => ({
  node,
  secret: "s",
  summary: null,
  from,
});

Deno.test("PublishLimits: a node over its rate is throttled, others go on", () => {
  const { clock, hits, publishLimits } = limits();
  for (let i = 0; i < 3; i++) assert.equal(publishLimits.check(publish("n1")), null);
  assert.deepEqual(publishLimits.check(publish("n1")), {
    kind: "throttled",
    reason: "too many publishes for this node: slow down",
  });
  assert.equal(publishLimits.check(publish("n2")), null);
  assert.deepEqual(hits, ["publishes_per_node"]);
  clock.advance(1000);
  assert.equal(publishLimits.check(publish("n1")), null);
});

Deno.test("PublishLimits: a server over its rate is throttled, whatever the node", () => {
  const { hits, publishLimits } = limits();
  for (let i = 0; i < 5; i++) {
    assert.equal(publishLimits.check(publish(`node-${i}`, "flood.example")), null);
  }
  assert.deepEqual(publishLimits.check(publish("node-x", "flood.example")), {
    kind: "throttled",
    reason: "too many publishes from your server: slow down",
  });
  assert.equal(publishLimits.check(publish("node-y", "calm.example")), null);
  // Without a sender (PEP events) only the node counts.
  for (let i = 0; i < 10; i++) assert.equal(publishLimits.check(publish(`pep-${i}`)), null);
  assert.deepEqual(hits, ["publishes_per_server"]);
});
