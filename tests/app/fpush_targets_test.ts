import assert from "node:assert/strict";
import { ApnsAppSchema } from "../../app/config/apns_app.ts";
import { FpushTargets } from "../../app/fpush_targets.ts";
import type { LimitName } from "../../domain/ports/metrics.ts";
import type { DeliveryOutcome } from "../../domain/ports/push_delivery.ts";
import type { PublishRequest } from "../../domain/publish.ts";
import { FakeClock } from "../support/fakes.ts";

const FORM = "http://jabber.org/protocol/pubsub#publish-options";
const TOKEN = "ab".repeat(32);

function app(fields: Record<string, unknown>) {
  return ApnsAppSchema.parse({
    service: "apns",
    keyFile: "/k.p8",
    keyId: "ABCDE12345",
    teamId: "TEAM123456",
    topic: "im.monal.Monal",
    ...fields,
  });
}

function publish(node: string, pushModule?: string): PublishRequest {
  return {
    node,
    secret: null,
    summary: null,
    publishOptions: pushModule === undefined
      ? null
      : [["FORM_TYPE", FORM], ["pushModule", pushModule]],
  };
}

function targets(apps: [string, ReturnType<typeof app>][]) {
  const hits: LimitName[] = [];
  const gauges = new Map<string, () => number>();
  const clock = new FakeClock();
  const stateless = new FpushTargets(apps, {
    clock,
    reportLimit: (limit) => hits.push(limit),
    metrics: {
      observeBlockedTokens: (service, name, read) => gauges.set(`${service}/${name}`, read),
    },
  });
  return { stateless, hits, gauges, clock };
}

Deno.test("FpushTargets: the module picks the app; the only APNs app is the default", () => {
  const { stateless, gauges } = targets([["ios", app({ pushModules: ["monalProdiOS"] })]]);
  const named = stateless.named(publish(TOKEN.toUpperCase(), "monalProdiOS"));
  assert.equal(named?.kind, "push");
  assert.deepEqual(named?.kind === "push" && named.target, {
    service: "apns",
    app: "ios",
    address: TOKEN, // lower-cased
  });
  assert.equal(stateless.named(publish(TOKEN, "monalProdiOS-sandbox")), null);
  assert.equal(stateless.named(publish(TOKEN)), null);
  assert.equal(stateless.named(publish("nodeNodeNodeNodeNode", "monalProdiOS")), null);
  assert.equal(stateless.unnamed(publish(TOKEN))?.kind, "push");
  // A publish that names an unknown module is not the default app's either.
  assert.equal(stateless.unnamed(publish(TOKEN, "other")), null);
  assert.deepEqual([...gauges.keys()], ["apns/ios"]);
});

Deno.test("FpushTargets: apps without pushModules take no stateless publish; no default among several", () => {
  const { stateless, gauges } = targets([
    ["registered-only", app({ default: true })],
    ["ios", app({ pushModules: ["monalProdiOS"] })],
  ]);
  assert.equal(stateless.unnamed(publish(TOKEN)), null);
  assert.equal(stateless.named(publish(TOKEN, "monalProdiOS"))?.kind, "push");
  assert.deepEqual([...gauges.keys()], ["apns/ios"]);
  assert.throws(
    () => targets([["a", app({ pushModules: ["m"] })], ["b", app({ pushModules: ["m"] })]]),
    /apps\.b\.pushModules/,
  );
});

Deno.test("FpushTargets: a dead token is blocked until its block ends; the rate refuses with wait", async () => {
  const { stateless, hits, gauges, clock } = targets([
    ["ios", app({ pushModules: ["m"], tokenRateLimit: { burst: 1, refillSeconds: 60 } })],
  ]);
  const first = stateless.named(publish(TOKEN, "m"));
  assert.ok(first?.kind === "push");
  const gone: DeliveryOutcome = { kind: "target-gone", status: 410 };
  assert.deepEqual(await first.send(() => Promise.resolve(gone)), gone);
  assert.equal(gauges.get("apns/ios")!(), 1);
  assert.deepEqual(stateless.named(publish(TOKEN, "m")), {
    kind: "refuse",
    outcome: { kind: "unknown-node" },
  });
  const other = "cd".repeat(32);
  assert.equal(stateless.named(publish(other, "m"))?.kind, "push");
  assert.deepEqual(stateless.named(publish(other, "m")), {
    kind: "refuse",
    outcome: { kind: "throttled", reason: "too many pushes to this device, try later" },
  });
  assert.deepEqual(hits, ["stateless_dead_token", "stateless_token_rate"]);
  clock.advance(25 * 3600_000);
  assert.equal(gauges.get("apns/ios")!(), 0);
  assert.equal(stateless.named(publish(TOKEN, "m"))?.kind, "push");
});

Deno.test("FpushTargets: a token with a malformed pushModule is a bad request", () => {
  const { stateless } = targets([["ios", app({ pushModules: ["m"] })]]);
  assert.deepEqual(stateless.named(publish(TOKEN, "no spaces")), {
    kind: "refuse",
    outcome: { kind: "bad-request", reason: "bad pushModule" },
  });
});
