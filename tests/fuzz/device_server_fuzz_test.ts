/**
 * A live fuzz run against the real TLS device port (in-memory storage and WNS): many
 * clients send generated frames (valid, invalid, random bytes, oversized), split at random
 * points with random pauses, and end in every way (drained, abrupt close, oversize, stall,
 * a half-sent frame); plain-TCP clients send junk or nothing. Meanwhile a well-behaved
 * device registers over and over and must get exact answers throughout. Afterwards every
 * connection that should have closed is closed and the server still serves.
 */

import { wnsDelivery } from "../support/wns_delivery.ts";
import assert from "node:assert/strict";
import fc from "fast-check";
import { DeviceClient } from "../../adapters/device/device_client.ts";
import { errorResponse, requestParser } from "../../adapters/device/device_protocol.ts";
import { DeviceServer } from "../../adapters/device/tls_device_server.ts";
import { MemoryStore } from "../../adapters/storage/memory/memory_store.ts";
import { MemoryWnsSender } from "../../adapters/push/wns/memory_wns_sender.ts";
import { DeviceService } from "../../app/use_cases/device_service.ts";
import { RecordingLogger } from "../support/recording_logger.ts";
import { testCertificate } from "../support/tls_cert.ts";
import { checkAsync } from "./fuzz_params.ts";

const MAX_FRAME = 4096;
const MAX_ACCOUNTS = 8;
const IDLE_MS = 1500;
const HANDSHAKE_MS = 1000;
const PUSH_JID = "push.example.org";
const GOOD_DEVICE = "0f".repeat(32);
const GOOD_CHANNEL = "https://127.0.0.1:4443/wns/good";
const OVERSIZE_ANSWER = errorResponse(2, `frame larger than ${MAX_FRAME} bytes`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const encoder = new TextEncoder();
const parse = requestParser(MAX_ACCOUNTS);

/** Resolves `work`, or rejects after `ms` with `what`. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function start() {
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
    channelUriPattern: /^https:\/\/127\.0\.0\.1:\d+\/wns\/\w+$/,
    pushBareJid: PUSH_JID,
  });
  const server = await DeviceServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    useCases: service,
    logger,
    maxFrameBytes: MAX_FRAME,
    maxAccounts: MAX_ACCOUNTS,
    maxConnections: 256,
    idleTimeoutMs: IDLE_MS,
    handshakeTimeoutMs: HANDSHAKE_MS,
  });
  const connect = () =>
    DeviceClient.connect({ hostname: "127.0.0.1", port: server.addr.port, caCerts: [cert] });
  return { server, store, wns, logger, connect };
}

type Server = Awaited<ReturnType<typeof start>>;

// ---- the plan ----

const hex = fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 1, maxLength: 8 });
const accountId = fc.string({
  unit: fc.constantFrom(..."0123456789ABCDEFabcdef-_"),
  minLength: 1,
  maxLength: 16,
});

/** Requests that may pass validation (the fuzzers' own devices, never the good one's). */
const request = fc.oneof(
  fc.record({
    version: fc.constantFrom(1, 2),
    action: fc.constant("set_channel_uri"),
    device_id: hex,
    channel_uri: fc.oneof(
      hex.map((h) => `https://127.0.0.1:4443/wns/f${h}`),
      fc.constantFrom("https://evil.example/x", ""),
    ),
  }),
  fc.record({
    version: fc.constantFrom(1, 2),
    action: fc.constantFrom("set_push_accounts", "set_accounts"),
    device_id: hex,
    accounts: fc.array(fc.record({ account_id: accountId }), { maxLength: MAX_ACCOUNTS + 2 }),
  }),
  fc.record({
    version: fc.constantFrom(1, 2),
    action: fc.constant("request_test_push"),
    device_id: hex,
  }),
).map((message) => JSON.stringify(message));

/** One frame's body (no NUL). */
const frameBody = fc.oneof(
  { weight: 4, arbitrary: request.map((text) => encoder.encode(text)) },
  {
    weight: 3,
    arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => encoder.encode(JSON.stringify(v))),
  },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300, min: 1 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "",
      "{",
      '{"version":2,"action":"x"}',
      '{"__proto__":{"version":2},"action":"request_test_push"}',
      "[".repeat(2000),
    ).map((text) => encoder.encode(text)),
  },
);

/** How a fuzzing client ends. */
type Ending =
  | "drain" // reads every answer, then closes
  | "close" // closes right after sending, answers unread
  | "oversize" // sends a frame over the limit: the server answers and closes
  | "partial" // sends half a frame, then closes
  | "stall"; // sends half a frame, then waits for the idle timeout

