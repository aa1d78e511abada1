/**
 * FCM HTTP v1 send throughput against the fake FCM: sends per second and CPU microseconds per
 * push in the sending process (the fake runs in a child process of its own, so its work is
 * not counted), over kept-alive HTTP/1.1, for each transport: fetch (default client), fetch
 * with a dedicated HTTP/1.1 pool, node:http with a keep-alive agent, and WNS's HTTP/1.1
 * client (what the server's FCM apps use). Not part of `deno task bench`: `push-inproc-fcm`
 * measures the whole server path.
 *
 * `deno run --allow-all bench/fcm_send.ts [--count=20000] [--concurrency=64] [--warmup=2000]`
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { fcmWakeup } from "../domain/payloads/fcm_payload.ts";
import { startFakeFcm } from "../adapters/push/fcm/fake_fcm_server.ts";
import { FcmSender } from "../adapters/push/fcm/fcm_sender.ts";
import { FcmTokenSource, MemoryFcmTokenCache } from "../adapters/push/fcm/fcm_token_source.ts";
import {
  fetchTransport,
  http1Transport,
  type HttpTransport,
  nodeHttpTransport,
} from "../adapters/push/fcm/http_transport.ts";
import { Http1Client } from "../adapters/push/wns/http1_client.ts";
import { parseServiceAccount } from "../adapters/push/fcm/service_account.ts";
import type { Logger } from "../domain/ports/logging.ts";
import { serveOverStdio, spawnFakeProcess } from "./fake_process.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Child mode: the fake FCM, counters only; prints its base URL and key file, waits for stdin to end. */
async function runFake(): Promise<void> {
  const fake = await startFakeFcm({ record: false });
  await serveOverStdio(
    { url: fake.url, serviceAccount: fake.serviceAccount },
    () => fake.counters,
    () => fake.close(),
  );
}

interface Result {
  readonly transport: string;
  readonly sends: number;
  readonly seconds: number;
  readonly sendsPerSecond: number;
  readonly cpuMicrosPerPush: number;
  readonly failures: number;
}

async function measure(
  name: string,
  transport: HttpTransport,
  fake: { url: string; serviceAccount: unknown },
  count: number,
  concurrency: number,
  warmup: number,
): Promise<Result> {
  const account = parseServiceAccount(fake.serviceAccount);
  const tokens = new FcmTokenSource({
    account,
    cache: new MemoryFcmTokenCache(),
    transport,
    clock: { now: Date.now },
    logger: quiet,
  });
  const sender = new FcmSender({
    projectId: account.project_id,
    tokens,
    transport,
    logger: quiet,
    baseUrl: fake.url,
    ttlSeconds: 86400,
  });
  const devices = Array.from(
    { length: 1000 },
    (_, i) => `bench${i}:APA91b${"x".repeat(134)}`,
  );
  const wakeup = fcmWakeup({ account: "ec164939a8485ee6b7f7871071a11c7bb18aead5" });
  let failures = 0;
  const run = async (n: number) => {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const outcome = await sender.send(devices[i % devices.length], wakeup.data, {
          collapseKey: wakeup.collapseKey,
        });
        if (outcome.kind !== "delivered") failures++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  await run(warmup);
  failures = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await run(count);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    transport: name,
    sends: count,
    seconds: Number(seconds.toFixed(2)),
    sendsPerSecond: Math.round(count / seconds),
    cpuMicrosPerPush: Math.round((cpu.user + cpu.system) / count),
    failures,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      fake: { type: "boolean", default: false },
      count: { type: "string", default: "20000" },
      concurrency: { type: "string", default: "64" },
      warmup: { type: "string", default: "2000" },
    },
  });
  if (values.fake) {
    await runFake();
  } else {
    const child = await spawnFakeProcess<{ url: string; serviceAccount: unknown }>(
      ["--allow-net", "--allow-read", import.meta.filename!, "--fake"],
      "fake FCM",
    );
    const fake = child.hello;
    const count = Number(values.count);
    const concurrency = Number(values.concurrency);
    const warmup = Number(values.warmup);
    const pool = Deno.createHttpClient({
      http1: true,
      http2: false,
      poolMaxIdlePerHost: concurrency,
    });
    const node = nodeHttpTransport({ maxSocketsPerHost: concurrency, maxFreeSockets: concurrency });
    const results: Result[] = [];
    results.push(await measure("fetch", fetchTransport(), fake, count, concurrency, warmup));
    results.push(
      await measure(
        "fetch + HTTP/1.1 pool",
        fetchTransport({ client: pool }),
        fake,
        count,
        concurrency,
        warmup,
      ),
    );
    results.push(
      await measure("node:http keep-alive", node.send, fake, count, concurrency, warmup),
    );
    const http1 = new Http1Client({ maxIdlePerOrigin: concurrency });
    results.push(
      await measure("http1_client", http1Transport(http1), fake, count, concurrency, warmup),
    );
    pool.close();
    node.close();
    http1.close();
    console.error(JSON.stringify(await child.stats()));
    await child.close();
    console.log(`FCM send against the fake (concurrency ${concurrency}, ${count} sends each):`);
    console.table(results);
    console.log(JSON.stringify(results));
  }
}
