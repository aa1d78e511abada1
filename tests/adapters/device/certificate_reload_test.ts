/**
 * The device port changes its TLS certificate without a restart: new connections get the
 * new one, open connections keep working. Two self-signed certificates act as two CAs: a
 * client trusting only one of them can only complete a handshake with that certificate.
 */

import assert from "node:assert/strict";
import { DeviceClient } from "../../../adapters/device/device_client.ts";
import { DeviceServer } from "../../../adapters/device/tls_device_server.ts";
import { type DeviceUseCases } from "../../../domain/ports/device_use_cases.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import { newTestCertificate } from "../../support/tls_cert.ts";

const OK = { version: 2, action: "response", status: 1 };
const testPush = { version: 2, action: "request_test_push", device_id: "ab12" };

const useCases: DeviceUseCases = {
  setChannelUri: () => Promise.resolve({ ok: true }),
  setPushAccounts: () => Promise.resolve({ ok: false, error: "not here" }),
  requestTestPush: () => Promise.resolve({ ok: true }),
};

function connect(server: DeviceServer, ca: string): Promise<DeviceClient> {
  return DeviceClient.connect({ hostname: "127.0.0.1", port: server.addr.port, caCerts: [ca] });
}

Deno.test("certificate reload: new connections get the new certificate, open ones keep working", async () => {
  const first = await newTestCertificate();
  const second = await newTestCertificate();
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert: first.cert,
    key: first.key,
    useCases,
    logger: new RecordingLogger(),
    handshakeTimeoutMs: 300,
  });
  const clients: DeviceClient[] = [];
  try {
    const old = await connect(server, first.cert);
    clients.push(old);
    assert.deepEqual(await old.request(testPush), OK);
    await assert.rejects(connect(server, second.cert), "the second certificate is not served yet");

    server.reloadCertificate(second.cert, second.key);

    const fresh = await connect(server, second.cert);
    clients.push(fresh);
    assert.deepEqual(await fresh.request(testPush), OK);
    await assert.rejects(connect(server, first.cert), "new connections get the new certificate");
    // The connection opened before the reload is still served, also after the old listener
    // has been retired (handshakeTimeoutMs later).
    assert.deepEqual(await old.request(testPush), OK);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.deepEqual(await old.request(testPush), OK);
    assert.deepEqual(await fresh.request(testPush), OK);
    assert.equal(server.connectionCount, 2);
  } finally {
    for (const client of clients) client.close();
    await server.close();
  }
});

Deno.test("certificate reload: an unusable certificate is refused and the current one stays", async () => {
  const first = await newTestCertificate();
  const second = await newTestCertificate();
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert: first.cert,
    key: first.key,
    useCases,
    logger: new RecordingLogger(),
  });
  try {
    assert.throws(() => server.reloadCertificate("not a certificate", first.key));
    // Half-renewed: the new chain with the old key (files replaced one at a time).
    assert.throws(() => server.reloadCertificate(second.cert, first.key), /KeyMismatch|key/i);
    const client = await connect(server, first.cert);
    assert.deepEqual(await client.request(testPush), OK);
    client.close();
  } finally {
    await server.close();
  }
});

Deno.test("certificate reload: refused once the port is closed", async () => {
  const first = await newTestCertificate();
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert: first.cert,
    key: first.key,
    useCases,
    logger: new RecordingLogger(),
  });
  await server.close();
  assert.throws(() => server.reloadCertificate(first.cert, first.key), /closed/);
});
