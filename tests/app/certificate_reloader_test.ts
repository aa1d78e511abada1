/**
 * The server picks up a renewed certificate without a restart: by watching the files, on
 * `reloadCertificate()`, and on SIGHUP. Two self-signed certificates act as two CAs.
 */

import assert from "node:assert/strict";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import { eventually, sample, startLoopbackStack } from "../support/loopback_stack.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { newTestCertificate, type TestCertificate } from "../support/tls_cert.ts";

const testPush = { version: 2, action: "request_test_push", device_id: "nobody" };

function connect(port: number, ca: string): Promise<DeviceClient> {
  return DeviceClient.connect({ hostname: "127.0.0.1", port, caCerts: [ca] });
}

async function accepts(port: number, ca: string): Promise<boolean> {
  try {
    (await connect(port, ca)).close();
    return true;
  } catch {
    return false;
  }
}

async function install(dir: string, certificate: TestCertificate): Promise<void> {
  // As a renewal does: the key first, then the chain (the watcher may see the mismatch).
  await Deno.writeTextFile(`${dir}/server.key`, certificate.key);
  await Deno.writeTextFile(`${dir}/server.cert`, certificate.cert);
}

Deno.test("certificate reload: a renewal on disk is picked up, open connections keep going", async () => {
  const logger = new RecordingLogger();
  const stack = await startLoopbackStack({
    logger,
    configure: (json) => (json.tcp.tls as Record<string, unknown>).reloadCheckSeconds = 0.05,
  });
  const clients: DeviceClient[] = [];
  try {
    const port = stack.server.devices.addr.port;
    const old = await connect(port, stack.cert);
    clients.push(old);
    assert.equal((await old.request(testPush)).status, 0);

    const renewed = await newTestCertificate(30);
    await install(stack.dir, renewed);
    await eventually(() => accepts(port, renewed.cert), "the renewed certificate");
    assert.equal(await accepts(port, stack.cert), false, "the old one is no longer served");
    assert.equal((await old.request(testPush)).status, 0, "the open connection still works");

    const metrics = await stack.server.metrics.text();
    assert.ok(sample(metrics, "uwpx_push_tls_reloads_total", { outcome: "ok" })! >= 1);
    const expiry = sample(metrics, "uwpx_push_tls_certificate_expiry_timestamp_seconds")!;
    assert.ok(expiry > Date.now() / 1000 + 20 * 86_400, "the renewed certificate's expiry");
    assert.ok(logger.lines.some((line) => line.message === "TLS certificate reloaded"));

    // A broken file is refused; the renewed certificate stays in use.
    const failedBefore = sample(metrics, "uwpx_push_tls_reloads_total", { outcome: "failed" })!;
    await Deno.writeTextFile(`${stack.dir}/server.cert`, "-----BEGIN CERTIFICATE-----\nnope\n");
    await eventually(async () => {
      const text = await stack.server.metrics.text();
      return sample(text, "uwpx_push_tls_reloads_total", { outcome: "failed" })! > failedBefore;
    }, "the failed reload");
    assert.equal(await accepts(port, renewed.cert), true);
    const error = logger.lines.find((line) =>
      line.message.startsWith("TLS certificate not reloaded")
    );
    assert.ok(error);
    assert.ok(!JSON.stringify(error.fields).includes("PRIVATE KEY"));
  } finally {
    for (const client of clients) client.close();
    await stack.stop();
  }
});

Deno.test("certificate reload: on demand only when watching is off", async () => {
  const stack = await startLoopbackStack({
    configure: (json) => (json.tcp.tls as Record<string, unknown>).reloadCheckSeconds = 0,
  });
  try {
    const port = stack.server.devices.addr.port;
    const renewed = await newTestCertificate();
    await install(stack.dir, renewed);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await accepts(port, renewed.cert), false, "not watched");
    assert.equal(await stack.server.reloadCertificate(), true);
    assert.equal(await accepts(port, renewed.cert), true);
  } finally {
    await stack.stop();
  }
});

Deno.test("certificate reload: SIGHUP reloads the running server's certificate", async () => {
  const stack = await startLoopbackStack({
    configure: (json) => {
      (json.tcp.tls as Record<string, unknown>).reloadCheckSeconds = 0;
      json.tcp.port = freePort();
      json.http.port = freePort();
      json.db.url = "memory:";
    },
  });
  // The in-process server only lends its configuration, certificate and fake servers to the
  // one in a child process.
  await stack.server.close(0);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      new URL("../../app/main.ts", import.meta.url).pathname,
      "--noInput",
      stack.configPath,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  try {
    const port = stack.config.tcp.port;
    await eventually(() => accepts(port, stack.cert), "the server to start", 20_000);
    const renewed = await newTestCertificate();
    await install(stack.dir, renewed);
    child.kill("SIGHUP");
    await eventually(() => accepts(port, renewed.cert), "the reload after SIGHUP");
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    assert.match(await stderr, /TLS certificate reloaded/);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await stack.stop();
  }
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
