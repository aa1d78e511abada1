import { wnsDelivery } from "../../support/wns_delivery.ts";
import assert from "node:assert/strict";
import { DeviceClient } from "../../../adapters/device/device_client.ts";
import { encodeFrame } from "../../../adapters/device/frame_decoder.ts";
import {
  DEVICE_SERVER_DEFAULTS,
  DeviceServer,
  type DeviceServerOptions,
} from "../../../adapters/device/tls_device_server.ts";
import { type DeviceUseCases } from "../../../domain/ports/device_use_cases.ts";
import { MemoryStore } from "../../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../../adapters/push/wns/memory_wns_sender.ts";
import { DeviceService } from "../../../app/use_cases/device_service.ts";
import { DeviceRequestLimits, TOO_MANY_REQUESTS } from "../../../app/device_limits.ts";
import type { LimitName } from "../../../domain/ports/metrics.ts";
import { FakeClock } from "../../support/fakes.ts";
import { serverTestGate } from "../../support/prosody.ts";
import { findBinary } from "../../support/server_kit.ts";
import { scaledMs } from "../../support/timing.ts";
import { RecordingLogger } from "../../support/recording_logger.ts";
import { testCertificate } from "../../support/tls_cert.ts";

const DEVICE = "5486bd868050a620141f4e81c9f1d2c67ab0de27e5e26d218ca41c9394ee806b";
const CHANNEL = "https://127.0.0.1:4443/wns/channel1";
const PUSH_JID = "push.example.org";

const sharedText = (name: string) =>
  Deno.readTextFileSync(new URL(`../../fixtures/protocol/${name}`, import.meta.url));
const shared = (name: string) => JSON.parse(sharedText(name)) as Record<string, unknown>;
const bytes = (text: string) => new TextEncoder().encode(text);
const frame = (message: unknown) => encodeFrame(JSON.stringify(message));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const OK = { version: 2, action: "response", status: 1 };
const failed = (error: string, version = 2) => ({ version, action: "response", status: 0, error });
const setChannel = (deviceId = DEVICE, channelUri = CHANNEL) => ({
  version: 2,
  action: "set_channel_uri",
  device_id: deviceId,
  channel_uri: channelUri,
});
const testPush = (deviceId = DEVICE) => ({
  version: 2,
  action: "request_test_push",
  device_id: deviceId,
});

/** A device server on 127.0.0.1 with in-memory storage and WNS; closes everything on dispose. */
async function start(
  options: Partial<Omit<DeviceServerOptions, "hostname" | "port" | "cert" | "key">> = {},
) {
  const { cert, key } = await testCertificate();
  const store = new MemoryStore();
  const wns = new MemoryWnsSender();
  const logger = new RecordingLogger();
  const service = new DeviceService({
    store,
    ...wnsDelivery(wns),
    provisioner: { provision: (added) => Promise.resolve(new Set(added)) },
    clock: { now: () => Date.now() },
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    logger,
    // Test channels on loopback, as well as real WNS ones.
    channelUriPattern:
      /^(https:\/\/127\.0\.0\.1:\d+\/wns\/\w+|https:\/\/[a-z0-9-]+\.notify\.windows\.com\/\?token=[\w%]+)$/,
    pushBareJid: PUSH_JID,
  });
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    useCases: service,
    logger,
    ...options,
  });
  const clients: DeviceClient[] = [];
  const sockets: Deno.Conn[] = [];
  return {
    server,
    store,
    wns,
    logger,
    cert,
    async connect(): Promise<DeviceClient> {
      const client = await DeviceClient.connect({
        hostname: "127.0.0.1",
        port: server.addr.port,
        caCerts: [cert],
      });
      clients.push(client);
      return client;
    },
    /** A plain TCP connection: no TLS at all. */
    async connectTcp(): Promise<Deno.Conn> {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      sockets.push(conn);
      return conn;
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) client.close();
      for (const socket of sockets) {
        try {
          socket.close();
        } catch {
          // Already closed.
        }
      }
      await server.close();
    },
  };
}

