import assert from "node:assert/strict";
import { wnsPayload } from "../../domain/payloads/wns_payload.ts";
import { decidePublish, type PublishRequest } from "../../domain/publish.ts";
import type { NodeTarget } from "../../domain/registration.ts";

const target: NodeTarget = {
  node: "node1",
  accountId: "ACC1",
  deviceId: "dev1",
  secret: "right-secret",
  // Any service's target: the decision carries the stored one as it is.
  target: { service: "fcm", app: "im.example", address: "fcm-token-abc" },
  expiresAt: 1_000_000,
};

const request = (overrides: Partial<PublishRequest> = {}): PublishRequest => ({
  node: "node1",
  secret: "right-secret",
  summary: new Map([["message-count", "4"], ["pending-subscription-count", "1"]]),
  ...overrides,
});

Deno.test("decidePublish: unknown node is refused as unknown-node", () => {
  assert.deepEqual(decidePublish(request(), null), {
    kind: "refuse",
    outcome: { kind: "unknown-node" },
  });
});

Deno.test("decidePublish: wrong secret is forbidden", () => {
  assert.deepEqual(decidePublish(request({ secret: "wrong" }), target), {
    kind: "refuse",
    outcome: { kind: "forbidden" },
  });
});

Deno.test("decidePublish: missing secret is forbidden", () => {
  assert.deepEqual(decidePublish(request({ secret: null }), target), {
    kind: "refuse",
    outcome: { kind: "forbidden" },
  });
});

Deno.test("decidePublish: a forgotten channel is a pause (channel-gone), only with the right secret", () => {
  const gone = { ...target, target: null };
  assert.deepEqual(decidePublish(request(), gone), {
    kind: "refuse",
    outcome: { kind: "channel-gone" },
  });
  // Without the secret nothing is revealed about the node.
  assert.deepEqual(decidePublish(request({ secret: "wrong" }), gone), {
    kind: "refuse",
    outcome: { kind: "forbidden" },
  });
});

Deno.test("decidePublish: the right secret pushes the sanitized payload to the channel", () => {
  const decision = decidePublish(
    request({
      summary: new Map([
        ["message-count", "4"],
        ["pending-subscription-count", "1"],
        ["last-message-body", "private words"],
      ]),
    }),
    target,
  );
  assert.equal(decision.kind, "push");
  if (decision.kind !== "push") return;
  assert.deepEqual(decision.target, target.target);
  assert.equal(
    wnsPayload(decision.notification),
    '{"version":2,"action":"push","account_id":"ACC1","message_count":4,"pending_subscription_count":1}',
  );
  assert.ok(!wnsPayload(decision.notification).includes("private"));
});

Deno.test("decidePublish: a publish without a form still pushes, with zero counts", () => {
  const decision = decidePublish(request({ summary: null }), target);
  assert.equal(decision.kind, "push");
  if (decision.kind !== "push") return;
  assert.deepEqual(JSON.parse(wnsPayload(decision.notification)), {
    version: 2,
    action: "push",
    account_id: "ACC1",
    message_count: 0,
    pending_subscription_count: 0,
  });
});

Deno.test("decidePublish: an explicit publish-iq origin checks the secret like an absent one", () => {
  for (const secret of ["wrong", null]) {
    assert.deepEqual(decidePublish(request({ origin: "publish-iq", secret }), target), {
      kind: "refuse",
      outcome: { kind: "forbidden" },
    });
  }
  assert.equal(decidePublish(request({ origin: "publish-iq" }), target).kind, "push");
});

Deno.test("decidePublish: a PEP event (client mode) pushes without a secret", () => {
  const decision = decidePublish(request({ origin: "pep-event", secret: null }), target);
  assert.equal(decision.kind, "push");
  if (decision.kind !== "push") return;
  assert.deepEqual(decision.target, target.target);
  assert.deepEqual(JSON.parse(wnsPayload(decision.notification)), {
    version: 2,
    action: "push",
    account_id: "ACC1",
    message_count: 4,
    pending_subscription_count: 1,
  });
});

Deno.test("decidePublish: a PEP event for an unknown node or a forgotten channel is refused", () => {
  const event = request({ origin: "pep-event", secret: null });
  assert.deepEqual(decidePublish(event, null), {
    kind: "refuse",
    outcome: { kind: "unknown-node" },
  });
  assert.deepEqual(decidePublish(event, { ...target, target: null }), {
    kind: "refuse",
    outcome: { kind: "channel-gone" },
  });
});
