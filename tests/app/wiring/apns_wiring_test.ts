/**
 * createApnsApp against the fake APNs over HTTP/2 + TLS (test CA and a separate leaf, the
 * provider JWT verified with jose): headers and payload, one multiplexed connection, every
 * status and reason of apns.md §5 as the use cases see it, retries, token renewal,
 * metering, readiness, and the errors for bad files.
 */

import assert from "node:assert/strict";
import { ApnsAppSchema } from "../../../app/config/apns_app.ts";
import { createApnsApp } from "../../../app/wiring/apns_wiring.ts";
import type { AppDelivery } from "../../../app/wiring/app_delivery.ts";
import type { FakeApns } from "../../../adapters/push/apns/fake_apns_server.ts";
import type { DeliveryOutcome, Notification } from "../../../domain/ports/push_delivery.ts";
import type { RegistrationStore } from "../../../domain/ports/storage.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import {
  deviceToken,
  KEY_ID,
  sharedMaterial,
  startFakeApnsForApp,
  TEAM_ID,
  TestClock,
  TOPIC,
} from "../../adapters/push/apns/apns_test_kit.ts";

const PUSH: Notification = {
  kind: "push",
  accountId: "",
  counts: { messageCount: 1, pendingSubscriptionCount: 0 },
};
const KEPT = { ttlSeconds: 86400 };

/** What the metrics port heard. */
class MetricsLog {
  readonly responses: { service: string; app: string; status: number | null }[] = [];
  pushServiceResponse(service: string, app: string, status: number | null): void {
    this.responses.push({ service, app, status });
  }
  limitHit(): void {}
}

interface Rig {
  readonly fake: FakeApns;
  readonly app: AppDelivery;
  readonly clock: TestClock;
  readonly metrics: MetricsLog;
  readonly logger: RecordingLogger;
  readonly dir: string;
  push(token: string, notification?: Notification): Promise<DeliveryOutcome>;
  close(): Promise<void>;
}

async function startRig(overrides: Record<string, unknown> = {}): Promise<Rig> {
  const apns = await startFakeApnsForApp("apns-wiring-");
  const { fake, clock, dir } = apns;
  const config = ApnsAppSchema.parse({
    ...apns.appConfig,
    ...overrides,
  });
  const metrics = new MetricsLog();
  const logger = new RecordingLogger();
  const app = await createApnsApp("monal-ios", config, {
    store: {} as RegistrationStore,
    clock,
    logger,
    metrics,
  }, { initialRetryDelayMs: 1, maxRetryDelayMs: 20 });
  return {
    fake,
    app,
    clock,
    metrics,
    logger,
    dir,
    push: (token, notification = PUSH) =>
      app.delivery.deliver(
        { service: "apns", app: "monal-ios", address: token },
        notification,
        KEPT,
      ),
    async close() {
      await app.close();
      await apns.close();
    },
  };
}

async function withRig(
  overrides: Record<string, unknown>,
  body: (rig: Rig) => Promise<void>,
): Promise<void> {
  const rig = await startRig(overrides);
  try {
    await body(rig);
  } finally {
    await rig.close();
  }
}

function requestsFor(fake: FakeApns, token: string) {
  return fake.requests.filter((request) => request.token === token);
}

