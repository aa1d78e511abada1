/**
 * fpush's stateless dialect through the publish use case, and through the XMPP publish
 * parsing with Monal's publishes as Prosody and ejabberd send them: real APNs apps
 * (createApnsApp) pushing to the fake APNs over HTTP/2 + TLS, real Prometheus metrics.
 */

import assert from "node:assert/strict";
import { ApnsAppSchema } from "../../../app/config/apns_app.ts";
import { ServiceRouter } from "../../../app/delivery/service_router.ts";
import { FpushTargets } from "../../../app/fpush_targets.ts";
import { LimitReporter } from "../../../app/limit_reporter.ts";
import { PushService } from "../../../app/use_cases/push_service.ts";
import { PushCoalescer } from "../../../app/delivery/push_coalescer.ts";
import { createApnsApp } from "../../../app/wiring/apns_wiring.ts";
import type { AppDelivery } from "../../../app/wiring/app_delivery.ts";
import type { FakeApns } from "../../../adapters/push/apns/fake_apns_server.ts";
import { PrometheusMetrics } from "../../../adapters/metrics/prometheus_metrics.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../../adapters/push/wns/memory_wns_sender.ts";
import { WnsPushDelivery } from "../../../adapters/push/wns/wns_push_delivery.ts";
import { answerPublish } from "../../../adapters/xmpp/publish_iq.ts";
import type { PublishRequest } from "../../../domain/publish.ts";
import type { PushTarget } from "../../../domain/push_target.ts";
import type { RegistrationStore } from "../../../domain/ports/storage.ts";
import { parseXml } from "../../support/parse_xml.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import { wnsTarget } from "../../support/wns_delivery.ts";
import {
  deviceToken,
  startFakeApnsForApp,
  TestClock,
  TOPIC,
} from "../../adapters/push/apns/apns_test_kit.ts";

const FORM = "http://jabber.org/protocol/pubsub#publish-options";
/** The token in tests/fixtures/fpush/. */
const MONAL_TOKEN = "6e2c1f0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
const NODE = "nodeNodeNodeNodeNode";
const SECRET = "secretSecretSecretSecret";

/** A store that must not be asked: a publish naming its app needs no lookup. */
class UntouchableStore extends MemoryStore {
  lookups = 0;
  override findNode(node: string, now: number) {
    this.lookups++;
    return super.findNode(node, now);
  }
}

interface Rig {
  readonly fake: FakeApns;
  readonly service: PushService;
  readonly store: UntouchableStore;
  readonly wns: MemoryWnsSender;
  readonly metrics: PrometheusMetrics;
  readonly logger: RecordingLogger;
  readonly clock: TestClock;
  close(): Promise<void>;
}

async function startRig(
  options: {
    extra?: Record<string, unknown>;
    defaultApp?: boolean;
    showsMessageBody?: (target: PushTarget) => boolean;
    /** The use case's coalescing window for the APNs apps (as push_server.ts wires it). */
    coalesceMs?: number;
  } = {},
): Promise<Rig> {
  const apns = await startFakeApnsForApp("stateless-push-");
  const { fake, clock } = apns;
  const common = {
    ...apns.appConfig,
    maxAttempts: 2,
    ...options.extra,
  };
  const configs = [
    [
      "monal-ios",
      ApnsAppSchema.parse({
        ...common,
        default: options.defaultApp ?? false,
        pushModules: ["monalProdiOS"],
      }),
    ],
    [
      "monal-ios-sandbox",
      ApnsAppSchema.parse({
        ...common,
        environment: "sandbox",
        pushModules: ["monalProdiOS-sandbox"],
      }),
    ],
  ] as const;
  const metrics = new PrometheusMetrics();
  const logger = new RecordingLogger();
  const deps = { store: {} as RegistrationStore, clock, logger, metrics };
  const apps: AppDelivery[] = [];
  for (const [name, config] of configs) {
    apps.push(await createApnsApp(name, config, deps, { initialRetryDelayMs: 1 }));
  }
  const wns = new MemoryWnsSender();
  const delivery = new ServiceRouter([
    { service: "wns", app: "wns", delivery: new WnsPushDelivery(wns) },
    ...apps,
  ]);
  const store = new UntouchableStore(clock);
  await store.saveTarget(
    "dev1",
    wnsTarget("https://db5p.notify.windows.com/?token=T"),
    2,
    clock.now() + 86400_000,
  );
  await store.replaceAccounts(
    "dev1",
    [{ accountId: "ACC1", node: NODE, secret: SECRET }],
    clock.now() + 86400_000,
  );
  const reportLimit = new LimitReporter({ metrics, logger, clock }).hit;
  const stateless = new FpushTargets(configs, { clock, reportLimit, metrics });
  const service = new PushService({
    store,
    delivery,
    clock,
    logger,
    stateless,
    showsMessageBody: options.showsMessageBody,
    ...(options.coalesceMs === undefined ? {} : {
      coalescer: new PushCoalescer(0),
      coalesceWindowMs: (target: PushTarget) => target.service === "apns" ? options.coalesceMs! : 0,
    }),
  });
  return {
    fake,
    service,
    store,
    wns,
    metrics,
    logger,
    clock,
    async close() {
      for (const app of apps) await app.close();
      await apns.close();
    },
  };
}

