/**
 * Several apps in one server: one WNS app and two FCM apps (two Firebase projects, each its
 * own fake FCM on loopback verifying the JWT with jose). Registrations are put in the store
 * as the command door stores them (one device per registration, one account whose id is
 * p2's device hash); publishes come through a fake XEP-0114 server, as a user's server
 * sends them. What the user's server hears, what each fake FCM received, what the server
 * counts and reports.
 */

import assert from "node:assert/strict";
import { startFakeFcm } from "../../adapters/push/fcm/fake_fcm_server.ts";
import { startFakeWns } from "../../adapters/push/wns/fake_wns_server.ts";
import { startFakeComponentServer } from "../../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import { parseConfig } from "../../app/config.ts";
import { startPushServer } from "../../app/push_server.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { eventually } from "../support/loopback_stack.ts";
import { sample } from "../support/prometheus_text.ts";
import { writeTestCertificate } from "../support/tls_cert.ts";

const DOMAIN = "push.localhost";
const DAY_MS = 24 * 60 * 60 * 1000;

type Fake = Awaited<ReturnType<typeof startFakeFcm>>;

async function fakes() {
  const [conversations, quicksy] = await Promise.all([
    startFakeFcm({ projectId: "conversations-push" }),
    startFakeFcm({ projectId: "quicksy-push" }),
  ]);
  return { conversations, quicksy };
}

/** The server's configuration: `dir` holds the database and the key files. */
async function config(
  dir: string,
  fcm: { conversations: Fake; quicksy: Fake },
  wnsUrls: { tokenUrl: string; packetId: string; clientSecret: string },
  xmppPort: number,
  extra: Record<string, Record<string, unknown>> = {},
) {
  const { certPath, keyPath } = await writeTestCertificate(dir);
  for (const [name, fake] of Object.entries(fcm)) {
    await Deno.writeTextFile(`${dir}/${name}.json`, JSON.stringify(fake.serviceAccount));
  }
  const app = (name: "conversations" | "quicksy", more: Record<string, unknown>) => ({
    service: "fcm",
    serviceAccountFile: `${dir}/${name}.json`,
    baseUrl: fcm[name].url,
    coalesceMs: 0,
    maxAttempts: 3,
    requestTimeoutSeconds: 1,
    ...more,
    ...extra[name],
  });
  const parsed = parseConfig({
    db: { url: `sqlite:${dir}/push.db` },
    tcp: { host: "127.0.0.1", port: 0, tls: { serverCertPath: certPath, serverKeyPath: keyPath } },
    wns: { ...wnsUrls, coalesceMs: 0 },
    xmpp: { mode: "component", bareJid: DOMAIN, password: "s", host: "127.0.0.1", port: xmppPort },
    apps: {
      conversations: app("conversations", { default: true }),
      quicksy: app("quicksy", { ttlSeconds: 3600 }),
    },
  });
  if (!parsed.ok) throw new Error(parsed.problems.join("\n"));
  return parsed.config;
}