/** Resolves to how long it took until the server closed `client`, failing after `limitMs`. */
async function closedWithin(client: DeviceClient, limitMs: number): Promise<number> {
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    client.closedByServer(),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs))),
  ]);
  clearTimeout(timer);
  assert.equal(closed, true, `the server did not close the connection within ${limitMs} ms`);
  return performance.now() - started;
}

Deno.test("device server: the full registration flow answers in the seed's shapes", async () => {
  await using ctx = await start();
  const client = await ctx.connect();

  const seedChannel = shared("set_channel_uri.request.json");
  const channelAnswer = await client.request(seedChannel);
  assert.deepEqual(channelAnswer, shared("success.response.json"));
  assert.equal(JSON.stringify(channelAnswer), JSON.stringify(shared("success.response.json")));

  const accountsAnswer = await client.request(shared("set_push_accounts.request.json"));
  const example = shared("set_push_accounts.response.json");
  assert.deepEqual(Object.keys(accountsAnswer), Object.keys(example));
  assert.equal(accountsAnswer.version, 2);
  assert.equal(accountsAnswer.action, "response");
  assert.equal(accountsAnswer.status, 1);
  assert.equal(accountsAnswer.push_bare_jid, PUSH_JID);
  const accounts = accountsAnswer.accounts as Record<string, unknown>[];
  const exampleAccounts = example.accounts as Record<string, unknown>[];
  assert.deepEqual(
    accounts.map((a) => a.account_id),
    exampleAccounts.map((a) => a.account_id),
  );
  for (const account of accounts) {
    assert.deepEqual(Object.keys(account), Object.keys(exampleAccounts[0]));
    assert.match(account.node as string, /^[A-Za-z0-9_-]{16,}$/);
    assert.match(account.secret as string, /^[A-Za-z0-9_-]{22,}$/);
    assert.equal(account.success, true);
    // The answer is what the server will check publishes against.
    const target = await ctx.store.findNode(account.node as string, Date.now());
    assert.equal(target?.accountId, account.account_id);
    assert.equal(target?.secret, account.secret);
    assert.equal(target?.target?.address, seedChannel.channel_uri);
  }

  const testAnswer = await client.request(shared("request_test_push.request.json"));
  assert.deepEqual(testAnswer, OK);
  assert.deepEqual(ctx.wns.sent.map((s) => [s.channelUri, s.payload]), [
    [seedChannel.channel_uri, JSON.stringify(shared("test_push.wns-raw.json"))],
  ]);
});

Deno.test("device server: version 1 requests are answered in version 1", async () => {
  await using ctx = await start();
  const client = await ctx.connect();
  assert.deepEqual(await client.request({ ...setChannel(), version: 1 }), { ...OK, version: 1 });
  const answer = await client.request({
    version: 1,
    action: "set_accounts",
    device_id: DEVICE,
    accounts: [{ account_id: "abc" }],
  });
  assert.equal(answer.version, 1);
  assert.equal(answer.status, 1);
  assert.deepEqual(
    await client.request({ version: 1, action: "nope" }),
    failed(
      'unknown action "nope"',
      1,
    ),
  );
});

Deno.test("device server: refusals of the use cases are status 0 answers", async () => {
  await using ctx = await start();
  const client = await ctx.connect();
  assert.deepEqual(
    await client.request(setChannel(DEVICE, "https://evil.example/wns/x")),
    failed("channel_uri is not a WNS channel URI"),
  );
  assert.deepEqual(
    await client.request(testPush()),
    failed("unknown device: send set_channel_uri first"),
  );
  assert.equal(ctx.wns.sent.length, 0);
});