async function withRig(
  options: Parameters<typeof startRig>[0],
  body: (rig: Rig) => Promise<void>,
): Promise<void> {
  const rig = await startRig(options);
  try {
    await body(rig);
  } finally {
    await rig.close();
  }
}

function monalPublish(
  token: string,
  pushModule: string | null,
  extra: [string, string][] = [],
): PublishRequest {
  return {
    node: token,
    secret: null,
    summary: null,
    publishOptions: pushModule === null
      ? null
      : [["FORM_TYPE", FORM], ["pushModule", pushModule], ...extra],
  };
}

/** One series of the metrics text, or 0. */
async function series(metrics: PrometheusMetrics, line: string): Promise<number> {
  const text = await metrics.text();
  const found = text.split("\n").find((l) => l.startsWith(line + " "));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

Deno.test("a Monal publish (node = token, pushModule) is pushed with that app, no storage lookup", async () => {
  await withRig({}, async ({ fake, service, store, metrics }) => {
    const token = deviceToken(1);
    assert.deepEqual(await service.handlePublish(monalPublish(token, "monalProdiOS")), {
      kind: "pushed",
    });
    assert.equal(store.lookups, 0);
    const [request] = fake.requests;
    assert.equal(request.path, `/3/device/${token}`);
    assert.equal(request.headers["apns-topic"], TOPIC);
    assert.equal(request.headers["apns-push-type"], "alert");
    assert.equal(JSON.parse(request.body).aps["mutable-content"], 1);
    assert.equal(
      await series(
        metrics,
        'uwpx_push_service_responses_total{service="apns",app="monal-ios",status="200"}',
      ),
      1,
    );
  });
});

Deno.test("the -sandbox twin goes to the sandbox app; extra publish-options are accepted", async () => {
  await withRig({}, async ({ fake, service, metrics }) => {
    const token = deviceToken(2);
    const outcome = await service.handlePublish(
      monalPublish(token, "monalProdiOS-sandbox", [["secret", "whatever"], ["x-extra", "1"]]),
    );
    assert.deepEqual(outcome, { kind: "pushed" });
    assert.equal(fake.requests.length, 1);
    assert.equal(
      await series(
        metrics,
        'uwpx_push_service_responses_total{service="apns",app="monal-ios-sandbox",status="200"}',
      ),
      1,
    );
  });
});

Deno.test("a dead token is cancel/item-not-found, then blocklisted: refused without a request, counted", async () => {
  await withRig({}, async ({ fake, service, metrics, clock, logger }) => {
    const token = deviceToken(3);
    fake.script(token, { status: 410, reason: "Unregistered", timestamp: clock.now() }, 1);
    const publish = monalPublish(token, "monalProdiOS");
    assert.deepEqual(await service.handlePublish(publish), { kind: "unknown-node" });
    assert.deepEqual(await service.handlePublish(publish), { kind: "unknown-node" });
    assert.deepEqual(await service.handlePublish(publish), { kind: "unknown-node" });
    assert.equal(fake.requests.length, 1, "Apple is asked once");
    assert.equal(
      await series(metrics, 'uwpx_push_limit_hits_total{limit="stateless_dead_token"}'),
      2,
    );
    assert.equal(
      await series(metrics, 'uwpx_push_blocked_tokens{service="apns",app="monal-ios"}'),
      1,
    );
    assert.equal(
      await series(metrics, 'uwpx_push_blocked_tokens{service="apns",app="monal-ios-sandbox"}'),
      0,
    );
    // BadDeviceToken (a token of the other environment) is dead for this app too.
    const other = deviceToken(4);
    fake.script(other, { status: 400, reason: "BadDeviceToken" });
    assert.deepEqual(await service.handlePublish(monalPublish(other, "monalProdiOS")), {
      kind: "unknown-node",
    });
    // The block ends after a day (it was looked up late: extended by 10 minutes).
    clock.t += 24 * 3600_000 + 11 * 60_000;
    assert.equal(
      await series(metrics, 'uwpx_push_blocked_tokens{service="apns",app="monal-ios"}'),
      0,
    );
    assert.deepEqual(await service.handlePublish(publish), { kind: "pushed" });
    // Never a whole token in the logs.
    const text = JSON.stringify(logger.lines);
    assert.ok(!text.includes(token) && !text.includes(other));
  });
});

Deno.test("over the per-token rate: wait/resource-constraint, counted; other tokens unaffected", async () => {
  await withRig(
    { extra: { tokenRateLimit: { burst: 2, refillSeconds: 20 } } },
    async ({ fake, service, metrics, clock }) => {
      const token = deviceToken(5);
      const publish = monalPublish(token, "monalProdiOS");
      assert.deepEqual(await service.handlePublish(publish), { kind: "pushed" });
      assert.deepEqual(await service.handlePublish(publish), { kind: "pushed" });
      const third = await service.handlePublish(publish);
      assert.equal(third.kind, "throttled");
      assert.equal(fake.requests.length, 2);
      assert.equal(
        await series(metrics, 'uwpx_push_limit_hits_total{limit="stateless_token_rate"}'),
        1,
      );
      assert.deepEqual(await service.handlePublish(monalPublish(deviceToken(6), "monalProdiOS")), {
        kind: "pushed",
      });
      clock.t += 20_000;
      assert.deepEqual(await service.handlePublish(publish), { kind: "pushed" });
    },
  );
});

Deno.test("the rate is counted after coalescing: a burst merged into two pushes is all answered pushed", async () => {
  await withRig(
    { extra: { tokenRateLimit: { burst: 2, refillSeconds: 20 } }, coalesceMs: 100 },
    async ({ fake, service, metrics }) => {
      const token = deviceToken(14);
      const publish = monalPublish(token, "monalProdiOS");
      // Ten publishes at once, as a user's server sends for offline messages.
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, () => service.handlePublish(publish)),
      );
      assert.deepEqual(outcomes.map((o) => o.kind), Array(10).fill("pushed"));
      assert.equal(fake.requests.length, 2, "the leading push and one trailing");
      assert.equal(
        await series(metrics, 'uwpx_push_limit_hits_total{limit="stateless_token_rate"}'),
        0,
      );
      // The rate is spent by what was sent: the next window's push is refused.
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal((await service.handlePublish(publish)).kind, "throttled");
      assert.equal(fake.requests.length, 2);
    },
  );
});