Deno.test("a push reaches the fake with Monal's payload, the app's headers and a verified JWT", async () => {
  await withRig({}, async ({ fake, app, clock, metrics, push }) => {
    const token = deviceToken(1);
    const outcome = await push(token);
    assert.equal(outcome.kind, "delivered");
    const [request] = fake.requests;
    assert.equal(request.path, `/3/device/${token}`);
    assert.equal(request.status, 200);
    assert.deepEqual(request.jwt?.kid, KEY_ID);
    assert.deepEqual(request.jwt?.iss, TEAM_ID);
    assert.equal(request.jwt?.iat, Math.floor(clock.now() / 1000));
    assert.equal(request.headers["apns-topic"], TOPIC);
    assert.equal(request.headers["apns-push-type"], "alert");
    assert.equal(request.headers["apns-priority"], "10");
    // A real future time, a day ahead (fpush sends a date in 1970).
    assert.equal(
      request.headers["apns-expiration"],
      String(Math.floor(clock.now() / 1000) + 86400),
    );
    assert.equal(request.headers["apns-collapse-id"], undefined);
    assert.deepEqual(JSON.parse(request.body), {
      aps: {
        alert: { title: "New Message", body: "New Message?" },
        sound: "default",
        "mutable-content": 1,
      },
    });
    assert.deepEqual(metrics.responses, [{ service: "apns", app: "monal-ios", status: 200 }]);
    assert.equal(app.service, "apns");
    assert.equal(app.app, "monal-ios");
    assert.deepEqual(app.readiness.map((check) => check.name), ["apns:monal-ios"]);
    await app.readiness[0].run();
  });
});

Deno.test("the message body goes out only when the app allows it and the publish carried one", async () => {
  const withBody: Notification = { ...PUSH, messageBody: "hi there" } as Notification;
  await withRig({}, async ({ fake, push }) => {
    await push(deviceToken(2), withBody);
    assert.equal(JSON.parse(fake.requests[0].body).aps.alert.body, "New Message?");
  });
  await withRig(
    { payload: { includeMessageBody: true }, collapseId: "xmpp-message", priority: 5 },
    async ({ fake, push }) => {
      await push(deviceToken(3), withBody);
      await push(deviceToken(3));
      assert.equal(JSON.parse(fake.requests[0].body).aps.alert.body, "hi there");
      assert.equal(JSON.parse(fake.requests[1].body).aps.alert.body, "New Message?");
      assert.equal(fake.requests[0].headers["apns-collapse-id"], "xmpp-message");
      assert.equal(fake.requests[0].headers["apns-priority"], "5");
    },
  );
});

Deno.test("a background app sends content-available with push type background and priority 5", async () => {
  await withRig({ payload: { pushType: "background" }, priority: 5 }, async ({ fake, push }) => {
    assert.equal((await push(deviceToken(4))).kind, "delivered");
    const [request] = fake.requests;
    assert.equal(request.headers["apns-push-type"], "background");
    assert.equal(request.headers["apns-priority"], "5");
    assert.deepEqual(JSON.parse(request.body), { aps: { "content-available": 1 } });
  });
});

Deno.test("a test push (ttl 0) is sent with apns-expiration 0: now or never", async () => {
  await withRig({}, async ({ fake, app }) => {
    await app.delivery.deliver(
      { service: "apns", app: "monal-ios", address: deviceToken(5) },
      { kind: "test" },
      { ttlSeconds: 0 },
    );
    assert.equal(fake.requests[0].headers["apns-expiration"], "0");
  });
});

Deno.test("concurrent pushes share ONE HTTP/2 connection, multiplexed", async () => {
  await withRig({}, async ({ fake, push }) => {
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, (_, n) => push(deviceToken(1000 + n))),
    );
    assert.ok(outcomes.every((outcome) => outcome.kind === "delivered"));
    assert.equal(fake.counters.connections, 1);
    assert.ok(fake.counters.maxConcurrentStreamsSeen > 1, "streams ran at once");
    // One JWT for all of them.
    assert.equal(new Set(fake.requests.map((request) => request.jwt?.iat)).size, 1);
  });
});

