/**
 * Http2ClientSession against independent HTTP/2 servers on loopback, over TLS with a test CA:
 * Deno.serve (hyper), node:http2 (Deno's implementation) and nghttpd (nghttp2's reference
 * server, strict about protocol errors; Debian package nghttp2-server).
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import {
  type Http2Answer,
  Http2ClientSession,
  type Http2ClientSessionOptions,
} from "../../../../adapters/push/http2/http2_client_session.ts";
import { findBinary, freePorts, serverTestGate, withTimeout } from "../../../support/server_kit.ts";
import { testCertificates } from "./raw_h2_server.ts";

const decoder = new TextDecoder();

function connect(
  port: number,
  caCert: string,
  options: Partial<Http2ClientSessionOptions> = {},
): Promise<Http2ClientSession> {
  return Http2ClientSession.connect({
    hostname: "127.0.0.1",
    port,
    caCerts: [caCert],
    connectTimeoutMs: 10_000,
    maxResponseBytes: 100_000,
    ...options,
  });
}

/** One request, its answer bounded in time. */
function send(
  session: Http2ClientSession,
  fields: [string, string][],
  body: Uint8Array = new Uint8Array(),
): Promise<Http2Answer> {
  const { promise, resolve, reject } = Promise.withResolvers<Http2Answer>();
  let calls = 0;
  const id = session.request(fields, body, (answer) => {
    if (++calls > 1) throw new Error("answered twice");
    resolve(answer);
  });
  if (id === 0) reject(new Error("the session took no new stream"));
  return withTimeout(promise, 30_000, `answer to ${fields.find(([n]) => n === ":path")?.[1]}`);
}

/**
 * Runs `count` requests keeping at most the server's SETTINGS_MAX_CONCURRENT_STREAMS (and
 * `limit`) open, as the APNs sender does; resolves with the answers in order.
 */
async function pooled(
  session: Http2ClientSession,
  count: number,
  limit: number,
  make: (i: number) => { fields: [string, string][]; body?: Uint8Array },
): Promise<Http2Answer[]> {
  const answers: Http2Answer[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const { fields, body } = make(i);
      answers[i] = await send(session, fields, body);
    }
  };
  const width = Math.min(limit, session.maxConcurrentStreams, count);
  await Promise.all(Array.from({ length: width }, worker));
  return answers;
}

function response(answer: Http2Answer) {
  assert.equal(answer.kind, "response", JSON.stringify(answer));
  if (answer.kind !== "response") throw new Error("unreachable");
  return answer;
}

function header(answer: Http2Answer, name: string): string | undefined {
  return response(answer).headers.find(([n]) => n === name)?.[1];
}

/** Deterministic bytes: `size` of them, seeded. */
function pattern(size: number, seed = 0): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

// ---- Deno.serve (hyper) -------------------------------------------------------------------

async function startDenoServe(): Promise<{
  port: number;
  caCert: string;
  bodies: Map<string, Uint8Array>;
  stop(): Promise<void>;
}> {
  const { caCert, cert, key } = await testCertificates();
  const bodies = new Map<string, Uint8Array>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert, key, onListen() {} },
    async (request) => {
      const body = new Uint8Array(await request.arrayBuffer());
      const id = request.headers.get("x-id") ?? "?";
      bodies.set(id, body);
      const size = Number(request.headers.get("x-size") ?? "0");
      return new Response(pattern(size, body.length), {
        headers: { "x-received": String(body.length), "x-id": id, "x-kind": "echo" },
      });
    },
  );
  return {
    port: server.addr.port,
    caCert,
    bodies,
    async stop() {
      await server.shutdown();
    },
  };
}

Deno.test("Deno.serve: concurrent POSTs with bodies, answers of many sizes up to maxResponseBytes", async () => {
  const server = await startDenoServe();
  const session = await connect(server.port, server.caCert, { maxResponseBytes: 100_000 });
  try {
    const sizes = [0, 1, 100, 16_383, 16_384, 16_385, 50_000, 65_535, 65_536, 80_000, 100_000];
    const answers = await Promise.all(sizes.map((size, i) =>
      send(session, [
        [":method", "POST"],
        [":path", `/sized/${i}`],
        ["x-id", `s${i}`],
        ["x-size", String(size)],
        ["content-type", "application/octet-stream"],
      ], pattern(i * 1000, i))
    ));
    answers.forEach((answer, i) => {
      const r = response(answer);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, sizes[i], `answer ${i}`);
      assert.deepEqual(r.body, pattern(sizes[i], i * 1000));
      assert.equal(header(answer, "x-received"), String(i * 1000));
      assert.equal(header(answer, "x-id"), `s${i}`);
      assert.equal(header(answer, "x-kind"), "echo");
      assert.deepEqual(server.bodies.get(`s${i}`), pattern(i * 1000, i));
    });
    assert.ok(session.usable);
  } finally {
    session.destroy();
    await session.closed;
    await server.stop();
  }
});

