/**
 * apns-send: how fast APNs pushes go out over ONE multiplexed HTTP/2 connection to the fake
 * APNs running in another process (so the fake's work does not share this event loop).
 * `--path app` (default): through `createApnsApp`'s delivery, i.e. what the use cases call:
 * payload and headers built per push, the shared delivery policy (gate, backoff, retries),
 * metering; `--path sender`: the bare {@link Http2ApnsSender}. Prints pushes/s
 * and the client's CPU µs per push, plus the fake's counters (one connection, JWT verified
 * once). Not part of `deno task bench` (`push-inproc-apns` measures the whole server path).
 *
 * `deno run --allow-all bench/apns_send.ts [--pushes N] [--concurrency C] [--streams S]
 *   [--engine node|deno] [--path app|sender]`
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { apnsHeaders } from "../domain/payloads/apns_headers.ts";
import { apnsPayload, MONAL_PAYLOAD_SETTINGS } from "../domain/payloads/apns_payload.ts";
import { generateApnsTestKey } from "../adapters/push/apns/fake_apns_server.ts";
import { Http2ApnsSender } from "../adapters/push/apns/http2_apns_sender.ts";
import { ApnsProviderToken } from "../adapters/push/apns/provider_token.ts";
import { ApnsAppSchema } from "../app/config/apns_app.ts";
import { createApnsApp } from "../app/wiring/apns_wiring.ts";
import type { AppDelivery } from "../app/wiring/app_delivery.ts";
import type { RegistrationStore } from "../domain/ports/storage.ts";
import { NO_METRICS } from "../domain/ports/metrics.ts";
import { BENCH_APNS_TOPIC, type Engine, startFakeApnsProcess } from "./fake_apns_process.ts";

const KEY_ID = "BENCHKEY01";
const TEAM_ID = "BENCHTEAM1";
const TOPIC = BENCH_APNS_TOPIC;

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
      pushes: { type: "string", default: "50000" },
      concurrency: { type: "string", default: "500" },
      streams: { type: "string", default: "1000" },
      engine: { type: "string", default: "node" },
      path: { type: "string", default: "app" },
    },
  });
  const pushes = Number(values.pushes);
  const concurrency = Number(values.concurrency);
  const key = await generateApnsTestKey();
  const engine = values.engine as Engine;
  if (engine !== "node" && engine !== "deno") throw new Error("--engine is node or deno");
  const fake = await startFakeApnsProcess(
    { keyId: KEY_ID, teamId: TEAM_ID, publicKeyPem: key.publicKeyPem },
    engine,
  );
  const { url, caCert } = fake;
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
