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
  // The rate is taken when sending (after the use case merged a burst), not when resolving.
  const other = "cd".repeat(32);
  const sent: DeliveryOutcome = { kind: "delivered", status: 200, detail: null };
  const resolutions = [stateless.named(publish(other, "m")), stateless.named(publish(other, "m"))];
  let requests = 0;
  const outcomes = [];
  for (const resolution of resolutions) {
    assert.ok(resolution?.kind === "push");
    outcomes.push(await resolution.send(() => (requests++, Promise.resolve(sent))));
  }
  assert.deepEqual(outcomes[0], sent);
  assert.equal(outcomes[1].kind, "throttled");
  assert.equal(requests, 1);
  assert.deepEqual(hits, ["stateless_dead_token", "stateless_token_rate"]);
  // A resolution made before its token was found dead sends nothing.
  const third = "ef".repeat(32);
  const early = stateless.named(publish(third, "m"));
  const late = stateless.named(publish(third, "m"));
  assert.ok(early?.kind === "push" && late?.kind === "push");
  await early.send(() => Promise.resolve(gone));
  assert.deepEqual(await late.send(() => (requests++, Promise.resolve(sent))), {
    kind: "target-gone",
    status: null,
  });
  assert.equal(requests, 1);
  assert.deepEqual(hits, ["stateless_dead_token", "stateless_token_rate", "stateless_dead_token"]);
  clock.advance(25 * 3600_000);
  assert.equal(gauges.get("apns/ios")!(), 0, "both blocks ended");
  assert.equal(stateless.named(publish(TOKEN, "m"))?.kind, "push");
});

Deno.test("FpushTargets: a token with a malformed pushModule is a bad request", () => {
  const { stateless } = targets([["ios", app({ pushModules: ["m"] })]]);
  assert.deepEqual(stateless.named(publish(TOKEN, "no spaces")), {
    kind: "refuse",
    outcome: { kind: "bad-request", reason: "bad pushModule" },
  });
});
