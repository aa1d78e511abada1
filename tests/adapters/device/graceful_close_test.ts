/**
 * `DeviceServer.close(graceMs)`: stop accepting, answer the requests in progress, close
 * idle connections at once, and give up on slow ones at the deadline.
 */

import assert from "node:assert/strict";
import { DeviceClient } from "../../../adapters/device/device_client.ts";
import { DeviceServer } from "../../../adapters/device/tls_device_server.ts";
import { type DeviceUseCases } from "../../../domain/ports/device_use_cases.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import { testCertificate } from "../../support/tls_cert.ts";

const OK = { version: 2, action: "response", status: 1 };
const testPush = { version: 2, action: "request_test_push", device_id: "ab12" };
const setChannel = {
  version: 2,
  action: "set_channel_uri",
  device_id: "ab12",
  channel_uri: "https://x.notify.windows.com/?token=t",
};

/** Use cases whose test push waits until `release` is called. */
function slowTestPush() {
  const started = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const useCases: DeviceUseCases = {
    setChannelUri: () => Promise.resolve({ ok: true }),
    setPushAccounts: () => Promise.resolve({ ok: false, error: "not here" }),
    requestTestPush: async () => {
      started.resolve();
      await gate.promise;
      return { ok: true };
    },
  };
  return { useCases, started: started.promise, release: () => gate.resolve() };
}

/** A promise's outcome, so that a rejection is never unhandled while the test waits. */
function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  return promise.then((value) => ({ value }), (error) => ({ error }));
}

async function start(useCases: DeviceUseCases) {
  const { cert, key } = await testCertificate();
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    useCases,
    logger: new RecordingLogger(),
  });
  const connect = () =>
    DeviceClient.connect({ hostname: "127.0.0.1", port: server.addr.port, caCerts: [cert] });
  return { server, connect };
}

Deno.test("graceful close: a request in progress is answered, idle connections close at once", async () => {
  const slow = slowTestPush();
  const { server, connect } = await start(slow.useCases);
  const busy = await connect();
  const idle = await connect();
  try {
    assert.deepEqual(await idle.request(setChannel), OK);
    const answer = settle(busy.request(testPush));
    await slow.started;

    const closing = server.close(5000);
    // The idle connection is closed while the busy one is still being answered.
    assert.equal(await idle.closedByServer(), true);
    await assert.rejects(connect(), "no new connections while draining");

    slow.release();
    assert.deepEqual(await answer, { value: OK });
    assert.equal(await busy.closedByServer(), true, "closed once answered");
    await closing;
    assert.equal(server.connectionCount, 0);
  } finally {
    slow.release();
    busy.close();
    idle.close();
    await server.close();
  }
});

Deno.test("graceful close: a request still unanswered at the deadline is cut off", async () => {
  const slow = slowTestPush();
  const { server, connect } = await start(slow.useCases);
  const busy = await connect();
  try {
    const answer = settle(busy.request(testPush));
    await slow.started;
    const started = Date.now();
    await server.close(200);
    const took = Date.now() - started;
    assert.ok(took >= 150 && took < 3000, `closed after ${took} ms`);
    assert.match(String((await answer).error), /closed|eof/i);
  } finally {
    slow.release();
    busy.close();
    await server.close();
  }
});

Deno.test("graceful close: without a grace period everything closes at once", async () => {
  const slow = slowTestPush();
  const { server, connect } = await start(slow.useCases);
  const busy = await connect();
  try {
    const answer = settle(busy.request(testPush));
    await slow.started;
    await server.close();
    assert.ok((await answer).error);
  } finally {
    slow.release();
    busy.close();
  }
});
