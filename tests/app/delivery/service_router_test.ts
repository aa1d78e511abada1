import assert from "node:assert/strict";
import { ServiceRouter } from "../../../app/delivery/service_router.ts";
import type {
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../../domain/push_target.ts";

class Recording implements PushDelivery {
  readonly sent: PushTarget[] = [];
  deliver(target: PushTarget, _n: Notification): Promise<DeliveryOutcome> {
    this.sent.push(target);
    return Promise.resolve({ kind: "delivered", status: 201, detail: null });
  }
}

Deno.test("ServiceRouter: each target goes to the adapter of its service and app", async () => {
  const wns = new Recording();
  const fcmOne = new Recording();
  const fcmTwo = new Recording();
  const router = new ServiceRouter([
    { service: "wns", app: "wns", delivery: wns },
    { service: "fcm", app: "one", delivery: fcmOne },
    { service: "fcm", app: "two", delivery: fcmTwo },
  ]);
  const a = { service: "wns", app: "wns", address: "https://a.notify.windows.com/?token=1" };
  const b = { service: "fcm", app: "one", address: "token-b" };
  const c = { service: "fcm", app: "two", address: "token-c" };
  await router.deliver(a, { kind: "test" }, { ttlSeconds: 0 });
  await router.deliver(b, { kind: "test" }, { ttlSeconds: 0 });
  await router.deliver(c, { kind: "test" }, { ttlSeconds: 0 });
  assert.deepEqual(wns.sent, [a]);
  assert.deepEqual(fcmOne.sent, [b]);
  assert.deepEqual(fcmTwo.sent, [c]);
});

Deno.test("ServiceRouter: two routes for one app are a wiring error", () => {
  const route = { service: "fcm", app: "one", delivery: new Recording() };
  assert.throws(() => new ServiceRouter([route, route]), /two routes for fcm app "one"/);
});

Deno.test("ServiceRouter: an app nobody configured fails for good, without throwing", async () => {
  const router = new ServiceRouter([{ service: "fcm", app: "one", delivery: new Recording() }]);
  const outcome = await router.deliver(
    { service: "fcm", app: "x", address: "t" },
    { kind: "test" },
    { ttlSeconds: 0 },
  );
  assert.equal(outcome.kind, "failed");
  assert.equal(outcome.kind === "failed" && outcome.retryable, false);
});