async function stack(extra: Record<string, Record<string, unknown>> = {}) {
  const dir = await Deno.makeTempDir();
  const fcm = await fakes();
  const wns = await startFakeWns();
  const xmpp = await startFakeComponentServer({ domain: DOMAIN, secret: "s" });
  const logger = new RecordingLogger();
  const cfg = await config(dir, fcm, wns, xmpp.port, extra);
  let server = await startPushServer(cfg, logger);
  await server.link.whenOnline();
  /** Stores a registration as the command door does: device `fcm:<app>:<hash>`. */
  const register = async (app: "conversations" | "quicksy", fake: Fake) => {
    const hash = crypto.getRandomValues(new Uint8Array(20)).toHex();
    const token = fake.deviceToken();
    const deviceId = `fcm:${app}:${hash}`;
    const node = crypto.getRandomValues(new Uint8Array(12)).toHex();
    const secret = crypto.getRandomValues(new Uint8Array(12)).toHex();
    const expiresAt = Date.now() + 210 * DAY_MS;
    await server.store.saveTarget(deviceId, { service: "fcm", app, address: token }, 1, expiresAt);
    await server.store.replaceAccounts(deviceId, [{ accountId: hash, node, secret }], expiresAt);
    return { hash, token, deviceId, node, secret };
  };
  const publish = async (device: { node: string; secret: string }) => {
    const answer = await xmpp.sendIq(
      publishIq({ to: DOMAIN, node: device.node, secret: device.secret, summary: {} }),
    );
    const error = answer.getChild("error");
    return error ? `${error.attrs.type}/${error.getChildElements()[0].name}` : "result";
  };
  return {
    ...fcm,
    wns,
    xmpp,
    logger,
    dir,
    get server() {
      return server;
    },
    register,
    publish,
    /** Stops this server and starts another on the same SQLite file. */
    async restart() {
      await server.close();
      server = await startPushServer(cfg, logger);
      await server.link.whenOnline();
    },
    async [Symbol.asyncDispose]() {
      await server.close();
      await xmpp.close();
      await Promise.all([wns.close(), fcm.conversations.close(), fcm.quicksy.close()]);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const sends = (fake: Fake) => fake.sendRequests.length;

Deno.test("FCM apps: each publish reaches its own app's project, as p2 sends it but HIGH", async () => {
  await using s = await stack();
  const conv = await s.register("conversations", s.conversations);
  const quick = await s.register("quicksy", s.quicksy);
  assert.equal(await s.publish(conv), "result");
  assert.equal(await s.publish(quick), "result");

  assert.equal(s.conversations.messages.length, 1);
  assert.equal(s.quicksy.messages.length, 1);
  const [toConv] = s.conversations.messages;
  assert.equal(toConv.token, conv.token);
  assert.deepEqual(toConv.data, { account: conv.hash }, "the data is the hash, nothing else");
  assert.deepEqual(toConv.android, {
    priority: "HIGH",
    ttl: "86400s",
    collapse_key: conv.hash.slice(0, 6),
  });
  const [toQuick] = s.quicksy.messages;
  assert.equal(toQuick.token, quick.token);
  assert.deepEqual(toQuick.data, { account: quick.hash });
  assert.deepEqual(toQuick.android, {
    priority: "HIGH",
    ttl: "3600s",
    collapse_key: quick.hash.slice(0, 6),
  });
  // Each project's token endpoint saw its own service account's assertion.
  assert.equal(
    s.conversations.tokenRequests[0].claims?.iss,
    s.conversations.serviceAccount.client_email,
  );
  assert.equal(s.quicksy.tokenRequests[0].claims?.iss, s.quicksy.serviceAccount.client_email);

  // The WNS app is still there beside them.
  const deviceId = crypto.getRandomValues(new Uint8Array(32)).toHex();
  await s.server.store.saveTarget(
    deviceId,
    { service: "wns", app: "wns", address: s.wns.channelUri() },
    2,
    Date.now() + DAY_MS,
  );
  await s.server.store.replaceAccounts(deviceId, [{
    accountId: "ACC",
    node: "wnsnode",
    secret: "x",
  }], Date.now() + DAY_MS);
  assert.equal(await s.publish({ node: "wnsnode", secret: "x" }), "result");
  assert.equal(s.wns.received.length, 1);
  assert.equal(s.conversations.messages.length + s.quicksy.messages.length, 2);
});

Deno.test("FCM apps: priority, collapse and TTL follow each app's configuration", async () => {
  await using s = await stack({ quicksy: { priority: "NORMAL", collapse: false, ttlSeconds: 0 } });
  const quick = await s.register("quicksy", s.quicksy);
  assert.equal(await s.publish(quick), "result");
  assert.deepEqual(s.quicksy.messages[0].android, { priority: "NORMAL", ttl: "0s" });
});

for (const error of ["UNREGISTERED", "INVALID_ARGUMENT_TOKEN"] as const) {
  Deno.test(`FCM apps: ${error} answers cancel/item-not-found and forgets the token`, async () => {
    await using s = await stack();
    const device = await s.register("quicksy", s.quicksy);
    s.quicksy.failAlways(device.token, error);
    assert.equal(await s.publish(device), "cancel/item-not-found");
    assert.equal(sends(s.quicksy), 1, "a dead token is not retried");
    assert.equal(await s.server.store.findNode(device.node, Date.now()), null, "still stored");
    // Every later publish for it: the same answer, and nothing is sent.
    assert.equal(await s.publish(device), "cancel/item-not-found");
    assert.equal(sends(s.quicksy), 1);
    // Another app's registrations are untouched.
    const other = await s.register("conversations", s.conversations);
    assert.equal(await s.publish(other), "result");
  });
}

Deno.test("FCM apps: QUOTA_EXCEEDED with Retry-After: wait, and the token is left alone", async () => {
  await using s = await stack();
  const device = await s.register("conversations", s.conversations);
  s.conversations.failNext(device.token, "QUOTA_EXCEEDED", { "Retry-After": "30" });
  assert.equal(await s.publish(device), "wait/resource-constraint");
  assert.equal(sends(s.conversations), 1, "a quota error is not retried at once");
  assert.equal(await s.publish(device), "wait/resource-constraint");
  assert.equal(sends(s.conversations), 1, "the token was sent to within its Retry-After");
  const other = await s.register("conversations", s.conversations);
  assert.equal(await s.publish(other), "result", "other tokens still go out");
});

Deno.test("FCM apps: the project's quota (429 without FcmError) pauses the whole app", async () => {
  await using s = await stack();
  const first = await s.register("conversations", s.conversations);
  const second = await s.register("conversations", s.conversations);
  const elsewhere = await s.register("quicksy", s.quicksy);
  s.conversations.failNext(first.token, "RATE_LIMIT_EXCEEDED", { "Retry-After": "30" });
  assert.equal(await s.publish(first), "wait/resource-constraint");
  assert.equal(await s.publish(second), "wait/resource-constraint");
  assert.equal(sends(s.conversations), 1, "a request was spent against a spent quota");
  assert.equal(await s.publish(elsewhere), "result", "another project is not paused");
});

Deno.test("FCM apps: 503 and timeouts are retried, then the push goes out", async () => {
  await using s = await stack();
  const device = await s.register("conversations", s.conversations);
  s.conversations.failNext(device.token, "UNAVAILABLE", { "Retry-After": "0" });
  assert.equal(await s.publish(device), "result");
  assert.deepEqual(s.conversations.sendRequests.map((r) => r.status), [503, 200]);

  s.conversations.delayNext(device.token, 1500); // over the 1 s request timeout
  const started = Date.now();
  assert.equal(await s.publish(device), "result");
  assert.ok(Date.now() - started >= 1000, "answered before the timeout: not retried");
  // The timed-out request is answered (too late) by the fake too: four in all.
  await eventually(() => sends(s.conversations) === 4, "the late answer");
});

Deno.test("FCM apps: an outage is retried maxAttempts times, then wait, never cancel", async () => {
  await using s = await stack();
  const device = await s.register("quicksy", s.quicksy);
  s.quicksy.outage("INTERNAL", 60_000);
  assert.equal(await s.publish(device), "wait/internal-server-error");
  assert.equal(sends(s.quicksy), 3, "maxAttempts: 3");
  assert.notEqual(await s.server.store.findNode(device.node, Date.now()), null, "kept");
});

Deno.test("FCM apps: a 401 fetches a new access token once and the push goes out", async () => {
  await using s = await stack();
  const device = await s.register("conversations", s.conversations);
  assert.equal(await s.publish(device), "result");
  assert.equal(s.conversations.counters.tokensIssued, 1);
  s.conversations.expireTokens();
  assert.equal(await s.publish(device), "result");
  assert.equal(s.conversations.counters.tokensIssued, 2, "one refresh");
  assert.deepEqual(s.conversations.sendRequests.map((r) => r.status), [200, 401, 200]);
  assert.notEqual(s.conversations.messages[1].accessToken, s.conversations.messages[0].accessToken);
});

Deno.test("FCM apps: readiness and metrics are per app", async () => {
  await using s = await stack();
  s.quicksy.failNextToken(400, { error: "invalid_grant", error_description: "bad" });
  const report = await s.server.readiness.run();
  const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
  assert.equal(byName["fcm:conversations token"]?.ok, true);
  assert.equal(byName["fcm:quicksy token"]?.ok, false);
  assert.match(byName["fcm:quicksy token"].detail ?? "", /400 \(invalid_grant\)/);
  assert.equal(byName["wns"]?.ok, true);
  assert.equal(report.ready, false);

  const device = await s.register("conversations", s.conversations);
  s.conversations.failNext(device.token, "UNAVAILABLE", { "Retry-After": "0" });
  assert.equal(await s.publish(device), "result");
  const text = await s.server.metrics.text();
  const responses = (app: string, status: string) =>
    sample(text, "uwpx_push_service_responses_total", { service: "fcm", app, status });
  assert.equal(responses("conversations", "200"), 1);
  assert.equal(responses("conversations", "503"), 1);
  assert.equal(responses("quicksy", "200"), undefined);
  assert.equal(
    sample(text, "uwpx_push_service_request_duration_seconds_count", {
      service: "fcm",
      app: "conversations",
    }),
    2,
  );
  // Log lines of the delivery name their service and app.
  const retry = s.logger.lines.find((l) => l.message === "FCM is unavailable");
  assert.equal(retry?.fields.service, "fcm");
  assert.equal(retry?.fields.app, "conversations");
});

Deno.test("FCM apps: the access token is cached in storage and reused by the next instance", async () => {
  await using s = await stack();
  const device = await s.register("conversations", s.conversations);
  assert.equal(await s.publish(device), "result");
  assert.equal(s.conversations.counters.tokenRequests, 1);
  await s.restart();
  assert.equal(await s.publish(device), "result");
  assert.equal(s.conversations.counters.tokenRequests, 1, "the second instance asked again");
  assert.equal(
    s.conversations.messages[1].accessToken,
    s.conversations.messages[0].accessToken,
  );
});

Deno.test("FCM apps: each app coalesces with its own window", async () => {
  await using s = await stack({ quicksy: { coalesceMs: 300 } });
  const quick = await s.register("quicksy", s.quicksy);
  const conv = await s.register("conversations", s.conversations);
  const answers = await Promise.all([1, 2, 3].map(() => s.publish(quick)));
  assert.deepEqual(answers, ["result", "result", "result"]);
  assert.equal(s.quicksy.messages.length, 2, "the first at once, one trailing for the rest");
  await Promise.all([1, 2, 3].map(() => s.publish(conv)));
  assert.equal(s.conversations.messages.length, 3, "coalesceMs 0: every publish sent");
});

Deno.test("FCM apps: a bad key file stops the start, naming the field", async () => {
  const dir = await Deno.makeTempDir();
  const fcm = await fakes();
  const wns = await startFakeWns();
  const xmpp = await startFakeComponentServer({ domain: DOMAIN, secret: "s" });
  try {
    const cfg = await config(dir, fcm, wns, xmpp.port);
    await Deno.writeTextFile(`${dir}/quicksy.json`, '{"type":"service_account"}');
    await assert.rejects(
      startPushServer(cfg, new RecordingLogger()),
      /^Error: apps\.quicksy\.serviceAccountFile: invalid service-account key file \(project_id/,
    );
    await Deno.remove(`${dir}/quicksy.json`);
    await assert.rejects(
      startPushServer(cfg, new RecordingLogger()),
      /apps\.quicksy\.serviceAccountFile: cannot read/,
    );
  } finally {
    await xmpp.close();
    await Promise.all([wns.close(), fcm.conversations.close(), fcm.quicksy.close()]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FCM apps: the logs of every kind of answer hold no token, secret, node, access token or key", async () => {
  await using s = await stack();
  const devices = await Promise.all(
    Array.from({ length: 7 }, () => s.register("conversations", s.conversations)),
  );
  const answers: string[] = [];
  answers.push(await s.publish(devices[0]));
  const failures = [
    "UNREGISTERED",
    "INVALID_ARGUMENT_TOKEN",
    "QUOTA_EXCEEDED",
    "UNAVAILABLE",
    "SENDER_ID_MISMATCH",
    "UNAUTHENTICATED",
  ] as const;
  for (const [i, failure] of failures.entries()) {
    s.conversations.failNext(devices[i + 1].token, failure);
    answers.push(await s.publish(devices[i + 1]));
  }
  assert.equal(answers[0], "result");
  assert.ok(answers.includes("cancel/item-not-found"), answers.join(", "));
  assert.ok(answers.some((answer) => answer.startsWith("wait/")), answers.join(", "));
  const text = s.logger.text();
  assert.ok(s.logger.lines.some((line) => line.fields.app === "conversations"));
  const secrets = [
    ...devices.flatMap((device) => [device.token, device.secret, device.node]),
    ...s.conversations.issuedTokens,
    s.conversations.serviceAccount.private_key.split("\n")[1],
    s.conversations.serviceAccount.private_key_id,
  ];
  assert.ok(s.conversations.issuedTokens.length > 0);
  for (const secret of secrets) {
    assert.ok(!text.includes(secret), `leaked: ${secret.slice(0, 8)}…`);
  }
});
