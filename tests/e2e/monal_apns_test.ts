/**
 * End to end as Monal does it (fpush's stateless dialect), against real Prosody
 * (mod_cloud_notify) and real ejabberd (mod_push), the push server as their XEP-0114
 * component, and the fake APNs (HTTP/2 over TLS, a test CA and a separate leaf, the provider
 * JWT verified with jose) on its own clock: a logged-in user sends its own server Monal's
 * exact enable (node = the APNs device token, `pushModule` in the publish-options form), goes
 * offline, a message arrives, and the fake APNs gets one request.
 *
 * Each path of issue 17 is a scenario, on both servers, each with its own push stack, fake
 * APNs and user: delivery (headers, Monal's payload, the sandbox twin), 410 Unregistered
 * (the user's server hears item-not-found, ejabberd drops the registration, the token is
 * blocklisted), ExpiredProviderToken, throttling (our per-token rate, APNs 429) and outages
 * (APNs down, 503). p2's `register-push-apns` runs once through Prosody.
 */

import assert from "node:assert/strict";
import type { Element } from "@xmpp/xml";
import {
  type FakeApns,
  type FakeApnsCertificates,
  generateApnsTestKey,
  generateFakeApnsCertificates,
  startFakeApns,
} from "../../adapters/push/apns/fake_apns_server.ts";
import { serverTestGate } from "../support/prosody.ts";
import { parseXml } from "../support/parse_xml.ts";
import type { XmppUser } from "../support/xmpp_user.ts";
import {
  PUSH_DOMAIN,
  type PushStack,
  randomHexId,
  startPushStack,
  startXmppServer,
  type XmppServer,
  type XmppServerKind,
} from "./push_stack.ts";
import { heardErrorLines } from "./heard_errors.ts";
import { failureWithLogs, metricSample, userSession, waitUntil } from "./scenario_kit.ts";

const KEY_ID = "ABCDE12345";
const TEAM_ID = "TEAM123456";
const TOPIC = "im.monal.Monal";
const COLLAPSE_ID = "xmpp-push";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
/** Monal's placeholder (fpush.md §4): the Notification Service Extension replaces it. */
const MONAL_APS = {
  alert: { title: "New Message", body: "New Message?" },
  sound: "default",
  "mutable-content": 1,
};

/** The push server's clock and the fake APNs's: real time, moved ahead when a test says. */
class ShiftedClock {
  offsetMs = 0;
  now(): number {
    return Date.now() + this.offsetMs;
  }
}

/** A test CA, leaf and Apple key for the whole file (generating them takes a while). */
const material = Promise.all([generateFakeApnsCertificates(), generateApnsTestKey()]);

