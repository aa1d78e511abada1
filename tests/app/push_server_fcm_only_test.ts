/**
 * A server for an Android app's vendor only: one FCM app in `apps`, no `wns` and no `tcp`
 * (no UWPX client). It starts without a certificate or WNS credentials, opens no device
 * port, registers a phone by p2's command and pushes to it through the fake FCM, and its
 * probes and metrics know nothing of WNS. The user's server is the fake XEP-0114 server.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Element } from "@xmpp/xml";
import { startFakeComponentServer } from "../../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import { parseConfig } from "../../app/config.ts";
import { requireDevicePort, startPushServer } from "../../app/push_server.ts";
import { startFcmProjects } from "../support/fcm_projects.ts";
import { parseXml } from "../support/parse_xml.ts";
import { sample } from "../support/prometheus_text.ts";
import { RecordingLogger } from "../support/recording_logger.ts";

const DOMAIN = "push.localhost";
const NS_COMMANDS = "http://jabber.org/protocol/commands";
/** The fixture's sender and Settings.Secure.ANDROID_ID (p2's README test vector). */
const USER = "xiaomia1@jabber.de";
const ANDROID_ID = "92afd7a91cdba9a0";

/** Conversations' register IQ (the fixture), to the push JID with a token of the fake's. */
function registerIq(token: string): Element {
  const text = Deno.readTextFileSync(
    new URL("../fixtures/p2/register_request.stanza", import.meta.url),
  );
  const iq = parseXml(text);
  iq.attrs.to = DOMAIN;
  const form = iq.getChild("command", NS_COMMANDS)!.getChild("x", "jabber:x:data")!;
  form.getChildren("field").find((f: Element) => f.attrs.var === "token")!
    .getChild("value").children = [token];
  return iq;
}

/** The answer's jid, node and secret, as Conversations reads them. */
function readAnswer(answer: Element): Record<"jid" | "node" | "secret", string | undefined> {
  const form = answer.getChild("command", NS_COMMANDS)?.getChild("x", "jabber:x:data");
  const value = (name: string) =>
    form?.getChildren("field").find((f: Element) => f.attrs.var === name)?.getChildText("value");
  return { jid: value("jid"), node: value("node"), secret: value("secret") };
}

async function stack() {
  const dir = await Deno.makeTempDir();
  const projects = await startFcmProjects({ conversations: { coalesceMs: 0 } });
  const xmpp = await startFakeComponentServer({ domain: DOMAIN, secret: "s" });
  const parsed = parseConfig({
    db: { url: `sqlite:${dir}/push.db` },
    xmpp: { mode: "component", bareJid: DOMAIN, password: "s", host: "127.0.0.1", port: xmpp.port },
    http: { port: 0 },
    apps: projects.apps,
  });
  if (!parsed.ok) throw new Error(parsed.problems.join("\n"));
  const logger = new RecordingLogger();
  const server = await startPushServer(parsed.config, logger);
  await server.link.whenOnline();
  const ops = (path: string) => fetch(`http://127.0.0.1:${server.ops!.addr.port}${path}`);
  return {
    fcm: projects.fakes.conversations,
    xmpp,
    server,
    logger,
    ops,
    async [Symbol.asyncDispose]() {
      await server.close();
      await xmpp.close();
      await projects.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("FCM only: no wns and tcp: no device port, and a registered phone gets its push", async () => {
  await using s = await stack();
  assert.equal(s.server.config.wns, undefined);
  assert.equal(s.server.devices, null);
  assert.equal(s.server.deviceService, null);
  assert.equal(await s.server.reloadCertificate(), false, "no certificate to reload");
  assert.throws(() => requireDevicePort(s.server), /no device port/);

  // Conversations registers with p2's command; the only FCM app is the default.
  const token = s.fcm.deviceToken();
  const answer = await s.xmpp.sendIq(registerIq(token));
  assert.equal(answer.attrs.type, "result", answer.toString());
  const { jid, node, secret } = readAnswer(answer);
  assert.equal(jid, DOMAIN);
  assert.ok(node && secret);

  // The user's server publishes (XEP-0357); the phone's wakeup goes to FCM.
  const published = await s.xmpp.sendIq(publishIq({ to: DOMAIN, node, secret, summary: {} }));
  assert.equal(published.attrs.type, "result", published.toString());
  assert.equal(s.fcm.messages.length, 1);
  const hash = createHash("sha1").update(`${USER}\u0000${ANDROID_ID}`).digest("hex");
  assert.equal(s.fcm.messages[0].token, token);
  assert.deepEqual(s.fcm.messages[0].data, { account: hash });

  // The start line says which apps and ports are up: no device port.
  const started = s.logger.lines.find((line) => line.message === "push server started");
  assert.equal(started?.fields.apps, "fcm:conversations");
  assert.equal(started?.fields.devicePort, undefined);
  assert.equal(started?.fields.httpPort, s.server.ops!.addr.port);
});

Deno.test("FCM only: /readyz checks storage, XMPP and the FCM app, no WNS; /metrics serves", async () => {
  await using s = await stack();
  const ready = await s.ops("/readyz");
  const body = await ready.text();
  assert.equal(ready.status, 200, body);
  assert.deepEqual(body.trimEnd().split("\n").toSorted(), [
    "fcm:conversations token: ok",
    "ready",
    "storage: ok",
    "xmpp: ok",
  ]);
  assert.equal(s.fcm.counters.tokensIssued, 1, "the FCM check fetched the app's token");

  const metrics = await s.ops("/metrics");
  const text = await metrics.text();
  assert.equal(metrics.status, 200);
  assert.equal(sample(text, "uwpx_push_device_connections"), 0);
  assert.equal(sample(text, "uwpx_push_queue_depth"), 0);
  assert.equal(sample(text, "uwpx_push_xmpp_link_up"), 1);
});
