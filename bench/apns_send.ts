/**
 * apns-send: how fast APNs pushes go out over ONE multiplexed HTTP/2 connection to the fake
 * APNs running in another process (so the fake's work does not share this event loop).
 * `--path app` (default): through `createApnsApp`'s delivery, i.e. what the use cases call:
 * payload and headers built per push, the shared delivery policy (gate, backoff, retries),
 * the coalescer, metering; `--path sender`: the bare {@link Http2ApnsSender}. Prints pushes/s
 * and the client's CPU µs per push, plus the fake's counters (one connection, JWT verified
 * once). Not part of `deno task bench`.
 *
 * `deno run --allow-all bench/apns_send.ts [--pushes N] [--concurrency C] [--streams S]
 *   [--engine node|deno] [--path app|sender]`
 *
 * With `--serve-fake '<json>'` this file is the fake's process instead: it prints
 * `{"url", "caCert"}` on stdout, then answers `stats` (its counters and CPU time) and
 * `quit` on stdin.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { apnsHeaders } from "../domain/payloads/apns_headers.ts";
import { apnsPayload, MONAL_PAYLOAD_SETTINGS } from "../domain/payloads/apns_payload.ts";
import {
  type FakeApnsKey,
  generateApnsTestKey,
  generateFakeApnsCertificates,
  startFakeApns,
} from "../adapters/push/apns/fake_apns_server.ts";
import { FakeApnsChecker } from "../adapters/push/apns/fake_apns_checks.ts";
import { Http2ApnsSender } from "../adapters/push/apns/http2_apns_sender.ts";
import { ApnsProviderToken } from "../adapters/push/apns/provider_token.ts";
import { ApnsAppSchema } from "../app/config/apns_app.ts";
import { createApnsApp } from "../app/wiring/apns_wiring.ts";
import type { AppDelivery } from "../app/wiring/app_delivery.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";
import { NO_METRICS } from "../domain/ports/metrics.ts";
import { serveOverStdio, spawnFakeProcess } from "./fake_process.ts";

const KEY_ID = "BENCHKEY01";
const TEAM_ID = "BENCHTEAM1";
const TOPIC = "im.monal.bench";

/** Which HTTP/2 server answers in the fake's process. */
type Engine = "node" | "deno";

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

/** Sends one push to `token`; true when delivered. */
type PushOne = (token: string) => Promise<boolean>;

/** The bare sender, with the payload and headers built once. */
function senderPush(sender: Http2ApnsSender): PushOne {
  const payload = apnsPayload(MONAL_PAYLOAD_SETTINGS, null);
  const headers = apnsHeaders(
    payload,
    { topic: TOPIC, ttlSeconds: 3600, collapseId: null },
    Date.now(),
  );
  return async (token) => (await sender.send(token, payload.json, headers)).kind === "delivered";
}

/** Through the app's delivery port, as the publish use case pushes. */
function appPush(app: AppDelivery): PushOne {
  const notification = {
    kind: "push" as const,
    accountId: "",
    counts: { messageCount: 1, pendingSubscriptionCount: 0 },
  };
  const options = { ttlSeconds: 86400 };
  return async (token) =>
    (await app.delivery.deliver(
      { service: "apns", app: "bench", address: token },
      notification,
      options,
    ))
      .kind === "delivered";
}

