/**
 * FCM as the end-to-end tests of registrations by command see it: the pushes it was asked to
 * send, each to a token of an app, carrying an account. Until the `apps` configuration wires
 * the real FCM delivery (the apps branch), a recording delivery stands in for service `fcm`,
 * injected through the push server's overrides; a side backed by the fake FCM server (its
 * `account` from the data message) fits the same {@link FcmSide} interface, so the tests
 * need not change when it is swapped in.
 *
 * @module
 */

import type {
  DeliveryOutcome,
  Notification,
  PushDelivery,
} from "../../domain/ports/push_delivery.ts";
import type { PushTarget } from "../../domain/push_target.ts";
import { type AppDirectory, appDirectory } from "../../domain/ports/registration_commands.ts";
import type { ServiceRoute } from "../../app/delivery/service_router.ts";

/** One push as FCM got it. */
export interface FcmPush {
  readonly app: string;
  /** The registration token it went to. */
  readonly token: string;
  /** The data message's `account` (p2: the device hash). */
  readonly account: string;
}

/** What a test needs of FCM. */
export interface FcmSide {
  /** The push server's overrides that send FCM targets here and name the apps. */
  readonly overrides: { readonly routes: readonly ServiceRoute[]; readonly apps: AppDirectory };
  /** Every push so far, in order. */
  readonly pushes: readonly FcmPush[];
  /** Resolves with the pushes once there are `count`; rejects after `timeoutMs`. */
  waitForPushes(count: number, timeoutMs?: number): Promise<readonly FcmPush[]>;
}

/** A recording FCM for `apps` (the first is the default app): every push is accepted. */
export function recordingFcm(apps: readonly string[]): FcmSide {
  const pushes: FcmPush[] = [];
  const delivery: PushDelivery = {
    deliver(target: PushTarget, notification: Notification): Promise<DeliveryOutcome> {
      if (notification.kind === "push") {
        pushes.push({ app: target.app, token: target.address, account: notification.accountId });
      }
      return Promise.resolve({ kind: "delivered", status: 200, detail: null });
    },
  };
  return {
    overrides: {
      routes: apps.map((app) => ({ service: "fcm", app, delivery })),
      apps: appDirectory(apps.map((name, i) => ({ name, service: "fcm", default: i === 0 }))),
    },
    pushes,
    async waitForPushes(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (pushes.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`FCM got ${pushes.length} pushes, not ${count}, in ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return [...pushes];
    },
  };
}