Deno.test("Deno.serve: 1,000 streams whose bodies exceed the 65,535-byte connection window", async () => {
  const server = await startDenoServe();
  const session = await connect(server.port, server.caCert);
  try {
    const count = 1_000;
    // hyper allows 200 streams at once: 200 bodies of ~430 bytes in flight exceed the window.
    const bodyOf = (i: number) => pattern(330 + (i % 200), i);
    const total = Array.from({ length: count }, (_, i) => bodyOf(i).length)
      .reduce((a, b) => a + b, 0);
    assert.ok(total > 6 * 65_535, `${total} bytes in all`);
    const answers = await pooled(session, count, 1_000, (i) => ({
      fields: [[":method", "POST"], [":path", `/many/${i}`], ["x-id", `m${i}`], ["x-size", "20"]],
      body: bodyOf(i),
    }));
    assert.equal(answers.length, count);
    answers.forEach((answer, i) => {
      const r = response(answer);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, pattern(20, bodyOf(i).length));
      assert.deepEqual(server.bodies.get(`m${i}`), bodyOf(i), `body ${i}`);
    });
    assert.ok(session.usable);
  } finally {
    session.destroy();
    await session.closed;
    await server.stop();
  }
});

// ---- node:http2 ---------------------------------------------------------------------------

async function startNodeHttp2(
  settings: http2.Settings,
  handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<{ port: number; caCert: string; stop(): Promise<void> }> {
  const { caCert, cert, key } = await testCertificates();
  const server = http2.createSecureServer({ cert, key, settings, maxSessionMemory: 100 });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    caCert,
    async stop() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

Deno.test("node:http2: trailers, a 103 before the final response, an oversized answer, a 20 KB header", async () => {
  const seenLong: string[] = [];
  const server = await startNodeHttp2({ maxHeaderListSize: 200_000 }, (stream, headers) => {
    const path = headers[":path"];
    if (path === "/trailers") {
      stream.respond({ ":status": 200, "x-head": "h" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "x-checksum": "abc123" }));
      stream.end("with trailers");
    } else if (path === "/early") {
      stream.additionalHeaders({ ":status": 103, link: "</x>; rel=preload" });
      stream.respond({ ":status": 200, "x-final": "yes" });
      stream.end("final");
    } else if (path === "/huge") {
      stream.respond({ ":status": 200 });
      stream.end(Buffer.alloc(5_000, 0x61));
    } else if (path === "/long") {
      seenLong.push(String(headers["x-long"]));
      stream.respond({ ":status": 200 });
      stream.end(String(String(headers["x-long"]).length));
    } else {
      stream.respond({ ":status": 404 });
      stream.end();
    }
  });
  const session = await connect(server.port, server.caCert, { maxResponseBytes: 1_000 });
  try {
    const get = (path: string, extra: [string, string][] = []) =>
      send(session, [[":method", "GET"], [":path", path], ...extra]);
    const trailers = response(await get("/trailers"));
    assert.equal(decoder.decode(trailers.body), "with trailers");
    assert.equal(trailers.status, 200);
    assert.deepEqual(
      trailers.headers.filter(([n]) => n.startsWith("x-")),
      [["x-head", "h"], ["x-checksum", "abc123"]],
    );
    const early = response(await get("/early"));
    assert.equal(early.status, 200);
    assert.equal(decoder.decode(early.body), "final");
    assert.equal(header(early, "x-final"), "yes");
    assert.equal(header(early, "link"), undefined, "the 103's fields are not the answer's");

    const huge = await get("/huge");
    assert.equal(huge.kind, "error");
    assert.ok(session.usable, "an oversized answer fails only its stream");

    const long = "L".repeat(20 * 1024);
    const answer = response(await get("/long", [["x-long", long]]));
    assert.equal(decoder.decode(answer.body), String(long.length));
    assert.deepEqual(seenLong, [long], "HEADERS + CONTINUATION arrived intact");
    assert.equal(response(await get("/other")).status, 404);
  } finally {
    session.destroy();
    await session.closed;
    await server.stop();
  }
});

Deno.test("node:http2: a server with SETTINGS_HEADER_TABLE_SIZE 0 and MAX_CONCURRENT_STREAMS 5", async () => {
  let settingsCalls = 0;
  const server = await startNodeHttp2(
    { headerTableSize: 0, maxConcurrentStreams: 5 },
    (stream, headers) => {
      stream.respond({ ":status": 200, "x-echo": String(headers["x-n"]) });
      stream.end(`n=${headers["x-n"]}`);
    },
  );
  const session = await connect(server.port, server.caCert, { onSettings: () => settingsCalls++ });
  try {
    assert.ok(settingsCalls >= 1);
    assert.equal(session.maxConcurrentStreams, 5);
    const answers = await pooled(session, 60, 100, (i) => ({
      fields: [[":method", "GET"], [":path", `/n/${i}`], ["x-n", String(i)], ["user-agent", "t"]],
    }));
    answers.forEach((answer, i) => {
      assert.equal(decoder.decode(response(answer).body), `n=${i}`);
      assert.equal(header(answer, "x-echo"), String(i));
    });
    assert.ok(session.usable);
  } finally {
    session.destroy();
    await session.closed;
    await server.stop();
  }
});

Deno.test("node:http2: 1,000 streams at once (the server allows them), bodies well above the window", async () => {
  const bodies = new Map<string, Buffer>();
  const server = await startNodeHttp2({ maxConcurrentStreams: 1_000 }, (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      bodies.set(String(headers["x-id"]), body);
      stream.respond({ ":status": 200 });
      stream.end(String(body.length));
    });
  });
  const session = await connect(server.port, server.caCert);
  try {
    assert.equal(session.maxConcurrentStreams, 1_000);
    const bodyOf = (i: number) => pattern(100 + (i % 100), i);
    const answers = await Promise.all(
      Array.from(
        { length: 1_000 },
        (_, i) =>
          send(session, [[":method", "POST"], [":path", "/c"], ["x-id", String(i)]], bodyOf(i)),
      ),
    );
    answers.forEach((answer, i) => {
      assert.equal(decoder.decode(response(answer).body), String(bodyOf(i).length));
      assert.deepEqual(new Uint8Array(bodies.get(String(i))!), bodyOf(i), `body ${i}`);
    });
  } finally {
    session.destroy();
    await session.closed;
    await server.stop();
  }
});

