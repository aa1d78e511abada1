/**
 * The command line as an operator meets it: `deno task start` runs app/main.ts.
 */

import assert from "node:assert/strict";
import { startFakeFcm } from "../../adapters/push/fcm/fake_fcm_server.ts";
import { startFakeWns } from "../../adapters/push/wns/fake_wns_server.ts";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import { writeTestCertificate } from "../support/tls_cert.ts";

const MAIN = new URL("../../app/main.ts", import.meta.url).pathname;

function run(args: string[], cwd: string, stdin: "null" | "piped" = "null") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    cwd,
    stdin,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

Deno.test("--help prints the usage and exits 0", async () => {
  const out = await run(["--help"], Deno.cwd()).output();
  assert.equal(out.code, 0);
  const usage = new TextDecoder().decode(out.stdout);
  assert.match(usage, /--noInput/);
  // Every service the server pushes to, not "WNS" alone.
  for (const service of ["WNS", "FCM", "APNs"]) assert.match(usage, new RegExp(service));
});

Deno.test("unknown flags are refused", async () => {
  const out = await run(["--frobnicate"], Deno.cwd()).output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /unknown arguments: --frobnicate/);
});

Deno.test("a missing configuration is created from the template, with a non-zero exit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = await run(["--noInput"], dir).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stderr), /did not exist: created it/);
    const written = JSON.parse(await Deno.readTextFile(`${dir}/configuration.json`));
    assert.equal(written.tcp.port, 1997);
    assert.ok(written.wns.packetId && written.xmpp.bareJid && written.tcp.tls.serverCertPath);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every invalid field is reported with its path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/bad.json`,
      JSON.stringify({ tcp: { port: "x", tls: {} }, wns: {}, xmpp: { mode: "other" } }),
    );
    const out = await run(["--noInput", "bad.json"], dir).output();
    assert.equal(out.code, 1);
    const err = new TextDecoder().decode(out.stderr);
    for (
      const path of [
        "tcp.port",
        "tcp.tls.serverCertPath",
        "tcp.tls.serverKeyPath",
        "wns.clientSecret",
        "wns.packetId",
        "xmpp.mode",
        "xmpp.bareJid",
        "xmpp.password",
      ]
    ) assert.match(err, new RegExp(`- ${path.replaceAll(".", "\\.")}:`), `${path} not reported`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the server serves devices while the XMPP server is down, and quits on q", async () => {
  const dir = await Deno.makeTempDir();
  const wns = await startFakeWns();
  try {
    const { certPath, keyPath, cert } = await writeTestCertificate(dir);
    const port = freePort();
    await Deno.writeTextFile(
      `${dir}/configuration.json`,
      JSON.stringify({
        db: { url: "sqlite:push.db" },
        tcp: { host: "127.0.0.1", port, tls: { serverCertPath: certPath, serverKeyPath: keyPath } },
        wns: {
          clientSecret: wns.clientSecret,
          packetId: wns.packetId,
          tokenUrl: wns.tokenUrl,
          channelUriPattern: "^http://127\\.0\\.0\\.1:\\d+/channel/.*",
        },
        // Nothing listens there: the link stays down.
        xmpp: {
          mode: "component",
          bareJid: "push.localhost",
          password: "x",
          host: "127.0.0.1",
          port: freePort(),
        },
      }),
    );
    const child = run([], dir, "piped").spawn();
    const stderr = collect(child.stderr);
    let client: DeviceClient | undefined;
    for (let i = 0; i < 100 && !client; i++) {
      client = await DeviceClient.connect({ hostname: "127.0.0.1", port, caCerts: [cert] })
        .catch(() => undefined);
      if (!client) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(client, "the device port never opened");
    const answer = await client.request({
      version: 2,
      action: "set_channel_uri",
      device_id: "ab12",
      channel_uri: wns.channelUri(),
    });
    client.close();
    assert.equal(answer.status, 1);

    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("q\n"));
    await writer.close();
    const status = await child.status;
    assert.equal(status.code, 0);
    const log = await stderr;
    assert.match(log, /xmpp link down, retrying/);
    assert.match(log, /push server stopped/);
  } finally {
    await wns.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM shuts the server down cleanly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { certPath, keyPath } = await writeTestCertificate(dir);
    await Deno.writeTextFile(
      `${dir}/configuration.json`,
      JSON.stringify({
        db: { url: "memory:" },
        tcp: {
          host: "127.0.0.1",
          port: freePort(),
          tls: { serverCertPath: certPath, serverKeyPath: keyPath },
        },
        wns: { clientSecret: "s", packetId: "p" },
        xmpp: {
          mode: "component",
          bareJid: "push.localhost",
          password: "x",
          host: "127.0.0.1",
          port: freePort(),
        },
      }),
    );
    const child = run(["--noInput"], dir).spawn();
    const stderr = collect(child.stderr);
    const started = await waitFor(stderr.lines, /push server started/);
    assert.ok(started, "never started");
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0);
    assert.match(await stderr, /push server stopped/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Collects a stream's text; `.lines` is what arrived so far. */
function collect(stream: ReadableStream<Uint8Array>): Promise<string> & { lines: string[] } {
  const lines: string[] = [];
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) lines.push(chunk);
    return lines.join("");
  })();
  return Object.assign(done, { lines });
}

Deno.test("with only an FCM app: no certificate or WNS needed, SIGHUP has nothing to reload", async () => {
  const dir = await Deno.makeTempDir();
  await using fcm = await startFakeFcm({ projectId: "only-push" });
  try {
    await Deno.writeTextFile(`${dir}/only.json`, JSON.stringify(fcm.serviceAccount));
    await Deno.writeTextFile(
      `${dir}/configuration.json`,
      JSON.stringify({
        db: { url: "memory:" },
        xmpp: { mode: "component", bareJid: "push.localhost", password: "x", port: freePort() },
        apps: { only: { service: "fcm", serviceAccountFile: "only.json", baseUrl: fcm.url } },
      }),
    );
    const child = run(["--noInput"], dir).spawn();
    const stderr = collect(child.stderr);
    assert.ok(await waitFor(stderr.lines, /push server started/), "never started");
    const started = stderr.lines.join("").split("\n").find((l) =>
      l.includes("push server started")
    );
    assert.match(started ?? "", /apps=fcm:only/);
    assert.doesNotMatch(started ?? "", /devicePort/);
    child.kill("SIGHUP");
    assert.ok(await waitFor(stderr.lines, /SIGHUP: no device port/), "SIGHUP not answered");
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    assert.match(await stderr, /push server stopped/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function waitFor(chunks: string[], pattern: RegExp): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (pattern.test(chunks.join(""))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

Deno.test("an unreachable Redis at start-up: a clear message and a non-zero exit, no hang", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { certPath, keyPath } = await writeTestCertificate(dir);
    const redisPort = freePort();
    await Deno.writeTextFile(
      `${dir}/configuration.json`,
      JSON.stringify({
        db: { url: `redis://:hunter2@127.0.0.1:${redisPort}/0` },
        tcp: {
          host: "127.0.0.1",
          port: freePort(),
          tls: { serverCertPath: certPath, serverKeyPath: keyPath },
        },
        wns: { clientSecret: "s", packetId: "p" },
        xmpp: { mode: "component", bareJid: "push.localhost", password: "x", port: freePort() },
      }),
    );
    const started = performance.now();
    const out = await run(["--noInput"], dir).output();
    assert.equal(out.code, 1);
    assert.ok(performance.now() - started < 30_000, "took too long to give up");
    const err = new TextDecoder().decode(out.stderr);
    assert.match(err, new RegExp(`127\\.0\\.0\\.1:${redisPort}`));
    assert.ok(!err.includes("hunter2"), "the Redis password was printed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
