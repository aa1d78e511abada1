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

Deno.test("ServiceRouter: each target goes to its service's adapter", async () => {
  const wns = new Recording();
  const other = new Recording();
  const router = new ServiceRouter({ wns, other });
  const a = { service: "wns", app: "wns", address: "https://a.notify.windows.com/?token=1" };
  const b = { service: "other", app: "app", address: "token-b" };
  await router.deliver(a, { kind: "test" }, { ttlSeconds: 0 });
  await router.deliver(b, { kind: "test" }, { ttlSeconds: 0 });
  assert.deepEqual(wns.sent, [a]);
  assert.deepEqual(other.sent, [b]);
});

Deno.test("ServiceRouter: a service nobody configured fails for good, without throwing", async () => {
  const router = new ServiceRouter({ wns: new Recording() });
  const outcome = await router.deliver(
    { service: "fcm", app: "x", address: "t" },
    { kind: "test" },
    { ttlSeconds: 0 },
  );
  assert.equal(outcome.kind, "failed");
  assert.equal(outcome.kind === "failed" && outcome.retryable, false);
});