// ---- nghttpd ------------------------------------------------------------------------------

interface Nghttpd {
  readonly port: number;
  readonly dir: string;
  /** Stops nghttpd; resolves with everything it printed (-v: every frame). */
  stop(): Promise<string>;
}

async function startNghttpd(args: string[]): Promise<Nghttpd> {
  const binary = findBinary("nghttpd");
  if (binary === undefined) throw new Error("nghttpd is not installed (nghttp2-server)");
  const { cert, key } = await testCertificates();
  const dir = await Deno.makeTempDir({ prefix: "nghttpd-test-" });
  await Deno.mkdir(`${dir}/htdocs`);
  await Deno.writeTextFile(`${dir}/cert.pem`, cert);
  await Deno.writeTextFile(`${dir}/key.pem`, key);
  await Deno.writeTextFile(`${dir}/htdocs/hello.txt`, "hello from nghttpd\n");
  await Deno.writeFile(`${dir}/htdocs/big.bin`, pattern(90_000, 3));
  for (let i = 0; i < 20; i++) await Deno.writeFile(`${dir}/htdocs/f${i}.bin`, pattern(i * 500, i));
  const [port] = freePorts(1);
  // Line-buffered: nghttpd dies of SIGTERM without flushing stdio, which would lose the
  // last frames of its log.
  const stdbuf = findBinary("stdbuf");
  const command = stdbuf ?? binary;
  const child = new Deno.Command(command, {
    args: [
      ...(stdbuf === undefined ? [] : ["-oL", "-eL", binary]),
      "--verbose",
      `--htdocs=${dir}/htdocs`,
      "--address=127.0.0.1",
      ...args,
      String(port),
      `${dir}/key.pem`,
      `${dir}/cert.pem`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const connections = () => (log.match(/The negotiated protocol: h2/g) ?? []).length;
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) log += text;
  };
  const output = Promise.all([collect(child.stdout), collect(child.stderr)]).then(() => log);
  const stop = async () => {
    // Let it log the end of every connection (our GOAWAY, the close) before stopping it.
    const deadline = Date.now() + 5_000;
    while (
      (log.match(/\] closed\n/g) ?? []).length < connections() + 1 && Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
    const text = await output;
    await Deno.remove(dir, { recursive: true });
    return text;
  };
  // Ready once it accepts TCP.
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (Date.now() > deadline) {
        const text = await stop();
        throw new Error(`nghttpd did not start: ${text.slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { port, dir, stop };
}

/** nghttpd -v output must show no error it sent or received. */
function assertNoProtocolError(log: string): void {
  const bad = log.split("\n").filter((line) =>
    /(PROTOCOL|COMPRESSION|FLOW_CONTROL|FRAME_SIZE|STREAM_CLOSED|INTERNAL)_ERROR|REFUSED_STREAM/
      .test(
        line,
      ) || /\[ERROR\]|send (RST_STREAM|GOAWAY)/.test(line)
  );
  assert.deepEqual(bad, [], "nghttpd saw a protocol error");
}

const nghttpdGate = serverTestGate("nghttpd");

Deno.test({
  name: "nghttpd: GET and POST files, many concurrent requests, no protocol error in its log",
  ...nghttpdGate,
  async fn() {
    const { caCert } = await testCertificates();
    const server = await startNghttpd(["--echo-upload"]);
    let log = "";
    try {
      const session = await connect(server.port, caCert);
      try {
        const hello = response(await send(session, [[":method", "GET"], [":path", "/hello.txt"]]));
        assert.equal(hello.status, 200);
        assert.equal(decoder.decode(hello.body), "hello from nghttpd\n");
        const big = response(await send(session, [[":method", "GET"], [":path", "/big.bin"]]));
        assert.deepEqual(big.body, pattern(90_000, 3), "90 KB: more than a stream window");
        const missing = response(await send(session, [[":method", "GET"], [":path", "/nope"]]));
        assert.equal(missing.status, 404);
        const upload = pattern(70_000, 9);
        const echoed = response(
          await send(session, [[":method", "POST"], [":path", "/hello.txt"]], upload),
        );
        assert.deepEqual(echoed.body, upload, "--echo-upload returns what we sent");
        const answers = await pooled(session, 400, 400, (i) => ({
          fields: [[":method", "GET"], [":path", `/f${i % 20}.bin`], ["x-request", String(i)]],
        }));
        answers.forEach((answer, i) => {
          assert.deepEqual(response(answer).body, pattern((i % 20) * 500, i % 20), `file ${i}`);
        });
        assert.ok(session.usable);
        await session.close();
      } finally {
        session.destroy();
      }
    } finally {
      log = await server.stop();
    }
    assertNoProtocolError(log);
    assert.match(
      log,
      /recv GOAWAY[^\n]*\n[^\n]*NO_ERROR/,
      `no GOAWAY NO_ERROR: ${log.slice(-1500)}`,
    );
  },
});

Deno.test({
  name: "nghttpd: --header-table-size 0 and 64, --max-concurrent-streams 3",
  ...nghttpdGate,
  async fn() {
    const { caCert } = await testCertificates();
    for (const size of [0, 64]) {
      const server = await startNghttpd([
        `--header-table-size=${size}`,
        "--max-concurrent-streams=3",
      ]);
      let log = "";
      try {
        const session = await connect(server.port, caCert);
        try {
          assert.equal(session.maxConcurrentStreams, 3);
          const answers = await pooled(session, 50, 50, (i) => ({
            fields: [
              [":method", "GET"],
              [":path", `/f${i % 20}.bin`],
              ["user-agent", "uwpx-test"],
              ["x-long-enough-to-matter", "v".repeat(80)],
            ],
          }));
          answers.forEach((answer, i) => {
            assert.deepEqual(response(answer).body, pattern((i % 20) * 500, i % 20));
          });
          await session.close();
        } finally {
          session.destroy();
        }
      } finally {
        log = await server.stop();
      }
      assert.match(log, new RegExp(`SETTINGS_HEADER_TABLE_SIZE\\(0x01\\):${size}\\]`));
      assertNoProtocolError(log);
    }
  },
});