Deno.test("device server: several requests on one connection are answered in order", async () => {
  await using ctx = await start();
  const client = await ctx.connect();
  assert.deepEqual(
    await client.request(testPush()),
    failed(
      "unknown device: send set_channel_uri first",
    ),
  );
  assert.deepEqual(await client.request(setChannel()), OK);
  assert.deepEqual(await client.request(testPush()), OK);
  // Pipelined: all sent before any answer is read.
  const other = "ab".repeat(32);
  for (const message of [testPush(other), setChannel(other), testPush(other), { version: 2 }]) {
    await client.sendRaw(frame(message));
  }
  assert.deepEqual(await client.readAnswer(), failed("unknown device: send set_channel_uri first"));
  assert.deepEqual(await client.readAnswer(), OK);
  assert.deepEqual(await client.readAnswer(), OK);
  assert.equal((await client.readAnswer()).status, 0);
});

Deno.test("device server: a slow request does not let a later one overtake it", async () => {
  const { cert, key } = await testCertificate();
  const calls: string[] = [];
  const useCases: DeviceUseCases = {
    async setChannelUri(deviceId) {
      calls.push(`channel ${deviceId}`);
      await sleep(50);
      return { ok: false, error: `slow ${deviceId}` };
    },
    setPushAccounts: () => Promise.resolve({ ok: false, error: "unused" }),
    requestTestPush(deviceId) {
      calls.push(`test ${deviceId}`);
      return Promise.resolve({ ok: false, error: `fast ${deviceId}` });
    },
  };
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    useCases,
    logger: new RecordingLogger(),
  });
  const client = await DeviceClient.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
    caCerts: [cert],
  });
  try {
    await client.sendRaw(new Uint8Array([...frame(setChannel("aa")), ...frame(testPush("bb"))]));
    assert.deepEqual(await client.readAnswer(), failed("slow aa"));
    assert.deepEqual(await client.readAnswer(), failed("fast bb"));
    assert.deepEqual(calls, ["channel aa", "test bb"]);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("device server: a use case that throws gets 'internal error', the connection lives", async () => {
  const { cert, key } = await testCertificate();
  const logger = new RecordingLogger();
  const useCases: DeviceUseCases = {
    setChannelUri: () => Promise.reject(new Error("kaboom")),
    setPushAccounts: () => Promise.resolve({ ok: false, error: "unused" }),
    requestTestPush: () => Promise.resolve({ ok: true }),
  };
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    useCases,
    logger,
  });
  const client = await DeviceClient.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
    caCerts: [cert],
  });
  try {
    assert.deepEqual(await client.request(setChannel()), failed("internal error"));
    assert.deepEqual(await client.request(testPush()), OK);
    assert.ok(logger.at("error").some((l) => String(l.fields.reason).includes("kaboom")));
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("device server: two frames in one write", async () => {
  await using ctx = await start();
  const client = await ctx.connect();
  await client.sendRaw(new Uint8Array([...frame(setChannel()), ...frame(testPush())]));
  assert.deepEqual(await client.readAnswer(), OK);
  assert.deepEqual(await client.readAnswer(), OK);
  assert.equal(ctx.wns.sent.length, 1);
});

Deno.test("device server: one frame split across many writes", async () => {
  await using ctx = await start();
  const client = await ctx.connect();
  const whole = frame(setChannel());
  const pieces = 12;
  const size = Math.ceil(whole.length / pieces);
  for (let offset = 0; offset < whole.length; offset += size) {
    await client.sendRaw(whole.subarray(offset, offset + size));
    await sleep(3);
  }
  assert.deepEqual(await client.readAnswer(), OK);
  // Byte by byte, ending in the NUL alone.
  const next = frame(testPush());
  for (let i = 0; i < next.length; i++) await client.sendRaw(next.subarray(i, i + 1));
  assert.deepEqual(await client.readAnswer(), OK);
});

Deno.test("device server: malformed frames get status 0 and the connection stays usable", async () => {
  await using ctx = await start();
  const client = await ctx.connect();
  await client.sendRaw(bytes("this is not json\0"));
  assert.deepEqual(await client.readAnswer(), failed("invalid JSON"));
  await client.sendRaw(new Uint8Array([0x7b, 0xff, 0x7d, 0]));
  assert.deepEqual(await client.readAnswer(), failed("invalid UTF-8"));
  await client.sendRaw(bytes("[1,2]\0"));
  assert.deepEqual(await client.readAnswer(), failed("invalid request: expected a JSON object"));
  await client.sendRaw(new Uint8Array([0]));
  assert.deepEqual(await client.readAnswer(), failed("invalid JSON"));
  const missing = await client.request({ version: 2, action: "set_channel_uri" });
  assert.equal(missing.status, 0);
  assert.match(missing.error as string, /^invalid field device_id: /);
  assert.deepEqual(await client.request(setChannel()), OK);
  assert.ok(ctx.logger.at("info").some((l) => l.message === "device request rejected"));
});

Deno.test("device server: a frame over 64 KiB gets an error and the connection closes", async () => {
  await using ctx = await start();
  const client = await ctx.connect();
  const other = await ctx.connect();
  // One byte over the limit, without its NUL: the server must not wait for the rest.
  const limit = DEVICE_SERVER_DEFAULTS.maxFrameBytes;
  assert.equal(limit, 64 * 1024);
  await client.sendRaw(new Uint8Array(limit + 1).fill(0x20));
  assert.deepEqual(await client.readAnswer(), failed(`frame larger than ${limit} bytes`));
  await closedWithin(client, 2000);
  // Nobody else noticed.
  assert.deepEqual(await other.request(setChannel()), OK);
});

Deno.test("device server: a frame of exactly the limit is still read", async () => {
  await using ctx = await start({ maxFrameBytes: 1024 });
  const client = await ctx.connect();
  const message = setChannel();
  const text = JSON.stringify(message);
  const padded = text.slice(0, -1) + " ".repeat(1024 - text.length) + "}";
  assert.equal(padded.length, 1024);
  await client.sendRaw(encodeFrame(padded));
  assert.deepEqual(await client.readAnswer(), OK);
});

Deno.test("device server: an idle connection is closed, an active one is not", async () => {
  // A pause between requests far below the timeout, so a loaded machine cannot stretch one
  // past it; the active connection stays busy for longer than the timeout in all.
  const idleTimeoutMs = 600;
  const pauseMs = 100;
  await using ctx = await start({ idleTimeoutMs });
  // Timed from before connecting: the server's timer cannot start earlier than this.
  const connecting = performance.now();
  const idle = await ctx.connect();
  const active = await ctx.connect();
  const idleClosed = closedWithin(idle, scaledMs(5000));
  const activeSince = performance.now();
  while (performance.now() - activeSince < idleTimeoutMs + 2 * pauseMs) {
    assert.deepEqual(await active.request(setChannel()), OK);
    await sleep(pauseMs);
  }
  await idleClosed;
  const elapsed = performance.now() - connecting;
  assert.ok(elapsed >= idleTimeoutMs - 5, `closed after ${elapsed} ms, before the idle timeout`);
  assert.deepEqual(await active.request(testPush()), OK);
  await closedWithin(active, 2000);
});

Deno.test("device server: a half-sent frame does not keep the connection alive forever", async () => {
  await using ctx = await start({ idleTimeoutMs: 150 });
  const client = await ctx.connect();
  await client.sendRaw(bytes('{"version":2,'));
  await closedWithin(client, 2000);
});

/** Resolves "closed" once the server closed a plain TCP connection, or "open" after `limitMs`. */
async function tcpClosedWithin(conn: Deno.Conn, limitMs: number): Promise<"closed" | "open"> {
  const buffer = new Uint8Array(1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    (async () => {
      try {
        while ((await conn.read(buffer)) !== null) { /* a TLS alert, perhaps */ }
      } catch {
        // A reset is a close too.
      }
      return "closed" as const;
    })(),
    new Promise<"open">((resolve) => (timer = setTimeout(() => resolve("open"), limitMs))),
  ]);
  clearTimeout(timer);
  return result;
}

