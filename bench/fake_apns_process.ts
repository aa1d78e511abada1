/**
 * The fake APNs in a process of its own, so that its CPU does not count as the sender's:
 * `deno run bench/fake_apns_process.ts '<key json>' node|deno` is the child (it announces
 * `{"url", "caCert"}`, answers `stats` with its counters and CPU time, stops at `quit`);
 * {@link startFakeApnsProcess} is the parent's half.
 *
 * @module
 */

import process from "node:process";
import {
  type FakeApnsKey,
  generateFakeApnsCertificates,
  startFakeApns,
} from "../adapters/push/apns/fake_apns_server.ts";
import { FakeApnsChecker } from "../adapters/push/apns/fake_apns_checks.ts";
import { serveOverStdio, spawnFakeProcess } from "./fake_process.ts";

/** The topic the fake accepts. */
export const BENCH_APNS_TOPIC = "im.monal.bench";
const TOPIC = BENCH_APNS_TOPIC;

/** Which HTTP/2 server answers in the fake's process. */
export type Engine = "node" | "deno";

/**
 * The fake's process: serves until `quit` or the end of stdin. `node`: the test fake
 * (`node:http2`); `deno`: a lean responder on `Deno.serve` (hyper) with the same checks,
 * for measuring the sender rather than the fake (Deno's `node:http2` server costs about as
 * much CPU per push as the client).
 */
async function serveFake(key: FakeApnsKey, engine: Engine): Promise<void> {
  const fake = engine === "node"
    ? await startFakeApns({ keys: [key], topics: [TOPIC], record: false })
    : await startLeanFake(key);
  await serveOverStdio({ url: fake.url, caCert: fake.caCert }, () => {
    const cpu = process.cpuUsage();
    return { ...fake.counters, cpuUs: cpu.user + cpu.system };
  }, () => fake.close());
}

/** The lean responder: {@link FakeApnsChecker}'s verdicts over `Deno.serve`. */
async function startLeanFake(key: FakeApnsKey) {
  const certificates = await generateFakeApnsCertificates();
  const checker = await FakeApnsChecker.create([key], [TOPIC], { now: () => Date.now() });
  const counters = { requests: 0, delivered: 0 };
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: certificates.cert,
    key: certificates.key,
    onListen: ({ port }) => resolve(port),
  }, async (request) => {
    const body = new Uint8Array(await request.arrayBuffer());
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => headers[name] = value);
    const verdict = await checker.check({
      method: request.method,
      path: new URL(request.url).pathname,
      headers,
      body: new TextDecoder().decode(body),
      bytes: body.length,
    }, null);
    counters.requests++;
    if (verdict.status === 200) counters.delivered++;
    return new Response(
      verdict.reason === null ? null : JSON.stringify({ reason: verdict.reason }),
      { status: verdict.status, headers: { "apns-id": crypto.randomUUID() } },
    );
  });
  const port = await listening;
  return {
    url: `https://127.0.0.1:${port}`,
    caCert: certificates.caCert,
    get counters() {
      return {
        ...counters,
        connections: null,
        maxConcurrentStreamsSeen: null,
        jwtVerifications: checker.verifications,
      };
    },
    close: () => server.shutdown(),
  };
}

/** The fake's counters and its process's CPU time (µs) so far. */
export interface FakeApnsProcessStats {
  readonly requests: number;
  readonly delivered: number;
  readonly connections: number | null;
  readonly maxConcurrentStreamsSeen: number | null;
  readonly jwtVerifications: number;
  readonly cpuUs: number;
}

/** A running fake APNs process. */
export interface FakeApnsProcess {
  /** `https://127.0.0.1:PORT`. */
  readonly url: string;
  /** The test CA its leaf certificate is signed by. */
  readonly caCert: string;
  stats(): Promise<FakeApnsProcessStats>;
  close(): Promise<void>;
}

/** Starts the fake APNs in a child process, trusting `key`, served by `engine`. */
export async function startFakeApnsProcess(
  key: FakeApnsKey,
  engine: Engine = "node",
): Promise<FakeApnsProcess> {
  const child = await spawnFakeProcess<{ url: string; caCert: string }>(
    ["--allow-all", import.meta.filename!, JSON.stringify(key), engine],
    "fake APNs",
  );
  return {
    ...child.hello,
    stats: () => child.stats<FakeApnsProcessStats>(),
    close: () => child.close(),
  };
}

if (import.meta.main) {
  const engine = Deno.args[1] ?? "node";
  if (engine !== "node" && engine !== "deno") throw new Error("engine is node or deno");
  await serveFake(JSON.parse(Deno.args[0]), engine);
}