Deno.test("dead tokens are target-gone: 410 Unregistered, 400 BadDeviceToken, DeviceTokenNotForTopic", async () => {
  await withRig({}, async ({ fake, push }) => {
    const cases = [
      { status: 410, reason: "Unregistered", timestamp: Date.now() - 1000 },
      { status: 410, reason: "ExpiredToken" },
      { status: 400, reason: "BadDeviceToken" },
      { status: 400, reason: "DeviceTokenNotForTopic" },
    ];
    for (const [n, answer] of cases.entries()) {
      const token = deviceToken(100 + n);
      fake.script(token, answer);
      const outcome = await push(token);
      assert.deepEqual(outcome, { kind: "target-gone", status: answer.status }, answer.reason);
      assert.equal(requestsFor(fake, token).length, 1, "never retried");
    }
    // A token that cannot be an APNs token at all is gone without a request.
    assert.equal((await push("not-hex")).kind, "target-gone");
    assert.equal(fake.requests.length, cases.length);
  });
});

Deno.test("our own mistakes and credential problems fail for good, never retried", async () => {
  await withRig({}, async ({ fake, push }) => {
    const cases = [
      [400, "MissingDeviceToken"],
      [400, "MissingTopic"],
      [400, "BadTopic"],
      [400, "TopicDisallowed"],
      [400, "BadPriority"],
      [400, "BadExpirationDate"],
      [400, "BadMessageId"],
      [400, "BadCollapseId"],
      [400, "DuplicateHeaders"],
      [400, "InvalidPushType"],
      [400, "PayloadEmpty"],
      [403, "InvalidProviderToken"],
      [403, "MissingProviderToken"],
      [403, "BadCertificate"],
      [403, "BadCertificateEnvironment"],
      [403, "Forbidden"],
      [404, "BadPath"],
      [405, "MethodNotAllowed"],
      [413, "PayloadTooLarge"],
    ] as const;
    for (const [n, [status, reason]] of cases.entries()) {
      const token = deviceToken(200 + n);
      fake.script(token, { status, reason });
      const outcome = await push(token);
      assert.equal(outcome.kind, "failed", reason);
      assert.ok(outcome.kind === "failed" && !outcome.retryable && outcome.detail === reason);
      assert.equal(outcome.status, status);
      assert.equal(requestsFor(fake, token).length, 1, `${reason} is not retried`);
    }
  });
});

Deno.test("429 TooManyRequests backs that token off: answered throttled, no request meanwhile", async () => {
  await withRig({}, async ({ fake, push, clock, logger }) => {
    const token = deviceToken(300);
    fake.script(token, { status: 429, reason: "TooManyRequests" }, 1);
    const first = await push(token);
    assert.equal(first.kind, "throttled");
    // Per app logs: the delivery policy's lines name the service and the app.
    const backsOff = logger.lines.find((line) => line.message === "channel backs off");
    assert.equal(backsOff?.fields.service, "apns");
    assert.equal(backsOff?.fields.app, "monal-ios");
    const second = await push(token);
    assert.equal(second.kind, "throttled");
    assert.equal(requestsFor(fake, token).length, 1);
    // Other tokens are not affected.
    assert.equal((await push(deviceToken(301))).kind, "delivered");
    // After the pause (10 minutes, fpush's), the token is tried again.
    clock.t += 10 * 60_000 + 1;
    assert.equal((await push(token)).kind, "delivered");
  });
});

Deno.test("429 TooManyProviderTokenUpdates: retryable but not retried now (APNs wants a pause)", async () => {
  await withRig({}, async ({ fake, push }) => {
    const token = deviceToken(310);
    fake.script(token, { status: 429, reason: "TooManyProviderTokenUpdates" }, 1);
    const outcome = await push(token);
    assert.ok(outcome.kind === "failed" && outcome.retryable);
    assert.equal(requestsFor(fake, token).length, 1);
  });
});

Deno.test("500 and 503 are retried with backoff; an outage ends retryable after maxAttempts", async () => {
  await withRig({ maxAttempts: 3 }, async ({ fake, push, metrics }) => {
    const flaky = deviceToken(400);
    fake.script(flaky, { status: 500, reason: "InternalServerError" }, 2);
    assert.equal((await push(flaky)).kind, "delivered");
    assert.deepEqual(requestsFor(fake, flaky).map((request) => request.status), [500, 500, 200]);
    const down = deviceToken(401);
    fake.script(down, { status: 503, reason: "ServiceUnavailable" });
    const outcome = await push(down);
    assert.ok(outcome.kind === "failed" && outcome.retryable && outcome.status === 503);
    assert.equal(requestsFor(fake, down).length, 3);
    assert.deepEqual(
      metrics.responses.map((response) => response.status),
      [500, 500, 200, 503, 503, 503],
    );
  });
});

