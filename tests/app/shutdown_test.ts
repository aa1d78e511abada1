/**
 * Graceful shutdown: a publish in flight is answered before the XMPP link closes, new work
 * is turned away meanwhile, and a deadline bounds the wait. Once in process, once through
 * SIGTERM to `app/main.ts`.
 */

import assert from "node:assert/strict";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import { startFakeWns } from "../../adapters/push/wns/fake_wns_server.ts";
import { startFakeComponentServer } from "../../adapters/xmpp/fake_component_server.ts";
import { publishIq } from "../../adapters/xmpp/publish_builder.ts";
import {
  eventually,
  PUSH_DOMAIN,
  randomHex,
  sample,
  startLoopbackStack,
} from "../support/loopback_stack.ts";
import { writeTestCertificate } from "../support/tls_cert.ts";

function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then((value) => ({ value }), (error) => ({ error }));
}

Deno.test("shutdown: a publish in flight is answered, new ones are told to wait", async () => {
  const stack = await startLoopbackStack();
  try {
    const { channelUri, accounts: [account] } = await stack.register();
    stack.wns.delayNext(channelUri, 600);
    const inFlight = stack.publish(account.node, account.secret);
    await eventually(
      async () => sample(await stack.server.metrics.text(), "uwpx_push_queue_depth")! > 0,
      "the push to reach WNS",
    );

    const closing = stack.server.close(5000);
    const readyz = await stack.get("/readyz");
    assert.equal(readyz.status, 503);
    assert.match(readyz.body, /^server: failing: shutting down$/m);
    const late = await stack.publish(account.node, account.secret);
    assert.equal(late.attrs.type, "error");
    assert.equal(late.getChild("error")?.attrs.type, "wait", "the user's server keeps it");
    await assert.rejects(stack.device(), "the device port no longer accepts");

    const answer = await inFlight;
    assert.equal(answer.attrs.type, "result", "the publish in flight was answered");
    await closing;
    assert.equal(stack.wns.received.length, 1);
    await eventually(() => !stack.xmpp.connected, "the component to disconnect");
  } finally {
    await stack.stop();
  }
});

Deno.test("shutdown: the deadline cuts off what is still in flight", async () => {
  const stack = await startLoopbackStack();
  try {
    const { channelUri, accounts: [account] } = await stack.register();
    stack.wns.delayNext(channelUri, 2500);
    const inFlight = settle(stack.publish(account.node, account.secret));
    await eventually(
      async () => sample(await stack.server.metrics.text(), "uwpx_push_queue_depth")! > 0,
      "the push to reach WNS",
    );
    const started = Date.now();
    await stack.server.close(300);
    const took = Date.now() - started;
    assert.ok(took < 2000, `close took ${took} ms`);
    assert.ok((await inFlight).error, "no answer: the link closed first");
  } finally {
    await stack.stop();
  }
});

Deno.test("shutdown: SIGTERM lets a publish in flight complete, then exits 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "push-sigterm-" });
  const wns = await startFakeWns();
  const secret = crypto.randomUUID();
  const xmpp = await startFakeComponentServer({ domain: PUSH_DOMAIN, secret });
  let child: Deno.ChildProcess | undefined;
  try {
    const { certPath, keyPath, cert } = await writeTestCertificate(dir);
    const [devicePort, httpPort] = [freePort(), freePort()];
    await Deno.writeTextFile(
      `${dir}/configuration.json`,
      JSON.stringify({
        db: { url: "sqlite:push.db" },
        tcp: {
          host: "127.0.0.1",
          port: devicePort,
          tls: { serverCertPath: certPath, serverKeyPath: keyPath },
        },
        wns: {
          clientSecret: wns.clientSecret,
          packetId: wns.packetId,
          tokenUrl: wns.tokenUrl,
          channelUriPattern: "^http://127\\.0\\.0\\.1:\\d+/channel/.*",
          coalesceMs: 0,
        },
        xmpp: {
          mode: "component",
          bareJid: PUSH_DOMAIN,
          password: secret,
          host: "127.0.0.1",
          port: xmpp.port,
        },
        http: { port: httpPort },
        log: { format: "json" },
      }),
    );
    child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL("../../app/main.ts", import.meta.url).pathname,
        "--noInput",
      ],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    await xmpp.whenConnected(20_000);

    const client = await DeviceClient.connect({
      hostname: "127.0.0.1",
      port: devicePort,
      caCerts: [cert],
    });
    const deviceId = randomHex();
    const channelUri = wns.channelUri();
    await client.request({
      version: 2,
      action: "set_channel_uri",
      device_id: deviceId,
      channel_uri: channelUri,
    });
    const answer = await client.request({
      version: 2,
      action: "set_push_accounts",
      device_id: deviceId,
      accounts: [{ account_id: randomHex() }],
    });
    client.close();
    const [account] = answer.accounts as { node: string; secret: string }[];

    wns.delayNext(channelUri, 800);
    const inFlight = xmpp.sendIq(
      publishIq({ to: PUSH_DOMAIN, node: account.node, secret: account.secret }),
      10_000,
    );
    await eventually(async () => {
      const text = await fetch(`http://127.0.0.1:${httpPort}/metrics`).then((r) => r.text());
      return sample(text, "uwpx_push_queue_depth")! > 0;
    }, "the push to reach WNS");
    child.kill("SIGTERM");

    assert.equal((await inFlight).attrs.type, "result");
    const status = await child.status;
    child = undefined;
    assert.equal(status.code, 0);
    assert.equal(wns.received.length, 1);
    const log = await stderr;
    assert.match(log, /"msg":"shutting down"/);
    assert.match(log, /"msg":"push server stopped"/);
    assert.doesNotMatch(log, /deadline passed/);
  } finally {
    if (child) {
      child.kill("SIGKILL");
      await child.status;
    }
    await xmpp.close();
    await wns.close();
    await Deno.remove(dir, { recursive: true });
  }
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
