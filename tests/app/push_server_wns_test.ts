/**
 * WNS answers as the user's XMPP server sees them: the whole push server (SQLite, delivery
 * pipeline, real HTTP sender) against the fake WNS and a fake XEP-0114 server.
 */

import assert from "node:assert/strict";
import { startFakeComponentServer } from "../../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import { startFakeWns } from "../../adapters/push/wns/fake_wns_server.ts";
import { parseConfig } from "../../app/config.ts";
import { requireDevicePort, startPushServer } from "../../app/push_server.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { writeTestCertificate } from "../support/tls_cert.ts";

const DOMAIN = "push.localhost";

async function stack() {
  const dir = await Deno.makeTempDir();
  const wns = await startFakeWns();
  const xmpp = await startFakeComponentServer({ domain: DOMAIN, secret: "s" });
  const { certPath, keyPath } = await writeTestCertificate(dir);
  const parsed = parseConfig({
    db: { url: `sqlite:${dir}/push.db` },
    tcp: { host: "127.0.0.1", port: 0, tls: { serverCertPath: certPath, serverKeyPath: keyPath } },
    wns: {
      clientSecret: wns.clientSecret,
      packetId: wns.packetId,
      tokenUrl: wns.tokenUrl,
      channelUriPattern: "^http://127\\.0\\.0\\.1:\\d+/channel/.*",
      maxAttempts: 2,
      coalesceMs: 0,
    },
    xmpp: { mode: "component", bareJid: DOMAIN, password: "s", host: "127.0.0.1", port: xmpp.port },
  });
  if (!parsed.ok) throw new Error(parsed.problems.join("\n"));
  const server = requireDevicePort(await startPushServer(parsed.config, new RecordingLogger()));
  await server.link.whenOnline();
  const register = async () => {
    const deviceId = crypto.getRandomValues(new Uint8Array(32)).toHex();
    const channelUri = wns.channelUri();
    await server.deviceService.setChannelUri(deviceId, channelUri, 2);
    const result = await server.deviceService.setPushAccounts(deviceId, ["ACC"]);
    assert.ok(result.ok);
    return { deviceId, channelUri, ...result.value.accounts[0] };
  };
  const publish = async (node: string, secret: string) => {
    const answer = await xmpp.sendIq(
      publishIq({ to: DOMAIN, node, secret, summary: { "message-count": "1" } }),
    );
    const error = answer.getChild("error");
    return error ? `${error.attrs.type}/${error.getChildElements()[0].name}` : "result";
  };
  return {
    wns,
    server,
    register,
    publish,
    async [Symbol.asyncDispose]() {
      await server.close();
      await xmpp.close();
      await wns.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const posts = (s: Awaited<ReturnType<typeof stack>>) =>
  s.wns.requests.filter((r) => r.path.startsWith("/channel/")).length;

Deno.test("WNS 410: the user's server hears wait until the device registers again", async () => {
  await using s = await stack();
  const device = await s.register();
  assert.equal(await s.publish(device.node, device.secret), "result");
  s.wns.expireChannel(device.channelUri);
  // A wait: the user's server keeps the registration for the device's next channel.
  assert.equal(await s.publish(device.node, device.secret), "wait/recipient-unavailable");
  const before = posts(s);
  assert.equal(await s.publish(device.node, device.secret), "wait/recipient-unavailable");
  assert.equal(posts(s), before, "a dead channel was posted to again");
  // The device starts again: a new channel, the same node keeps working.
  const fresh = s.wns.channelUri();
  await s.server.deviceService.setChannelUri(device.deviceId, fresh, 2);
  assert.equal(await s.publish(device.node, device.secret), "result");
  assert.equal(s.wns.received.at(-1)?.channelUri, fresh);
});

Deno.test("WNS 429: wait/resource-constraint, and the channel is left alone meanwhile", async () => {
  await using s = await stack();
  const device = await s.register();
  s.wns.failNext(device.channelUri, 429, { "Retry-After": "30" });
  assert.equal(await s.publish(device.node, device.secret), "wait/resource-constraint");
  const before = posts(s);
  assert.equal(await s.publish(device.node, device.secret), "wait/resource-constraint");
  assert.equal(posts(s), before);
});

Deno.test("WNS down: wait/internal-server-error after the retries, never a cancel", async () => {
  await using s = await stack();
  const device = await s.register();
  s.wns.outage(503, 60_000);
  assert.equal(await s.publish(device.node, device.secret), "wait/internal-server-error");
});