Deno.test("IdleTimeout and Shutdown reconnect and send again", async () => {
  await withRig({}, async ({ fake, push }) => {
    for (const [n, [status, reason]] of [[400, "IdleTimeout"], [503, "Shutdown"]].entries()) {
      const token = deviceToken(500 + n);
      fake.script(token, { status: status as number, reason: reason as string }, 1);
      assert.equal((await push(token)).kind, "delivered", reason as string);
    }
    assert.equal(fake.counters.connections, 3, "a new connection after each");
  });
});

Deno.test("a GOAWAY from APNs is logged for the operator, and pushes go on over a new connection", async () => {
  await withRig({}, async ({ fake, push, logger }) => {
    assert.equal((await push(deviceToken(520))).kind, "delivered");
    fake.goawayAll();
    const deadline = Date.now() + 5000;
    const logged = () => logger.lines.find((line) => line.message === "APNs closed the connection");
    while (logged() === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const line = logged();
    assert.ok(line, "the GOAWAY is logged");
    assert.equal(line.fields.code, 0);
    assert.equal(line.fields.reason, null);
    assert.equal(line.fields.app, "monal-ios");
    assert.equal((await push(deviceToken(521))).kind, "delivered");
    assert.equal(fake.counters.connections, 2);
  });
});

Deno.test("403 ExpiredProviderToken renews the JWT once and sends again", async () => {
  await withRig({}, async ({ fake, push, clock }) => {
    await push(deviceToken(600));
    const token = deviceToken(601);
    fake.script(token, { status: 403, reason: "ExpiredProviderToken" }, 1);
    clock.t += 25 * 60_000; // a renewal is allowed (20 minutes after the first JWT)
    assert.equal((await push(token)).kind, "delivered");
    const [rejected, retried] = requestsFor(fake, token);
    assert.equal(rejected.status, 403);
    assert.equal(retried.status, 200);
    assert.ok(retried.jwt!.iat > rejected.jwt!.iat, "a new JWT");
    // Still "expired" right after: no second renewal within 20 minutes (that would earn
    // 429 TooManyProviderTokenUpdates), so no retry either (it would send the same JWT):
    // failed, which the user's server hears as wait.
    const stuck = deviceToken(602);
    fake.script(stuck, { status: 403, reason: "ExpiredProviderToken" });
    const again = await push(stuck);
    assert.ok(
      again.kind === "failed" && !again.retryable && again.detail === "ExpiredProviderToken",
      JSON.stringify(again),
    );
    assert.equal(requestsFor(fake, stuck).length, 1, "no retry with a JWT APNs called expired");
    const jwts = new Set(requestsFor(fake, stuck).map((request) => request.jwt!.iat));
    assert.deepEqual([...jwts], [retried.jwt!.iat]);
  });
});

Deno.test("the provider token is renewed after 45 minutes, never sooner, on the same connection", async () => {
  await withRig({}, async ({ fake, push, clock }) => {
    await push(deviceToken(700));
    clock.t += 19 * 60_000;
    await push(deviceToken(701));
    clock.t += 27 * 60_000; // 46 minutes after the first
    await push(deviceToken(702));
    const iats = fake.requests.map((request) => request.jwt!.iat);
    assert.equal(iats[0], iats[1]);
    assert.ok(iats[2] - iats[0] >= 45 * 60);
    assert.ok(fake.requests.every((request) => request.status === 200));
    assert.equal(fake.counters.connections, 1);
  });
});

Deno.test("readiness fails while APNs cannot be reached, and recovers", async () => {
  const rig = await startRig({ maxAttempts: 1 });
  try {
    await rig.push(deviceToken(800));
    await rig.app.readiness[0].run();
    await rig.fake.close();
    const outcome = await rig.push(deviceToken(801));
    assert.ok(outcome.kind === "failed" && outcome.retryable);
    await assert.rejects(rig.app.readiness[0].run(), /APNs did not answer/);
    assert.equal(rig.metrics.responses.at(-1)?.status, null);
  } finally {
    await rig.app.close();
    await Deno.remove(rig.dir, { recursive: true });
  }
});

Deno.test("the app hands its coalesceMs to the publish use case and merges nothing itself", async () => {
  await withRig({ coalesceMs: 50 }, async ({ fake, app, push }) => {
    assert.equal(app.coalesceMs, 50, "the use case's coalescer merges in this window");
    const token = deviceToken(900);
    const outcomes = await Promise.all([push(token), push(token), push(token), push(token)]);
    assert.ok(outcomes.every((outcome) => outcome.kind === "delivered"));
    // Merging twice (per account above, per token here) would delay a burst's trailing push.
    assert.equal(requestsFor(fake, token).length, 4, "every push the use case sends is sent");
  });
});

Deno.test("bad key or CA files are reported with the field's path", async () => {
  const [, key] = await sharedMaterial();
  const dir = await Deno.makeTempDir({ prefix: "apns-wiring-" });
  try {
    const base = {
      service: "apns",
      keyId: KEY_ID,
      teamId: TEAM_ID,
      topic: TOPIC,
    };
    const deps = {
      store: {} as RegistrationStore,
      clock: new TestClock(),
      logger: new RecordingLogger(),
      metrics: new MetricsLog(),
    };
    await assert.rejects(
      createApnsApp("ios", ApnsAppSchema.parse({ ...base, keyFile: `${dir}/none.p8` }), deps),
      /^Error: apps\.ios\.keyFile: .*none\.p8: no such file$/,
    );
    await Deno.writeTextFile(
      `${dir}/bad.p8`,
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    const error = await createApnsApp(
      "ios",
      ApnsAppSchema.parse({ ...base, keyFile: `${dir}/bad.p8` }),
      deps,
    ).then(() => null, (e: Error) => e);
    assert.match(String(error?.message), /^apps\.ios\.keyFile: the APNs key is not a PKCS#8/);
    await Deno.writeTextFile(`${dir}/good.p8`, key.p8);
    await assert.rejects(
      createApnsApp(
        "ios",
        ApnsAppSchema.parse({ ...base, keyFile: `${dir}/good.p8`, caFile: `${dir}/none.pem` }),
        deps,
      ),
      /apps\.ios\.caFile: .*no such file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the APNs app's logs hold no device token, JWT or key, whatever APNs answers", async () => {
  await withRig({}, async ({ fake, push, logger, dir }) => {
    const answers: [number, string][] = [
      [200, ""],
      [410, "Unregistered"],
      [400, "BadDeviceToken"],
      [429, "TooManyRequests"],
      [500, "InternalServerError"],
      [403, "InvalidProviderToken"],
      [403, "ExpiredProviderToken"],
      [413, "PayloadTooLarge"],
    ];
    const tokens = answers.map((_, i) => deviceToken(900 + i));
    for (const [i, [status, reason]] of answers.entries()) {
      if (status !== 200) fake.script(tokens[i], { status, reason });
      await push(tokens[i]);
    }
    assert.equal(fake.requests.length >= answers.length, true);
    const text = logger.text();
    assert.ok(logger.lines.length > 0);
    const keyLine = (await Deno.readTextFile(`${dir}/AuthKey.p8`)).split("\n")[1];
    for (const secret of [...tokens, keyLine, "bearer", "eyJ"]) {
      assert.ok(!text.includes(secret), `leaked: ${secret.slice(0, 8)}…`);
    }
  });
});