// Deno.TlsConn keeps its socket open while a handshake is pending, even after close(): this
// is why the device port is built on node:tls.
Deno.test({
  name: "device server: a plain TCP client that never handshakes is disconnected",
  async fn() {
    await using ctx = await start({ handshakeTimeoutMs: 150 });
    // Timed from before connecting: the server's timer cannot start earlier than this, so
    // no margin is needed below (5 ms: timer rounding), however late this code runs.
    const started = performance.now();
    const conn = await ctx.connectTcp();
    assert.equal(await tcpClosedWithin(conn, scaledMs(2000)), "closed");
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 145, `closed after ${elapsed} ms, before the handshake timeout`);
  },
});

Deno.test("device server: a client that never handshakes loses its slot after the timeout", async () => {
  await using ctx = await start({ handshakeTimeoutMs: 200, maxConnections: 1 });
  await ctx.connectTcp();
  for (let i = 0; i < 100 && ctx.server.connectionCount === 0; i++) await sleep(5);
  assert.equal(ctx.server.connectionCount, 1);
  // While it holds the only slot, a device is refused...
  await assert.rejects(async () => {
    const refused = await ctx.connect();
    await refused.request(setChannel());
  });
  // ...and once the handshake timeout has passed, devices are served again.
  await sleep(250);
  // The slot is freed by the timeout's close, an I/O event or two later on a busy machine.
  const freeBy = performance.now() + scaledMs(2000);
  while (ctx.server.connectionCount > 0 && performance.now() < freeBy) await sleep(10);
  assert.equal(ctx.server.connectionCount, 0);
  const client = await ctx.connect();
  assert.deepEqual(await client.request(setChannel()), OK);
});

