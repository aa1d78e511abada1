/**
 * Issue 13, item 2: connections earn their slot. Trickling clients (one byte now and then)
 * used to hold every slot, since each byte reset the idle timer and a frame had no deadline.
 */

import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { DeviceClient } from "../../../adapters/device/device_client.ts";
import { encodeFrame } from "../../../adapters/device/frame_decoder.ts";
import {
  DeviceServer,
  type DeviceServerOptions,
} from "../../../adapters/device/tls_device_server.ts";
import type { LimitName } from "../../../domain/ports/metrics.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import { testCertificate } from "../../support/tls_cert.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const OK = { version: 2, action: "response", status: 1 };
const request = { version: 2, action: "request_test_push", device_id: "abc" };

/** Use cases that answer every request at once. */
const useCases = {
  setChannelUri: () => Promise.resolve({ ok: true as const }),
  setPushAccounts: () =>
    Promise.resolve({ ok: true as const, value: { pushBareJid: "p", accounts: [] } }),
  requestTestPush: () => Promise.resolve({ ok: true as const }),
};

async function start(options: Partial<DeviceServerOptions>) {
  const { cert, key } = await testCertificate();
  const hits: LimitName[] = [];
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    useCases,
    logger: new RecordingLogger(),
    reportLimit: (limit) => hits.push(limit),
    ...options,
  });
  return { server, hits };
}

/** A TLS connection from `localAddress` (any 127.x.y.z works on loopback). */
function tlsFrom(port: number, localAddress: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tcp = netConnect({ host: "127.0.0.1", port, localAddress });
    tcp.on("error", () => {});
    const socket = tlsConnect({ socket: tcp, rejectUnauthorized: false });
    socket.once("secureConnect", () => {
      socket.off("error", reject);
      socket.on("error", () => {});
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Resolves true once `socket` closed, false after `ms`. */
function closedWithin(socket: TLSSocket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Sends one byte of a never-ending frame every `everyMs` until the socket closes. */
function trickle(socket: TLSSocket, everyMs: number): void {
  const timer = setInterval(() => {
    if (socket.destroyed) clearInterval(timer);
    else socket.write("{");
  }, everyMs);
  socket.write("{");
  socket.once("close", () => clearInterval(timer));
}

Deno.test("device server: a frame trickled byte by byte is cut off at the frame deadline", async () => {
  const { server, hits } = await start({ frameTimeoutMs: 300, idleTimeoutMs: 60_000 });
  const socket = await tlsFrom(server.addr.port, "127.0.0.1");
  try {
    const started = performance.now();
    trickle(socket, 50);
    assert.ok(await closedWithin(socket, 5000), "still open: each byte kept it alive");
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 250, `closed after ${elapsed} ms, before the deadline`);
    assert.ok(hits.includes("frame_timeout"), hits.join());
  } finally {
    socket.destroy();
    await server.close();
  }
});

Deno.test("device server: a frame that completes in time is answered, and the deadline starts again", async () => {
  const { server } = await start({ frameTimeoutMs: 400 });
  const client = await DeviceClient.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
    insecure: true,
  });
  try {
    const whole = encodeFrame(JSON.stringify(request));
    for (let round = 0; round < 3; round++) {
      // Each frame takes 200 ms: three of them take longer than one deadline.
      await client.sendRaw(whole.subarray(0, 10));
      await sleep(200);
      await client.sendRaw(whole.subarray(10));
      assert.deepEqual(await client.readAnswer(), OK);
    }
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("device server: when tricklers hold every slot, the one idle longest makes room for a device", async () => {
  const { server, hits } = await start({
    maxConnections: 6,
    evictIdleAfterMs: 200,
    // Long enough that only eviction can free a slot here.
    frameTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
  });
  const port = server.addr.port;
  const tricklers: TLSSocket[] = [];
  const device = await DeviceClient.connect({ hostname: "127.0.0.1", port, insecure: true });
  try {
    // A device that keeps making requests holds its slot.
    assert.deepEqual(await device.request(request), OK);
    for (let i = 0; i < 5; i++) {
      const socket = await tlsFrom(port, `127.0.0.${2 + (i % 3)}`);
      trickle(socket, 50);
      tricklers.push(socket);
    }
    assert.equal(server.connectionCount, 6);
    await sleep(300);
    assert.deepEqual(await device.request(request), OK);
    // Full: a new device still gets in, and is answered.
    const newcomer = await DeviceClient.connect({ hostname: "127.0.0.1", port, insecure: true });
    try {
      assert.deepEqual(await newcomer.request(request), OK);
    } finally {
      newcomer.close();
    }
    assert.ok(await closedWithin(tricklers[0], 2000), "the trickler idle longest was not closed");
    assert.deepEqual(hits.filter((h) => h === "connection_evicted"), ["connection_evicted"]);
    // The device that made requests was spared.
    assert.deepEqual(await device.request(request), OK);
  } finally {
    device.close();
    for (const socket of tricklers) socket.destroy();
    await server.close();
  }
});

Deno.test("device server: when every connection is busy or recent, a new one is refused", async () => {
  const { server, hits } = await start({ maxConnections: 2, evictIdleAfterMs: 10_000 });
  const port = server.addr.port;
  const a = await tlsFrom(port, "127.0.0.2");
  const b = await tlsFrom(port, "127.0.0.3");
  try {
    await assert.rejects(async () => {
      const c = await DeviceClient.connect({ hostname: "127.0.0.1", port, insecure: true });
      try {
        await c.request(request);
      } finally {
        c.close();
      }
    });
    assert.ok(hits.includes("connections"), hits.join());
    assert.ok(!hits.includes("connection_evicted"));
  } finally {
    a.destroy();
    b.destroy();
    await server.close();
  }
});

Deno.test("device server: connections per network prefix are capped; other networks get in", async () => {
  const { server, hits } = await start({ maxConnectionsPerPrefix: 2, maxConnectionsPerAddress: 0 });
  const port = server.addr.port;
  const held = [await tlsFrom(port, "127.0.0.2"), await tlsFrom(port, "127.0.0.3")];
  try {
    const third = await tlsFrom(port, "127.0.0.4").catch(() => null);
    if (third) assert.ok(await closedWithin(third, 2000), "a third from the /24 was kept");
    assert.ok(hits.includes("connections_per_prefix"), hits.join());
    const other = await tlsFrom(port, "127.0.1.5");
    other.write(encodeFrame(JSON.stringify(request)));
    const answer = await new Promise<string>((resolve) =>
      other.once("data", (d) => resolve(`${d}`))
    );
    assert.match(answer, /"status":1/);
    other.destroy();
  } finally {
    for (const socket of held) socket.destroy();
    await server.close();
  }
});
