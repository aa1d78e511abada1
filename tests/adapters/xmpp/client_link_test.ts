/**
 * The client link against a real Prosody 0.12: TLS and its certificate checks, stream
 * management under load (mod_smacks), resumption after a dropped connection, keepalive.
 */

import assert from "node:assert/strict";
import { xml } from "@xmpp/client";
import { ClientLink, type ClientLinkOptions } from "../../../adapters/xmpp/client_link.ts";
import { PepProvisioner } from "../../../adapters/xmpp/pep_provisioner.ts";
import type { XmppLinkMetrics } from "../../../domain/ports/metrics.ts";
import type { PublishRequest } from "../../../domain/publish.ts";
import {
  type ProsodyOptions,
  type RunningProsody,
  serverTestGate,
  startProsody,
  withTimeout,
} from "../../support/prosody.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import { startTcpProxy } from "../../support/tcp_proxy.ts";
import { connectUser } from "../../support/xmpp_user.ts";

const gate = serverTestGate("prosody");
const PUSH_JID = "pushsvc@localhost";
const NS_PUBSUB = "http://jabber.org/protocol/pubsub";

/** Prosody with the push account and bob registered; always stopped after `fn`. */
async function withProsody(
  options: Partial<ProsodyOptions>,
  fn: (prosody: RunningProsody) => Promise<void>,
) {
  const prosody = await startProsody({
    componentDomain: "push.localhost",
    componentSecret: "unused",
    ...options,
  });
  try {
    await prosody.registerUser("pushsvc", "push-pw");
    await prosody.registerUser("bob", "bob-pw");
    await fn(prosody);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await prosody.logTail()}`, { cause: error });
  } finally {
    await prosody.stop();
  }
}

/** A link (not started) that records what it publishes and logs. */
function link(prosody: RunningProsody, overrides: Partial<ClientLinkOptions> = {}) {
  const logger = new RecordingLogger();
  const published: PublishRequest[] = [];
  const link = new ClientLink({
    service: `xmpp://127.0.0.1:${prosody.c2sPort}`,
    jid: PUSH_JID,
    password: "push-pw",
    tls: { required: true, ca: prosody.caCert === null ? [] : [prosody.caCert] },
    logger,
    onPublish: (request) => {
      published.push(request);
      return Promise.resolve({ kind: "pushed" });
    },
    backoff: { initialMs: 200, maxMs: 1000 },
    ...overrides,
  });
  return { link, logger, published };
}

/** bob, as a plain client link (for its IQs), connected. */
async function bob(prosody: RunningProsody): Promise<ClientLink> {
  const { link: bob } = link(prosody, { jid: "bob@localhost", password: "bob-pw" });
  bob.start();
  await withTimeout(bob.whenOnline(), 10_000, "bob online");
  return bob;
}

/** What a user's server sends to publish a notification to the push account's node. */
function publishTo(node: string, count: number) {
  const summary = xml(
    "x",
    { xmlns: "jabber:x:data", type: "form" },
    xml("field", { var: "FORM_TYPE" }, xml("value", {}, "urn:xmpp:push:summary")),
    xml("field", { var: "message-count" }, xml("value", {}, String(count))),
  );
  return xml(
    "iq",
    { type: "set", to: PUSH_JID, id: crypto.randomUUID() },
    xml(
      "pubsub",
      { xmlns: NS_PUBSUB },
      xml(
        "publish",
        { node },
        xml("item", {}, xml("notification", { xmlns: "urn:xmpp:push:0" }, summary)),
      ),
    ),
  );
}