Deno.test("device server: a plain TCP client sending a request without TLS is dropped", async () => {
  await using ctx = await start();
  const conn = await ctx.connectTcp();
  await conn.write(frame(setChannel()));
  const buffer = new Uint8Array(1024);
  const answer = await conn.read(buffer).catch(() => null);
  // Nothing, or a TLS alert; never a protocol answer.
  if (answer !== null) {
    assert.ok(!new TextDecoder().decode(buffer.subarray(0, answer)).includes("response"));
  }
  assert.equal(await tcpClosedWithin(conn, 2000), "closed");
  assert.equal(await ctx.store.findDevice(DEVICE, Date.now()), null);
  const client = await ctx.connect();
  assert.deepEqual(await client.request(setChannel()), OK);
});

Deno.test("device server: the connection cap refuses the extra connection, others keep working", async () => {
  await using ctx = await start({ maxConnections: 2 });
  const first = await ctx.connect();
  const second = await ctx.connect();
  assert.equal(ctx.server.connectionCount, 2);
  await assert.rejects(async () => {
    const third = await ctx.connect();
    // Should the handshake have got through, the connection must still be dead.
    await third.request(setChannel());
  });
  assert.deepEqual(await first.request(setChannel()), OK);
  assert.deepEqual(await second.request(testPush()), OK);
  assert.ok(ctx.logger.at("warn").some((l) => l.message.includes("too many connections")));
  // Once one leaves, a new one gets in.
  first.close();
  for (let i = 0; i < 500 && ctx.server.connectionCount >= 2; i++) await sleep(10);
  assert.equal(ctx.server.connectionCount, 1);
  const fourth = await ctx.connect();
  assert.deepEqual(await fourth.request(testPush()), OK);
});

Deno.test("device server: a client that stalls mid-frame does not block another client", async () => {
  await using ctx = await start();
  const staller = await ctx.connect();
  const whole = frame(setChannel("aa"));
  await staller.sendRaw(whole.subarray(0, 20));
  const other = await ctx.connect();
  assert.deepEqual(await other.request(setChannel("bb")), OK);
  assert.deepEqual(await other.request(testPush("bb")), OK);
  await staller.sendRaw(whole.subarray(20));
  assert.deepEqual(await staller.readAnswer(), OK);
});