/** Sends `count` pushes with `concurrency` callers; returns the wall time in ms. */
async function run(
  push: PushOne,
  count: number,
  concurrency: number,
  offset: number,
): Promise<{ ms: number; failures: number }> {
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = offset + next++;
      const token = i.toString(16).padStart(64, "0");
      if (!(await push(token))) failures++;
    }
  }));
  return { ms: performance.now() - started, failures };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "serve-fake": { type: "string" },
      pushes: { type: "string", default: "50000" },
      concurrency: { type: "string", default: "500" },
      streams: { type: "string", default: "1000" },
      engine: { type: "string", default: "node" },
      path: { type: "string", default: "app" },
      "coalesce-ms": { type: "string", default: "250" },
    },
  });
  if (values["serve-fake"] !== undefined) {
    await serveFake(JSON.parse(values["serve-fake"]), values.engine as Engine);
  } else {
    const pushes = Number(values.pushes);
    const concurrency = Number(values.concurrency);
    const key = await generateApnsTestKey();
    const engine = values.engine as Engine;
    if (engine !== "node" && engine !== "deno") throw new Error("--engine is node or deno");
    const fake = await spawnFakeProcess<{ url: string; caCert: string }>([
      "--allow-all",
      import.meta.filename!,
      "--serve-fake",
      JSON.stringify({ keyId: KEY_ID, teamId: TEAM_ID, publicKeyPem: key.publicKeyPem }),
      "--engine",
      engine,
    ], "fake APNs");
    const { url, caCert } = fake.hello;
    const path = values.path;
    if (path !== "app" && path !== "sender") throw new Error("--path is app or sender");
    const dir = await Deno.makeTempDir({ prefix: "apns-bench-" });
    await Deno.writeTextFile(`${dir}/AuthKey.p8`, key.p8);
    await Deno.writeTextFile(`${dir}/ca.pem`, caCert);
    const app = await createApnsApp(
      "bench",
      ApnsAppSchema.parse({
        service: "apns",
        keyFile: `${dir}/AuthKey.p8`,
        keyId: KEY_ID,
        teamId: TEAM_ID,
        topic: TOPIC,
        url,
        caFile: `${dir}/ca.pem`,
        maxInFlight: Number(values.streams),
        maxQueued: concurrency,
        maxQueueWaitSeconds: 60,
        coalesceMs: Number(values["coalesce-ms"]),
      }),
      {
        store: {} as RegistrationStore,
        clock: { now: () => Date.now() },
        logger: { debug() {}, info() {}, warn() {}, error() {} },
        metrics: NO_METRICS,
      },
    );
    const sender = new Http2ApnsSender({
      environment: "production",
      providerToken: await ApnsProviderToken.create({
        keyId: KEY_ID,
        teamId: TEAM_ID,
        privateKeyPem: key.p8,
        clock: { now: () => Date.now() },
      }),
      baseUrl: url,
      caCerts: [caCert],
      maxConcurrentStreams: Number(values.streams),
      maxQueued: concurrency,
    });
    const push = path === "app" ? appPush(app) : senderPush(sender);
    await run(push, Math.min(5000, pushes), concurrency, 1_000_000_000); // warm-up
    const fakeBefore = await fake.stats();
    const cpuBefore = process.cpuUsage();
    const { ms, failures } = await run(push, pushes, concurrency, 0);
    const cpu = process.cpuUsage(cpuBefore);
    const fakeAfter = await fake.stats();
    console.log(JSON.stringify({
      scenario: "apns-send",
      path: path === "app" ? "createApnsApp delivery" : "bare sender",
      fake: engine === "node" ? "node:http2 test fake" : "Deno.serve lean responder",
      pushes,
      concurrency,
      failures,
      "pushes/s": Math.round(pushes / ms * 1000),
      "client cpu us/push": Math.round((cpu.user + cpu.system) / pushes),
      "fake cpu us/push": Math.round((fakeAfter.cpuUs - fakeBefore.cpuUs) / pushes),
      "connections (client, bare sender)": path === "sender" ? sender.counters.connections : 0,
      "connections (fake)": fakeAfter.connections,
      "max streams at once (fake)": fakeAfter.maxConcurrentStreamsSeen,
      "jwt verifications (fake)": fakeAfter.jwtVerifications,
      cores: navigator.hardwareConcurrency,
      loadavg: Deno.loadavg().map((x) => Math.round(x * 100) / 100),
    }));
    await sender.close();
    await app.close();
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
}