function ping() {
  return xml(
    "iq",
    { type: "get", to: "localhost", id: crypto.randomUUID() },
    xml("ping", { xmlns: "urn:xmpp:ping" }),
  );
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function prosodyLog(prosody: RunningProsody): Promise<string> {
  return Deno.readTextFile(`${prosody.dataDir}/../prosody.log`);
}

/** The log name Prosody gives the push account's c2s session(s). */
function pushSessions(log: string): string[] {
  return [...log.matchAll(/^\S+ \S+ \S+ (\S+)\s+debug\s+Resource bound: pushsvc@localhost\//gm)]
    .map((m) => m[1]);
}

/** Link metrics as a list of events: "up", "down", "reconnected", "connect-failed". */
function recordingMetrics(): { metrics: XmppLinkMetrics; events: string[] } {
  const events: string[] = [];
  return {
    events,
    metrics: {
      xmppLinkState: (up) => events.push(up ? "up" : "down"),
      xmppReconnected: () => events.push("reconnected"),
      xmppConnectFailed: () => events.push("connect-failed"),
    },
  };
}

const LOAD_MS = 40_000;

Deno.test({
  name: "ClientLink: under load with mod_smacks the session stays up and loses nothing",
  ...gate,
  async fn() {
    await withProsody({ tls: true, smacks: true }, async (prosody) => {
      const { link: push, logger, published } = link(prosody);
      push.start();
      await withTimeout(push.whenOnline(), 10_000, "push link online");
      // Work starts at once, as it does in the push server (the library reports online
      // before it enables stream management: where its counter went wrong).
      const provisioner = new PepProvisioner({ link: push, logger });
      const node = `load-${crypto.randomUUID()}`;
      const sender = await bob(prosody);
      try {
        assert.deepEqual([...await provisioner.provision([node], [])], [node]);
        let pings = 0;
        let publishes = 0;
        const started = Date.now();
        while (Date.now() - started < LOAD_MS) {
          const batch: Promise<unknown>[] = [];
          for (let i = 0; i < 20; i++) {
            batch.push(push.iq(ping(), 10_000).then(() => pings++));
            batch.push(sender.iq(publishTo(node, publishes + i + 1), 10_000));
          }
          await Promise.all(batch);
          publishes += 20;
          assert.ok(push.online, "the push link went down");
        }
        // Every publish arrived as an event: none lost, none twice.
        await until("every event", () => published.length >= publishes);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(published.length, publishes);
        assert.ok(pings + publishes > 5000, `only ${pings} pings and ${publishes} publishes`);
        assert.ok(published.every((p) => p.node === node && p.origin === "pep-event"));
        assert.ok(push.online);
        assert.deepEqual(
          logger.lines.filter((l) => l.level !== "debug" && l.level !== "info"),
          [],
          "warnings or errors",
        );
        assert.equal(logger.lines.filter((l) => l.message === "xmpp link up").length, 1);
      } finally {
        await sender.stop();
        await push.stop();
      }
      const log = await prosodyLog(prosody);
      const [session] = pushSessions(log);
      assert.ok(session, "no push session in the log");
      const lines = log.split("\n").filter((line) => line.includes(` ${session}\t`));
      assert.ok(
        lines.some((line) => line.includes("Sending[c2s]: <enabled")),
        "stream management was not enabled",
      );
      assert.ok(lines.some((line) => line.includes("#queue = 0")), "no acknowledgement seen");
      for (const line of lines) {
        assert.ok(!/acknowledged|unacked stanzas|stream:error/.test(line), line);
      }
    });
  },
});

Deno.test({
  name: "ClientLink: after a dropped connection the session is resumed with its events",
  ...gate,
  async fn() {
    await withProsody({ tls: true, smacks: true }, async (prosody) => {
      const proxy = startTcpProxy(prosody.c2sPort);
      const { metrics, events } = recordingMetrics();
      const { link: push, logger, published } = link(prosody, {
        service: `xmpp://127.0.0.1:${proxy.port}`,
        metrics,
      });
      let sender: ClientLink | undefined;
      try {
        push.start();
        await withTimeout(push.whenOnline(), 10_000, "push link online");
        const node = `resume-${crypto.randomUUID()}`;
        const provisioner = new PepProvisioner({ link: push, logger });
        assert.equal((await provisioner.provision([node], [])).size, 1);
        sender = await bob(prosody);
        await sender.iq(publishTo(node, 1), 5_000);
        await until("the first event", () => published.length === 1);

        proxy.cut(); // no clean close: Prosody hibernates the session
        await until("the link noticing", () => !push.online);
        for (let i = 2; i <= 4; i++) await sender.iq(publishTo(node, i), 5_000);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(published.length, 1);

        proxy.restore();
        await withTimeout(push.whenOnline(), 10_000, "push link back");
        await until("the events queued meanwhile", () => published.length === 4);
        assert.deepEqual(
          published.map((p) => p.summary?.get("message-count")),
          ["1", "2", "3", "4"],
        );
        assert.ok(
          logger.lines.some((l) => l.message === "xmpp link up" && l.fields.resumed === true),
          logger.text(),
        );
        // A resumed session is a reconnect too.
        assert.deepEqual(events.filter((e) => e !== "connect-failed"), [
          "up",
          "down",
          "up",
          "reconnected",
        ]);
      } finally {
        await sender?.stop();
        await push.stop();
        await proxy.close();
      }
    });
  },
});

Deno.test({
  name: "ClientLink: reports the link going up, down, failed attempts and the reconnect",
  ...gate,
  async fn() {
    await withProsody({ tls: true }, async (prosody) => {
      const proxy = startTcpProxy(prosody.c2sPort);
      const { metrics, events } = recordingMetrics();
      const { link: push } = link(prosody, {
        service: `xmpp://127.0.0.1:${proxy.port}`,
        metrics,
      });
      try {
        push.start();
        await withTimeout(push.whenOnline(), 10_000, "push link online");
        assert.deepEqual(events, ["up"]);

        proxy.cut(); // the connection drops, and new ones are refused until restore()
        await until("the link noticing", () => !push.online);
        await until("a failed attempt", () => events.includes("connect-failed"));
        assert.deepEqual(events.slice(0, 2), ["up", "down"]);
        assert.ok(events.slice(2).every((e) => e === "connect-failed"), events.join());

        proxy.restore();
        await withTimeout(push.whenOnline(), 10_000, "push link back");
        assert.deepEqual(events.filter((e) => e !== "connect-failed"), [
          "up",
          "down",
          "up",
          "reconnected",
        ]);
        await push.stop();
        assert.equal(events.at(-1), "down", "stopping takes the link down");
        assert.equal(events.filter((e) => e === "down").length, 2, events.join());
      } finally {
        await push.stop();
        await proxy.close();
      }
    });
  },
});

Deno.test({
  name: "ClientLink: a server that stops answering pings is left for a new connection",
  ...gate,
  async fn() {
    await withProsody({ tls: true }, async (prosody) => {
      const proxy = startTcpProxy(prosody.c2sPort);
      const { link: push, logger } = link(prosody, {
        service: `xmpp://127.0.0.1:${proxy.port}`,
        keepaliveMs: 200,
        pingTimeoutMs: 300,
        connectTimeoutMs: 2_000,
      });
      try {
        push.start();
        await withTimeout(push.whenOnline(), 10_000, "push link online");
        proxy.freeze();
        await until(
          "the ping timeout",
          () =>
            logger.lines.some((l) =>
              l.message === "xmpp server does not answer pings: reconnecting"
            ),
        );
        await until("the link going down", () => !push.online);
        proxy.restore();
        await withTimeout(push.whenOnline(), 15_000, "push link back");
        assert.ok(proxy.accepted >= 2, "no new connection");
      } finally {
        await push.stop();
        await proxy.close();
      }
    });
  },
});

Deno.test({
  name: "ClientLink: certificates are checked: without the server's CA it never logs in",
  ...gate,
  async fn() {
    await withProsody({ tls: true }, async (prosody) => {
      const { link: push, logger } = link(prosody, { tls: { required: true } });
      try {
        push.start();
        await until(
          "two failed attempts",
          () => logger.lines.filter((l) => l.message === "xmpp link down, retrying").length >= 2,
        );
        assert.equal(push.online, false);
        const reason = String(
          logger.lines.find((l) => l.message === "xmpp link down, retrying")
            ?.fields.reason,
        );
        assert.match(reason, /certificate|issuer|UnknownIssuer/i);
      } finally {
        await push.stop();
      }
      assert.doesNotMatch(await prosodyLog(prosody), /<auth /, "credentials were sent");
    });
  },
});

Deno.test({
  name: "ClientLink: with TLS required it never authenticates without TLS",
  ...gate,
  async fn() {
    // The default harness Prosody offers no TLS at all.
    await withProsody({}, async (prosody) => {
      const required = link(prosody);
      try {
        required.link.start();
        await until(
          "a failed attempt",
          () => required.logger.lines.some((l) => l.message === "xmpp link down, retrying"),
        );
        assert.equal(required.link.online, false);
        assert.match(
          String(
            required.logger.lines.find((l) => l.message === "xmpp link down, retrying")
              ?.fields.reason,
          ),
          /not encrypted/,
        );
      } finally {
        await required.link.stop();
      }
      assert.doesNotMatch(await prosodyLog(prosody), /<auth /, "credentials were sent");

      // Only when told TLS is not required.
      const optional = link(prosody, { tls: { required: false } });
      try {
        optional.link.start();
        await withTimeout(optional.link.whenOnline(), 10_000, "plain link online");
      } finally {
        await optional.link.stop();
      }
    });
  },
});

Deno.test("ClientLink: the JID must be a bare account JID", () => {
  for (const jid of ["push.example.org", "@example.org", "push@", "push@example.org/res"]) {
    assert.throws(
      () =>
        new ClientLink({
          service: "xmpp://127.0.0.1:5222",
          jid,
          password: "pw",
          tls: { required: true },
          logger: new RecordingLogger(),
          onPublish: () => Promise.resolve({ kind: "pushed" }),
        }),
      /bare account JID/,
      jid,
    );
  }
});

Deno.test("ClientLink: iq() refuses at once while the link is down", async () => {
  const push = new ClientLink({
    service: "xmpp://127.0.0.1:1",
    jid: PUSH_JID,
    password: "pw",
    tls: { required: true },
    logger: new RecordingLogger(),
    onPublish: () => Promise.resolve({ kind: "pushed" }),
  });
  assert.equal(push.online, false);
  assert.equal(push.pushBareJid, PUSH_JID);
  await assert.rejects(push.iq(ping(), 1000), /down/);
  await push.stop();
});

Deno.test({
  name: "ClientLink: a stanza over maxStanzaBytes ends the stream, and the link comes back",
  ...gate,
  async fn() {
    await withProsody({}, async (prosody) => {
      const limits: string[] = [];
      const { link: push, logger } = link(prosody, {
        tls: { required: false },
        maxStanzaBytes: 4096,
        metrics: {
          xmppLinkState() {},
          xmppReconnected() {},
          xmppConnectFailed() {},
          limitHit: (limit) => limits.push(limit),
        },
      });
      const sender = await connectUser({
        port: prosody.c2sPort,
        username: "bob",
        password: "bob-pw",
      });
      try {
        push.start();
        await withTimeout(push.whenOnline(), 10_000, "push link online");
        // A small message passes; one over the limit ends the stream (policy-violation).
        await sender.sendMessage(`${PUSH_JID}/uwpx-push`, "small");
        await sender.sendMessage(`${PUSH_JID}/uwpx-push`, "x".repeat(8000));
        await until("the size limit hit", () => limits.includes("stanza_size"));
        assert.deepEqual(limits, ["stanza_size"]);
        await until(
          "the link lost",
          () => logger.lines.some((l) => l.message.startsWith("xmpp link lost")),
        );
        await withTimeout(push.whenOnline(), 15_000, "push link back");
      } finally {
        await sender.disconnect();
        await push.stop();
      }
    });
  },
});