Deno.test("device server: close() ends open connections and stops accepting", async () => {
  const ctx = await start();
  const one = await ctx.connect();
  const two = await ctx.connect();
  await two.sendRaw(bytes('{"version":2'));
  assert.deepEqual(await one.request(setChannel()), OK);
  const port = ctx.server.addr.port;
  await ctx.server.close();
  await closedWithin(one, 2000);
  await closedWithin(two, 2000);
  assert.equal(ctx.server.connectionCount, 0);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }).then((c) => {
      c.close();
    }),
  );
  await ctx.server.close(); // twice is fine
  await ctx[Symbol.asyncDispose]();
});

Deno.test("device server: a client that disconnects mid-request does not disturb the server", async () => {
  await using ctx = await start();
  for (let i = 0; i < 5; i++) {
    const quitter = await ctx.connect();
    await quitter.sendRaw(frame(setChannel()));
    quitter.close();
  }
  const client = await ctx.connect();
  assert.deepEqual(await client.request(testPush()), OK);
  for (let i = 0; i < 100 && ctx.server.connectionCount > 1; i++) await sleep(10);
  assert.equal(ctx.server.connectionCount, 1);
});

/** A request limiter on a clock the test moves, and the limits reported. */
function requestLimits(closeAfterRefusals = 100) {
  const clock = new FakeClock();
  const hits: LimitName[] = [];
  const limiter = new DeviceRequestLimits({
    perConnection: { burst: 3, perSecond: 1 },
    perDevice: { burst: 5, perSecond: 0.1 },
    maxDevices: 100,
    closeAfterRefusals,
    clock,
    report: (limit) => hits.push(limit),
  });
  return { clock, hits, limiter };
}

Deno.test("device server: over the rate of a connection, the device is told to slow down and may go on", async () => {
  const { clock, hits, limiter } = requestLimits();
  await using ctx = await start({ requestLimiter: limiter });
  const client = await ctx.connect();
  for (let i = 0; i < 3; i++) assert.deepEqual(await client.request(setChannel()), OK);
  assert.deepEqual(await client.request(setChannel()), failed(TOO_MANY_REQUESTS));
  // Unparsable frames count too, and are answered the same.
  await client.sendRaw(bytes("{not json\0"));
  assert.deepEqual(await client.readAnswer(), failed(TOO_MANY_REQUESTS));
  // The connection is still usable once the device slows down.
  clock.advance(1000);
  assert.deepEqual(await client.request(testPush()), OK);
  assert.deepEqual(hits, ["requests_per_connection", "requests_per_connection"]);
  // A version 1 device is answered in version 1.
  assert.deepEqual(
    await client.request({ ...setChannel(), version: 1 }),
    failed(TOO_MANY_REQUESTS, 1),
  );
});

Deno.test("device server: one device id is limited across connections; others are served", async () => {
  const { hits, limiter } = requestLimits();
  await using ctx = await start({ requestLimiter: limiter });
  for (let i = 0; i < 5; i++) {
    const client = await ctx.connect();
    assert.deepEqual(await client.request(setChannel()), OK);
    client.close();
  }
  const client = await ctx.connect();
  assert.deepEqual(await client.request(setChannel()), failed(TOO_MANY_REQUESTS));
  assert.deepEqual(await client.request(setChannel("cafe")), OK);
  assert.deepEqual(hits, ["requests_per_device"]);
});

Deno.test("device server: a device that keeps going after being told to slow down is disconnected", async () => {
  const { limiter } = requestLimits(3);
  await using ctx = await start({ requestLimiter: limiter });
  const client = await ctx.connect();
  // Everything at once, without waiting for answers.
  const requests = Array.from({ length: 10 }, () => frame(testPush()));
  await client.sendRaw(new Uint8Array(requests.flatMap((r) => [...r])));
  const answers = [];
  for (let i = 0; i < 6; i++) answers.push(await client.readAnswer());
  assert.deepEqual(answers, [
    ...Array(3).fill(failed("unknown device: send set_channel_uri first")),
    ...Array(3).fill(failed(TOO_MANY_REQUESTS)),
  ]);
  // Nothing is answered after the third refusal: the connection is closed.
  await closedWithin(client, 2000);
  const other = await ctx.connect();
  assert.deepEqual(await other.request(setChannel("beef")), OK);
});