interface ClientPlan {
  readonly frames: Uint8Array[];
  readonly ending: Ending;
  readonly oversize: number;
  /** Cut points of the byte stream, and pauses (ms) between the pieces. */
  readonly cuts: number[];
  readonly pauses: number[];
}

const clientPlan: fc.Arbitrary<ClientPlan> = fc.record({
  frames: fc.array(frameBody, { minLength: 40, maxLength: 300, size: "max" }),
  ending: fc.constantFrom<Ending>("drain", "drain", "close", "oversize", "partial", "stall"),
  oversize: fc.integer({ min: MAX_FRAME + 1, max: 3 * MAX_FRAME }),
  cuts: fc.array(fc.nat(), { maxLength: 60, size: "max" }),
  pauses: fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 10 }),
});

/** Plain TCP clients: junk instead of a TLS hello, or nothing at all. */
const tcpPlan = fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.constant(null));

const plan = fc.record({
  clients: fc.array(clientPlan, { minLength: 12, maxLength: 16 }),
  tcp: fc.array(tcpPlan, { minLength: 2, maxLength: 4 }),
});

// ---- the clients ----

/** Sends `bytes` cut at `cuts`, pausing between pieces; stops quietly if the server closed. */
async function sendSplit(client: DeviceClient, bytes: Uint8Array, plan: ClientPlan) {
  const points = [...new Set(plan.cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let previous = 0;
  let i = 0;
  for (const point of [...points, bytes.length]) {
    if (point > previous) await client.sendRaw(bytes.subarray(previous, point));
    previous = point;
    const pause = plan.pauses[i++ % plan.pauses.length];
    if (pause > 0) await sleep(pause);
  }
}

/** Reads answers until the connection ends (by either side). */
async function readAll(client: DeviceClient, answers: string[]): Promise<"closed"> {
  try {
    while (true) answers.push(JSON.stringify(await client.readAnswer()));
  } catch {
    return "closed";
  }
}

/** What the server must answer to one frame (a regular expression for accepted requests). */
function expectedAnswer(frame: Uint8Array): string | RegExp {
  const parsed = parse(frame);
  if (!parsed.ok) return errorResponse(parsed.version, parsed.error);
  const v = parsed.request.version;
  return new RegExp(`^\\{"version":${v},"action":"response","status":[01][,}]`);
}

function assertAnswers(answers: string[], frames: Uint8Array[], exact: boolean, who: string) {
  if (exact) assert.equal(answers.length, frames.length, `${who}: one answer per frame`);
  assert.ok(answers.length <= frames.length, `${who}: ${answers.length} answers`);
  answers.forEach((answer, i) => {
    const expected = expectedAnswer(frames[i]);
    if (typeof expected === "string") assert.equal(answer, expected, `${who}: answer ${i}`);
    else assert.match(answer, expected, `${who}: answer ${i}`);
  });
}

async function fuzzClient(ctx: Server, plan: ClientPlan, who: string): Promise<void> {
  const client = await ctx.connect();
  const answers: string[] = [];
  const reading = readAll(client, answers);
  // Frames built by hand (encodeFrame takes text), so that invalid UTF-8 stays invalid.
  const raw = concat(plan.frames.map((f) => concat([f, new Uint8Array([0])])));
  const half = encoder.encode('{"version":2,"action":"request_te');
  try {
    switch (plan.ending) {
      case "drain": {
        await sendSplit(client, raw, plan);
        await within(5000, `${who}: answers`, waitFor(() => answers.length >= plan.frames.length));
        assertAnswers(answers, plan.frames, true, who);
        client.close();
        break;
      }
      case "close":
        await sendSplit(client, raw, plan);
        client.close();
        break;
      case "oversize": {
        const big = new Uint8Array(plan.oversize).fill(0x20);
        await sendSplit(client, concat([raw, big, new Uint8Array([0])]), plan).catch(() => {});
        await within(5000, `${who}: closed after oversize`, reading);
        // Frames the same read completed are dropped with the connection: a prefix is answered.
        assert.equal(answers.at(-1), OVERSIZE_ANSWER, `${who}: ${answers.at(-1)}`);
        assertAnswers(answers.slice(0, -1), plan.frames, false, who);
        break;
      }
      case "partial":
        await sendSplit(client, concat([raw, half]), plan);
        client.close();
        break;
      case "stall": {
        await sendSplit(client, concat([raw, half]), plan);
        // Answers to the complete frames, then the idle timeout closes the connection.
        await within(IDLE_MS + 4000, `${who}: closed when idle`, reading);
        assertAnswers(answers, plan.frames, true, who);
        break;
      }
    }
  } finally {
    client.close();
    await reading;
  }
}

/** The well-behaved device: registers again and again, each answer checked exactly. */
async function goodDevice(ctx: Server, stop: () => boolean): Promise<number> {
  let rounds = 0;
  let client = await ctx.connect();
  try {
    while (!stop() || rounds < 3) {
      rounds++;
      if (rounds % 5 === 0) {
        // A new connection now and then, as the UWPX client does.
        client.close();
        client = await ctx.connect();
      }
      const channel = `${GOOD_CHANNEL}${rounds}`;
      assert.deepEqual(
        await within(
          2000,
          "set_channel_uri",
          client.request({
            version: 2,
            action: "set_channel_uri",
            device_id: GOOD_DEVICE,
            channel_uri: channel,
          }),
        ),
        { version: 2, action: "response", status: 1 },
      );
      const accounts = Array.from({ length: 1 + rounds % MAX_ACCOUNTS }, (_, i) => `acc${i}`);
      const answer = await within(
        2000,
        "set_push_accounts",
        client.request({
          version: 2,
          action: "set_push_accounts",
          device_id: GOOD_DEVICE,
          accounts: accounts.map((account_id) => ({ account_id })),
        }),
      );
      assert.equal(answer.status, 1, JSON.stringify(answer));
      assert.equal(answer.push_bare_jid, PUSH_JID);
      const got = answer.accounts as { account_id: string; node: string; secret: string }[];
      assert.deepEqual(got.map((a) => a.account_id), accounts);
      for (const account of got) {
        const target = await ctx.store.findNode(account.node, Date.now());
        assert.equal(target?.accountId, account.account_id);
        assert.equal(target?.secret, account.secret);
        assert.equal(target?.target?.address, channel);
      }
      const before = ctx.wns.sentTo(channel).length;
      assert.deepEqual(
        await within(
          2000,
          "request_test_push",
          client.request({
            version: 2,
            action: "request_test_push",
            device_id: GOOD_DEVICE,
          }),
        ),
        { version: 2, action: "response", status: 1 },
      );
      assert.equal(ctx.wns.sentTo(channel).length, before + 1);
    }
  } finally {
    client.close();
  }
  return rounds;
}

/** A plain TCP client: the server must close it (bad handshake, or none in time). */
async function tcpClient(ctx: Server, junk: Uint8Array | null, who: string): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: ctx.server.addr.port });
  try {
    if (junk) await conn.write(junk).catch(() => 0);
    const buffer = new Uint8Array(4096);
    await within(
      HANDSHAKE_MS + 3000,
      `${who}: closed by the server`,
      (async () => {
        try {
          while ((await conn.read(buffer)) !== null) { /* drain */ }
        } catch {
          // Reset: closed too.
        }
      })(),
    );
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

Deno.test("fuzz device server: hostile clients never disturb a well-behaved one", async () => {
  const started = performance.now();
  await checkAsync(
    fc.asyncProperty(plan, async ({ clients, tcp }) => {
      const ctx = await start();
      try {
        let fuzzing = true;
        const good = goodDevice(ctx, () => !fuzzing);
        await Promise.all([
          ...clients.map((p, i) => fuzzClient(ctx, p, `client ${i} (${p.ending})`)),
          ...tcp.map((junk, i) => tcpClient(ctx, junk, `tcp ${i}`)),
        ]).finally(() => fuzzing = false);
        const rounds = await good;
        assert.ok(rounds >= 3);
        // Every fuzzing connection is gone; the server still serves a newcomer.
        await within(3000, "connections closed", waitFor(() => ctx.server.connectionCount === 0));
        const late = await ctx.connect();
        try {
          const answer = await late.request({
            version: 1,
            action: "request_test_push",
            device_id: GOOD_DEVICE,
          });
          assert.deepEqual(answer, { version: 1, action: "response", status: 1 });
        } finally {
          late.close();
        }
        assert.deepEqual(ctx.logger.at("error"), [], "no request failed inside the server");
        const frames = clients.reduce((n, c) => n + c.frames.length, 0);
        console.log(
          `device server fuzz: ${clients.length} clients, ${frames} frames, ${rounds} good ` +
            `rounds, ${Math.round(performance.now() - started)} ms`,
        );
      } finally {
        await ctx.server.close();
      }
    }),
    1,
    { endOnFailure: true },
  );
});