Deno.test("a push merged behind the one that found the token dead is not sent", async () => {
  await withRig({ coalesceMs: 100 }, async ({ fake, service }) => {
    const token = deviceToken(15);
    fake.script(token, { status: 410, reason: "Unregistered", delayMs: 30 });
    const publish = monalPublish(token, "monalProdiOS");
    const first = service.handlePublish(publish);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const merged = service.handlePublish(publish);
    assert.deepEqual(await first, { kind: "unknown-node" });
    assert.deepEqual(await merged, { kind: "unknown-node" });
    assert.equal(fake.requests.length, 1, "Apple is asked once");
  });
});

Deno.test("APNs throttling and outages are wait, never cancel; nothing is blocked", async () => {
  await withRig({}, async ({ fake, service, metrics }) => {
    const throttled = deviceToken(7);
    fake.script(throttled, { status: 429, reason: "TooManyRequests" });
    assert.equal(
      (await service.handlePublish(monalPublish(throttled, "monalProdiOS"))).kind,
      "throttled",
    );
    const down = deviceToken(8);
    fake.script(down, { status: 503, reason: "ServiceUnavailable" });
    assert.equal(
      (await service.handlePublish(monalPublish(down, "monalProdiOS"))).kind,
      "unavailable",
    );
    const broken = deviceToken(9);
    fake.script(broken, { status: 500, reason: "InternalServerError" });
    assert.equal(
      (await service.handlePublish(monalPublish(broken, "monalProdiOS"))).kind,
      "unavailable",
    );
    assert.equal(
      await series(metrics, 'uwpx_push_blocked_tokens{service="apns",app="monal-ios"}'),
      0,
    );
  });
});

Deno.test("without pushModule: a stored node is the stored path; an unknown token goes to the default app", async () => {
  await withRig({ defaultApp: true }, async ({ fake, service, wns, store }) => {
    assert.deepEqual(
      await service.handlePublish({ node: NODE, secret: SECRET, summary: null }),
      { kind: "pushed" },
    );
    assert.equal(wns.sent.length, 1);
    const token = deviceToken(10);
    assert.deepEqual(await service.handlePublish(monalPublish(token, null)), { kind: "pushed" });
    assert.equal(fake.requests[0].token, token);
    assert.equal(store.lookups, 2, "storage is asked first when the publish names no app");
  });
  // Without a default APNs app (two apps, none default) nothing is pushed.
  await withRig({}, async ({ fake, service }) => {
    assert.deepEqual(await service.handlePublish(monalPublish(deviceToken(11), null)), {
      kind: "unknown-node",
    });
    assert.equal(fake.requests.length, 0);
  });
});