/** The fake APNs of one scenario, which can go down and come back on the same port. */
interface ApnsSide {
  readonly fake: FakeApns;
  /** Requests for `token`, in order. */
  requestsFor(token: string): FakeApns["requests"][number][];
  /** Waits until `token` got `count` requests; returns them. */
  waitForRequests(token: string, count: number): Promise<FakeApns["requests"][number][]>;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

async function startApnsSide(clock: ShiftedClock): Promise<ApnsSide & { dir: string }> {
  const [certificates, key] = await material;
  const start = (port?: number) =>
    startFakeApns({
      keys: [{ keyId: KEY_ID, teamId: TEAM_ID, publicKeyPem: key.publicKeyPem }],
      topics: [TOPIC],
      certificates: certificates as FakeApnsCertificates,
      clock,
      ...(port === undefined ? {} : { port }),
    });
  let fake = await start();
  const port = fake.port;
  const dir = await Deno.makeTempDir({ prefix: "monal-apns-e2e-" });
  await Deno.writeTextFile(`${dir}/AuthKey_${KEY_ID}.p8`, key.p8);
  await Deno.writeTextFile(`${dir}/apns-ca.pem`, certificates.caCert);
  let running = true;
  const side = {
    dir,
    get fake() {
      return fake;
    },
    requestsFor: (token: string) => fake.requests.filter((request) => request.token === token),
    async waitForRequests(token: string, count: number) {
      await waitUntil(() => side.requestsFor(token).length >= count, `${count} APNs requests`);
      return side.requestsFor(token);
    },
    async down() {
      running = false;
      await fake.close();
    },
    async up() {
      fake = await start(port);
      running = true;
    },
    async close() {
      if (running) await fake.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
  return side;
}

/** The apps of the test configuration: Monal's production build and its sandbox twin. */
function monalApps(dir: string, url: string, extra: Record<string, unknown>) {
  const common = {
    service: "apns",
    keyFile: `${dir}/AuthKey_${KEY_ID}.p8`,
    keyId: KEY_ID,
    teamId: TEAM_ID,
    topic: TOPIC,
    url,
    caFile: `${dir}/apns-ca.pem`,
    // One retry (after ~0.5 s): an outage is answered within a user's server's patience.
    maxAttempts: 2,
  };
  return {
    "monal-ios": {
      ...common,
      default: true,
      pushModules: ["monalProdiOS"],
      collapseId: COLLAPSE_ID,
      ...extra,
    },
    "monal-ios-sandbox": {
      ...common,
      environment: "sandbox",
      pushModules: ["monalProdiOS-sandbox"],
      // The twin shows the text the user's server put in the publish (the other never does).
      payload: { includeMessageBody: true },
    },
  };
}

/** What differs between the users' servers: how their logs say what they heard. */
interface ServerKit {
  readonly kind: XmppServerKind;
  /** Whether the first non-`wait` error ends the registration (ejabberd's mod_push). */
  readonly dropsOnCancel: boolean;
  /** Log lines saying the server got `cancel/item-not-found` for `user`'s `token`. */
  itemNotFound(log: string, user: string, token: string): number;
  /** Log lines saying the server got a `wait` error for it (and kept the registration). */
  waits(log: string, user: string, token: string): number;
}

const KITS: ServerKit[] = (["prosody", "ejabberd"] as const).map((kind) => ({
  kind,
  dropsOnCancel: kind === "ejabberd",
  itemNotFound: (log, user, token) =>
    heardErrorLines(kind, log, { user, node: token, type: "cancel", condition: "item-not-found" }),
  waits: (log, user, token) => heardErrorLines(kind, log, { user, node: token, type: "wait" }),
}));

/** One scenario's parts. */
interface Rig {
  readonly stack: PushStack;
  readonly apns: ApnsSide;
  readonly clock: ShiftedClock;
  readonly kit: ServerKit;
  /** This scenario's user (password `${user}-pw`); bob is shared. */
  readonly user: string;
  /** This scenario's device token: 64 lower-case hex digits. */
  readonly token: string;
}

/** `user` logs in, runs `body`, logs out (offline: no stream management). */
function session<T>(rig: Rig, user: string, body: (c: XmppUser) => Promise<T>): Promise<T> {
  return userSession(rig.stack, user, body);
}

const fixture = (path: string) =>
  Deno.readTextFileSync(new URL(`../fixtures/${path}`, import.meta.url));

/** Monal's enable (the fixture, fpush.md §1) with `token` as node and `pushModule`. */
function monalEnable(token: string, pushModule: string): Element {
  const iq = parseXml(fixture("fpush/monal-enable.xml"));
  iq.attrs.id = `enable-${crypto.randomUUID()}`;
  const enable = iq.getChild("enable", "urn:xmpp:push:0")!;
  assert.equal(enable.attrs.jid, PUSH_DOMAIN);
  enable.attrs.node = token;
  const field = enable.getChild("x", "jabber:x:data")!.getChildren("field")
    .find((f: Element) => f.attrs.var === "pushModule")!;
  field.getChild("value").children = [pushModule];
  return iq;
}

/** Monal after login: enables push at its own server (no `to`) with its token and module. */
async function enableAsMonal(rig: Rig, pushModule = "monalProdiOS", token = rig.token) {
  await session(rig, rig.user, async (client) => {
    const answer = await client.request(monalEnable(token, pushModule));
    assert.equal(answer.attrs.type, "result");
  });
}

/** bob sends the user a message while the user is offline. */
function messageFromBob(rig: Rig, text = "meet at 8?"): Promise<void> {
  return session(rig, "bob", (bob) => bob.sendMessage(`${rig.user}@localhost`, text));
}

/** The user's server's log. */
function serverLog(rig: Rig): Promise<string> {
  return Deno.readTextFile(rig.stack.xmppServer.logPath);
}

/** Waits until the user's server logged `n` lines of `what` for the user's token. */
async function waitHeard(rig: Rig, what: "itemNotFound" | "waits", n: number): Promise<void> {
  await waitUntil(
    async () => rig.kit[what](await serverLog(rig), rig.user, rig.token) >= n,
    `${rig.kit.kind} hearing ${what} ${n} times`,
  );
  assert.equal(rig.kit[what](await serverLog(rig), rig.user, rig.token), n);
}

/** One sample of the push server's metrics (0 when absent). */
function metric(rig: Rig, name: string, labels: Record<string, string>): Promise<number> {
  return metricSample(rig.stack, name, labels);
}

const publishes = (rig: Rig, outcome: string) =>
  metric(rig, "uwpx_push_publishes_total", { outcome });

/** Waits until the push server answered `n` publishes with `outcome`. */
async function waitPublishes(rig: Rig, outcome: string, n: number): Promise<void> {
  await waitUntil(async () => await publishes(rig, outcome) >= n, `${n} publishes ${outcome}`);
  assert.equal(await publishes(rig, outcome), n);
}

interface Scenario {
  readonly name: string;
  /** Settings of the `monal-ios` app for this scenario. */
  readonly app?: Record<string, unknown>;
  /** Runs on these servers only (default both). */
  readonly only?: XmppServerKind;
  fn(rig: Rig): Promise<void>;
}

const scenarios: Scenario[] = [
  {
    name: "Monal's enable, offline message: one APNs request with the app's headers, " +
      "Monal's payload and a verified JWT; the sandbox twin goes to the sandbox app",
    async fn(rig) {
      const { apns, clock, token } = rig;
      await enableAsMonal(rig);
      await messageFromBob(rig);
      const [request] = await apns.waitForRequests(token, 1);
      assert.equal(request.method, "POST");
      assert.equal(request.path, `/3/device/${token}`);
      assert.equal(request.status, 200);
      assert.deepEqual(
        { kid: request.jwt?.kid, iss: request.jwt?.iss },
        { kid: KEY_ID, iss: TEAM_ID },
        "the JWT verified with the key's public half",
      );
      const headers = request.headers;
      assert.equal(headers["apns-topic"], TOPIC);
      assert.equal(headers["apns-push-type"], "alert");
      assert.equal(headers["apns-priority"], "10");
      assert.equal(headers["apns-collapse-id"], COLLAPSE_ID);
      // A real date a day ahead (fpush sends 2419200: January 1970).
      const expiration = Number(headers["apns-expiration"]);
      const now = Math.floor(clock.now() / 1000);
      assert.ok(expiration > now + 86_000 && expiration <= now + 86_400, String(expiration));
      // Monal's placeholder only: neither the message nor the server's summary text.
      assert.deepEqual(JSON.parse(request.body), { aps: MONAL_APS });
      await waitPublishes(rig, "pushed", 1);
      assert.equal(apns.requestsFor(token).length, 1, "one message, one push");

      // A development build: the same user's server, the -sandbox module, the sandbox app,
      // which is configured to show the text the user's server published.
      const sandboxToken = randomHexId();
      await enableAsMonal(rig, "monalProdiOS-sandbox", sandboxToken);
      await messageFromBob(rig, "second message");
      const [sandbox] = await apns.waitForRequests(sandboxToken, 1);
      const aps = JSON.parse(sandbox.body).aps;
      assert.equal(aps["mutable-content"], 1);
      // What each server publishes as last-message-body: Prosody's dummy text for an
      // important message, ejabberd's include_body default.
      const published = rig.kit.kind === "prosody" ? "New Message!" : "New message";
      assert.equal(aps.alert.body, published);
      assert.ok(!sandbox.body.includes("second message"));
      assert.equal(
        await metric(rig, "uwpx_push_service_responses_total", {
          service: "apns",
          app: "monal-ios-sandbox",
          status: "200",
        }),
        1,
      );
      const log = rig.stack.logger.text();
      assert.ok(!log.includes(token) && !log.includes(sandboxToken), "a whole token was logged");
    },
  },
  {
    name: "410 Unregistered: item-not-found to the user's server (ejabberd drops the " +
      "registration); the token is blocklisted: the next publish is not sent to Apple",
    async fn(rig) {
      const { apns, kit, token, clock } = rig;
      apns.fake.script(token, { status: 410, reason: "Unregistered", timestamp: clock.now() });
      await enableAsMonal(rig);
      await messageFromBob(rig);
      await apns.waitForRequests(token, 1);
      await waitHeard(rig, "itemNotFound", 1);
      assert.equal(
        await metric(rig, "uwpx_push_blocked_tokens", { service: "apns", app: "monal-ios" }),
        1,
      );
      if (kit.dropsOnCancel) {
        // ejabberd dropped the registration: the next message publishes nothing.
        await messageFromBob(rig);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        assert.equal(await publishes(rig, "unknown-node"), 1, "a publish after the drop");
        // Monal enables again at its next login, with the same (dead) token.
        await enableAsMonal(rig);
      }
      await messageFromBob(rig);
      await waitPublishes(rig, "unknown-node", 2);
      await waitHeard(rig, "itemNotFound", 2);
      assert.equal(apns.requestsFor(token).length, 1, "Apple is not asked again");
      assert.equal(
        await metric(rig, "uwpx_push_limit_hits_total", { limit: "stateless_dead_token" }),
        1,
      );
    },
  },
  {
    name: "403 ExpiredProviderToken: the JWT is renewed once and the push delivered",
    async fn(rig) {
      const { apns, clock, token } = rig;
      await enableAsMonal(rig);
      await messageFromBob(rig);
      const [first] = await apns.waitForRequests(token, 1);
      // 25 minutes later (a renewal is allowed after 20), APNs says the JWT expired.
      clock.offsetMs += 25 * 60_000;
      apns.fake.script(token, { status: 403, reason: "ExpiredProviderToken" }, 1);
      await messageFromBob(rig);
      const [, rejected, retried] = await apns.waitForRequests(token, 3);
      assert.equal(rejected.status, 403);
      assert.equal(retried.status, 200);
      assert.equal(rejected.jwt!.iat, first.jwt!.iat);
      assert.ok(retried.jwt!.iat > rejected.jwt!.iat, "a new JWT");
      await waitPublishes(rig, "pushed", 2);
      assert.equal(await rig.kit.waits(await serverLog(rig), rig.user, token), 0);
    },
  },
  {
    name: "over the per-token rate limit: wait, nothing sent, the registration kept",
    app: { tokenRateLimit: { burst: 1, refillSeconds: 600 } },
    async fn(rig) {
      const { apns, clock, token } = rig;
      await enableAsMonal(rig);
      await messageFromBob(rig);
      await apns.waitForRequests(token, 1);
      await waitPublishes(rig, "pushed", 1);
      await messageFromBob(rig);
      await waitPublishes(rig, "throttled", 1);
      await waitHeard(rig, "waits", 1);
      assert.equal(apns.requestsFor(token).length, 1);
      assert.equal(
        await metric(rig, "uwpx_push_limit_hits_total", { limit: "stateless_token_rate" }),
        1,
      );
      // Ten minutes later the token may be pushed again: the registration is still there.
      clock.offsetMs += 600_000;
      await messageFromBob(rig);
      await apns.waitForRequests(token, 2);
      await waitPublishes(rig, "pushed", 2);
      assert.equal(await rig.kit.itemNotFound(await serverLog(rig), rig.user, token), 0);
    },
  },
  {
    name: "APNs 429 TooManyRequests: wait, the token left alone for 10 minutes, the " +
      "registration kept",
    async fn(rig) {
      const { apns, clock, token } = rig;
      apns.fake.script(token, { status: 429, reason: "TooManyRequests" }, 1);
      await enableAsMonal(rig);
      await messageFromBob(rig);
      await apns.waitForRequests(token, 1);
      await waitHeard(rig, "waits", 1);
      // Within the pause: wait again, without asking Apple.
      await messageFromBob(rig);
      await waitHeard(rig, "waits", 2);
      assert.equal(apns.requestsFor(token).length, 1);
      clock.offsetMs += 10 * 60_000 + 1000;
      await messageFromBob(rig);
      const requests = await apns.waitForRequests(token, 2);
      assert.equal(requests[1].status, 200);
      await waitPublishes(rig, "pushed", 1);
      assert.equal(await publishes(rig, "throttled"), 2);
    },
  },
  {
    name: "outages: APNs unreachable, then 503 on every try: wait after the retries; " +
      "pushes resume when APNs is back",
    async fn(rig) {
      const { apns, token } = rig;
      await enableAsMonal(rig);
      await apns.down();
      await messageFromBob(rig);
      await waitPublishes(rig, "unavailable", 1);
      await waitHeard(rig, "waits", 1);
      await apns.up();
      await messageFromBob(rig);
      await apns.waitForRequests(token, 1);
      await waitPublishes(rig, "pushed", 1);
      // 503 on both tries (maxAttempts 2): wait; then APNs answers again.
      apns.fake.script(token, { status: 503, reason: "ServiceUnavailable" }, 2);
      await messageFromBob(rig);
      await waitPublishes(rig, "unavailable", 2);
      await waitHeard(rig, "waits", 2);
      assert.deepEqual(apns.requestsFor(token).map((r) => r.status), [200, 503, 503]);
      await messageFromBob(rig);
      await apns.waitForRequests(token, 4);
      await waitPublishes(rig, "pushed", 2);
      assert.equal(await rig.kit.itemNotFound(await serverLog(rig), rig.user, token), 0);
    },
  },
  {
    name: "p2's register-push-apns: registered by command, enabled with node and secret, " +
      "an offline message pushed to the stored (lower-case) token",
    only: "prosody",
    async fn(rig) {
      const { apns, token } = rig;
      const iq = parseXml(fixture("p2/register_request.stanza"));
      iq.attrs.to = PUSH_DOMAIN;
      delete iq.attrs.from;
      const command = iq.getChild("command", NS_COMMANDS)!;
      command.attrs.node = "register-push-apns";
      const form = command.getChild("x", "jabber:x:data")!;
      for (const field of form.getChildren("field")) {
        if (field.attrs.var === "token") field.getChild("value").children = [token.toUpperCase()];
        if (field.attrs.var === "android-id") field.attrs.var = "device-id";
      }
      const answer = await session(rig, rig.user, async (client) => {
        const result = await client.request(iq);
        const fields = result.getChild("command", NS_COMMANDS)!.getChild("x", "jabber:x:data")!
          .getChildren("field");
        const value = (name: string) =>
          fields.find((f: Element) => f.attrs.var === name)?.getChildText("value");
        const [jid, node, secret] = [value("jid"), value("node"), value("secret")];
        assert.ok(jid && node && secret, "the answer has jid, node and secret");
        await client.enablePush({ jid, node, secret });
        return { jid, node };
      });
      assert.equal(answer.jid, PUSH_DOMAIN);
      await messageFromBob(rig);
      const [request] = await apns.waitForRequests(token, 1);
      assert.equal(request.path, `/3/device/${token}`);
      assert.equal(request.headers["apns-topic"], TOPIC);
      assert.deepEqual(JSON.parse(request.body), { aps: MONAL_APS });
      await waitPublishes(rig, "pushed", 1);
    },
  },
];

for (const kit of KITS) {
  Deno.test({
    name: `${kit.kind} component: Monal's enable and APNs`,
    ...serverTestGate(kit.kind === "ejabberd" ? "ejabberdctl" : "prosody"),
    async fn(t) {
      const componentSecret = crypto.randomUUID();
      const xmppServer: XmppServer = await startXmppServer(kit.kind, componentSecret);
      try {
        const mine = scenarios.filter((s) => s.only === undefined || s.only === kit.kind);
        const users = ["bob", ...mine.map((_, i) => `alice${i}`)];
        await Promise.all(users.map((user) => xmppServer.registerUser(user, `${user}-pw`)));
        for (const [i, scenario] of mine.entries()) {
          await t.step(scenario.name, async () => {
            const clock = new ShiftedClock();
            const apns = await startApnsSide(clock);
            let stack: PushStack | undefined;
            try {
              stack = await startPushStack({
                shared: { xmppServer, componentSecret },
                clock,
                apps: monalApps(apns.dir, apns.fake.url, scenario.app ?? {}),
              });
              await scenario.fn({
                stack,
                apns,
                clock,
                kit,
                user: `alice${i}`,
                token: randomHexId(),
              });
            } catch (error) {
              throw await failureWithLogs(error, kit.kind, xmppServer, stack);
            } finally {
              await stack?.stop();
              await apns.close();
            }
          });
        }
      } finally {
        await xmppServer.stop();
      }
    },
  });
}