Deno.test("device server: connections per address are capped; others still get in", async () => {
  const hits: LimitName[] = [];
  await using ctx = await start({
    maxConnectionsPerAddress: 2,
    reportLimit: (limit) => hits.push(limit),
  });
  const first = await ctx.connect();
  const second = await ctx.connect();
  await assert.rejects(async () => {
    const third = await ctx.connect();
    await third.request(setChannel());
  });
  assert.deepEqual(hits, ["connections_per_address"]);
  assert.deepEqual(await second.request(setChannel()), OK);
  first.close();
  for (let i = 0; i < 100 && ctx.server.connectionCount >= 2; i++) await sleep(10);
  const fourth = await ctx.connect();
  assert.deepEqual(await fourth.request(testPush()), OK);
});

Deno.test("device server: frame size, account count, idle and handshake timeouts are reported", async () => {
  const hits: LimitName[] = [];
  await using ctx = await start({
    maxFrameBytes: 1024,
    maxAccounts: 2,
    idleTimeoutMs: 150,
    handshakeTimeoutMs: 150,
    reportLimit: (limit) => hits.push(limit),
  });
  const client = await ctx.connect();
  assert.deepEqual(await client.request(setChannel()), OK);
  const tooMany = await client.request({
    version: 2,
    action: "set_push_accounts",
    device_id: DEVICE,
    accounts: [{ account_id: "a" }, { account_id: "b" }, { account_id: "c" }],
  });
  assert.deepEqual(
    tooMany,
    failed(
      "invalid field accounts: too many accounts: this push server takes at most 2 per device",
    ),
  );
  await closedWithin(client, 2000);
  const big = await ctx.connect();
  await big.sendRaw(new Uint8Array(1025).fill(0x20));
  assert.deepEqual(await big.readAnswer(), failed("frame larger than 1024 bytes"));
  const silent = await ctx.connectTcp();
  assert.equal(await tcpClosedWithin(silent, 2000), "closed");
  assert.deepEqual(hits.toSorted(), [
    "accounts_per_device",
    "frame_size",
    "handshake_timeout",
    "idle_timeout",
  ]);
});

/** Runs `openssl s_client` against the device port with `args`; its exit code and output. */
async function opensslClient(port: number, args: string[]) {
  const output = await new Deno.Command(findBinary("openssl") ?? "openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    text: decoder.decode(output.stdout) + decoder.decode(output.stderr),
  };
}

Deno.test({
  name: "device server: TLS 1.0 and 1.1 and ciphers without AEAD are refused; 1.2 and 1.3 work",
  ...serverTestGate("openssl"),
  async fn() {
    await using ctx = await start();
    const port = ctx.server.addr.port;
    // SECLEVEL=0: OpenSSL 3 would not even offer the old versions itself otherwise. The
    // server must be the one refusing: its alert is what the client reports.
    for (
      const args of [
        ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
        ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
        ["-tls1_2", "-cipher", "AES128-SHA:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"],
      ]
    ) {
      const { code, text } = await opensslClient(port, args);
      assert.notEqual(code, 0, args.join(" "));
      assert.match(text, /alert (handshake failure|protocol version)/, args.join(" "));
      assert.match(text, /New, \(NONE\), Cipher is \(NONE\)/, args.join(" "));
    }
    for (const version of ["1.2", "1.3"]) {
      const { code, text } = await opensslClient(port, [`-tls${version.replace(".", "_")}`]);
      assert.equal(code, 0, text);
      const negotiated = /New, (TLSv[\d.]+), Cipher is (\S+)/.exec(text);
      assert.equal(negotiated?.[1], `TLSv${version}`, text);
      assert.match(negotiated![2], /^(TLS_AES_|TLS_CHACHA20_|ECDHE-ECDSA-(AES\d+-GCM|CHACHA20))/);
    }
  },
});