Deno.test("an unknown pushModule, a bad one, or a node that is no token", async () => {
  await withRig({ defaultApp: true }, async ({ fake, service, wns }) => {
    assert.deepEqual(await service.handlePublish(monalPublish(deviceToken(12), "someoneElse")), {
      kind: "unknown-node",
    });
    const bad = await service.handlePublish(monalPublish(deviceToken(13), "bad module!"));
    assert.equal(bad.kind, "bad-request");
    // A stored node with a pushModule stays the stored registration's (the secret counts).
    assert.deepEqual(
      await service.handlePublish({ ...monalPublish(NODE, "monalProdiOS"), secret: SECRET }),
      { kind: "pushed" },
    );
    assert.equal(wns.sent.length, 1);
    assert.equal(fake.requests.length, 0);
  });
});

/** A stanza of tests/fixtures/fpush/. */
function fpushFixture(name: string) {
  return parseXml(Deno.readTextFileSync(new URL(`../../fixtures/fpush/${name}`, import.meta.url)));
}

Deno.test("Monal's enable → the publishes Prosody and ejabberd send → an APNs push, answered result", async () => {
  // What Monal enables: its token as node, its pushModule in the form the servers copy.
  const enable = fpushFixture("monal-enable.xml").getChild("enable", "urn:xmpp:push:0")!;
  assert.equal(enable.attrs.node, MONAL_TOKEN);
  await withRig({}, async ({ fake, service, metrics }) => {
    for (
      const [file, app] of [
        ["prosody-0.12-monal-publish.xml", "monal-ios"],
        ["ejabberd-23.01-monal-publish.xml", "monal-ios-sandbox"],
      ]
    ) {
      const stanza = fpushFixture(file);
      const pubsub = stanza.getChild("pubsub", "http://jabber.org/protocol/pubsub")!;
      assert.equal(pubsub.getChild("publish")!.attrs.node, enable.attrs.node);
      const answer = await answerPublish(
        pubsub,
        stanza.attrs.from,
        (request) => service.handlePublish(request),
        new RecordingLogger(),
      );
      assert.equal(answer.toString(), '<pubsub xmlns="http://jabber.org/protocol/pubsub"/>', file);
      assert.equal(fake.requests.at(-1)?.token, MONAL_TOKEN);
      // The published body stays out of the push (the app does not allow it).
      assert.ok(!fake.requests.at(-1)!.body.includes("New Message!"));
      assert.ok(!fake.requests.at(-1)!.body.includes('New message"'));
      assert.equal(
        await series(
          metrics,
          `uwpx_push_service_responses_total{service="apns",app="${app}",status="200"}`,
        ),
        1,
        file,
      );
    }
    // A dead token: cancel/item-not-found, which makes the user's server drop it.
    fake.script(MONAL_TOKEN, { status: 410, reason: "Unregistered" });
    const stanza = fpushFixture("prosody-0.12-monal-publish.xml");
    const answer = await answerPublish(
      stanza.getChild("pubsub", "http://jabber.org/protocol/pubsub")!,
      stanza.attrs.from,
      (request) => service.handlePublish(request),
      new RecordingLogger(),
    );
    assert.equal(answer.attrs.type, "cancel");
    assert.ok(answer.getChild("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas"));
  });
});

Deno.test("the message text goes to APNs only when the publish carried it and the app shows it", async () => {
  const withBody = (token: string): PublishRequest => ({
    ...monalPublish(token, "monalProdiOS"),
    summary: new Map([["last-message-body", "see you at 8"]]),
  });
  // The app allows it, but the wiring says this target's app does not show it.
  await withRig(
    { extra: { payload: { includeMessageBody: true } }, showsMessageBody: () => false },
    async ({ fake, service }) => {
      await service.handlePublish(withBody(deviceToken(20)));
      assert.equal(JSON.parse(fake.requests[0].body).aps.alert.body, "New Message?");
    },
  );
  await withRig(
    {
      extra: { payload: { includeMessageBody: true } },
      showsMessageBody: (target) => target.app === "monal-ios",
    },
    async ({ fake, service }) => {
      await service.handlePublish(withBody(deviceToken(21)));
      await service.handlePublish(monalPublish(deviceToken(22), "monalProdiOS"));
      assert.equal(JSON.parse(fake.requests[0].body).aps.alert.body, "see you at 8");
      assert.equal(JSON.parse(fake.requests[1].body).aps.alert.body, "New Message?");
    },
  );
});
