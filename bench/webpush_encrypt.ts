/**
 * Web Push micro-benchmark (issue 16 groundwork; not wired into bench/main.ts): what one push
 * costs the sender in CPU, and where it goes.
 *
 * 1. Per-step cost of RFC 8291 encryption (sequential, one at a time): ephemeral key
 *    generation + export, ECDH, the three HKDFs, AES-128-GCM; and the VAPID signature that
 *    the per-audience cache saves.
 * 2. Encryptions per second with many in flight.
 * 3. Whole pushes (policy check + encrypt + cached VAPID + HTTPS POST over kept-alive
 *    connections) against the fake push service running in its own process (its jose and
 *    http_ece work is not counted): pushes per second and sender CPU per push; once against
 *    a fake that verifies everything, once against one that checks headers only.
 * 4. The transport alone, node:https (what the sender uses) vs fetch, same body and headers.
 * 5. For comparison only (not used by the sender): the same steps with node:crypto.
 *
 * CPU is this process's user + system time (all its threads), divided by the operations.
 *
 * `deno run --allow-all bench/webpush_encrypt.ts [--pushes N] [--concurrency C]
 *  [--subscriptions S]`
 *
 * @module
 */

import { createCipheriv, createECDH, hkdfSync } from "node:crypto";
import https from "node:https";
import { parseArgs } from "node:util";
import {
  encryptAes128gcm,
  generateEphemeralKey,
  ReceiverKeys,
} from "../adapters/push/webpush/aes128gcm.ts";
import { EndpointPolicy } from "../adapters/push/webpush/endpoint_policy.ts";
import { exportRawPublicKey } from "../adapters/push/webpush/p256_keys.ts";
import { loadSubscription } from "../adapters/push/webpush/subscription.ts";
import { VapidAuthorizer } from "../adapters/push/webpush/vapid_authorizer.ts";
import { signVapidJwt } from "../adapters/push/webpush/vapid_jwt.ts";
import { VapidKeys } from "../adapters/push/webpush/vapid_keys.ts";
import { WebPushSender } from "../adapters/push/webpush/web_push_sender.ts";
import { cpuMicros } from "./push_driver.ts";
import { startWebPushFakeProcess, throughput } from "./webpush_bench_kit.ts";

const PAYLOAD = new TextEncoder().encode(
  '{"version":1,"account_id":"0123456789abcdefghij","message_count":3,"presence_count":0}',
);

/** Runs `op` n times one after the other; wall and CPU µs per call. */
async function perCall(n: number, op: () => Promise<unknown>) {
  for (let i = 0; i < Math.min(200, n); i++) await op();
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await op();
  const wallUs = (performance.now() - t0) * 1000 / n;
  return { wallUs, cpuUs: (cpuMicros() - cpu0) / n };
}

const fmt = (x: number) => x.toFixed(1).padStart(8);

/** The fake push service in its own process, with `count` subscriptions bound to `vapidKey`. */
async function startFakeProcess(vapidKey: string, count: number, verify: boolean) {
  const fake = await startWebPushFakeProcess(vapidKey, count, verify);
  return {
    ...fake.hello,
    stats: () => fake.stats<{ requests: number; accepted: number }>(),
    stop: () => fake.close(),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      pushes: { type: "string", default: "20000" },
      concurrency: { type: "string", default: "64" },
      subscriptions: { type: "string", default: "200" },
    },
  });
  const pushes = Number(values.pushes);
  const concurrency = Number(values.concurrency);
  const subscriptionCount = Number(values.subscriptions);

  const vapid = await VapidKeys.generate();
  const fake = await startFakeProcess(vapid.publicKey, subscriptionCount, true);
  const subscriptions = await Promise.all(fake.subscriptions.map((s) => loadSubscription(s)));
  const receiver: ReceiverKeys = subscriptions[0].keys;

  // 1. Where the time of one encryption goes.
  console.log("1. per step, sequential (µs per call)          wall      CPU");
  const ephemeral = await generateEphemeralKey();
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const ikm = crypto.getRandomValues(new Uint8Array(32));
  const info = new Uint8Array(144);
  const cek = crypto.getRandomValues(new Uint8Array(16));
  const record = new Uint8Array(PAYLOAD.byteLength + 1);
  const steps: Array<[string, () => Promise<unknown>]> = [
    [
      "ephemeral P-256 key: generateKey",
      () => crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]),
    ],
    ["public key: exportKey raw", () => exportRawPublicKey(receiver.publicKey)],
    ["ECDH: deriveBits", () =>
      crypto.subtle.deriveBits(
        { name: "ECDH", public: receiver.publicKey },
        ephemeral.privateKey,
        256,
      )],
    ["HKDF (importKey + deriveBits), x3 per push", async () => {
      const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
      return crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, key, 256);
    }],
    ["AES-128-GCM: importKey + encrypt", async () => {
      const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["encrypt"]);
      return crypto.subtle.encrypt({ name: "AES-GCM", iv: salt.subarray(0, 12) }, key, record);
    }],
    ["whole encryptAes128gcm", () => encryptAes128gcm(PAYLOAD, receiver)],
    [
      "VAPID ES256 signature (saved by the cache)",
      () =>
        signVapidJwt(
          { aud: fake.origin, exp: 2_000_000_000, sub: "mailto:a@b.c" },
          vapid.privateKey,
        ),
    ],
  ];
  for (const [name, op] of steps) {
    const r = await perCall(2000, op);
    console.log(`   ${name.padEnd(43)} ${fmt(r.wallUs)} ${fmt(r.cpuUs)}`);
  }

  // 2. Encryption throughput.
  const enc = await throughput(
    pushes,
    concurrency,
    (i) => encryptAes128gcm(PAYLOAD, subscriptions[i % subscriptions.length].keys),
  );
  console.log(
    `2. encryptions: ${enc.perSecond.toFixed(0)}/s with ${concurrency} in flight, ` +
      `${enc.cpuUs.toFixed(1)} µs CPU each`,
  );

  // 3. Whole pushes against the fake push service in its own process: first one that
  // verifies and decrypts everything (on two cores it competes with the sender for CPU),
  // then one that only checks headers, so that the sender is what limits the rate.
  const fast = await startFakeProcess(vapid.publicKey, subscriptionCount, false);
  const fastSubscriptions = await Promise.all(
    fast.subscriptions.map((s) => loadSubscription(s)),
  );
  for (
    const [label, service, targets] of [
      ["verifying fake", fake, subscriptions],
      ["header-only fake", fast, fastSubscriptions],
    ] as const
  ) {
    const sender = new WebPushSender({
      // The fakes are on loopback: nothing else resolves.
      policy: new EndpointPolicy({
        allowPrivate: true,
        resolve: () => Promise.resolve([{ address: "127.0.0.1", family: 4 }]),
      }),
      authorizer: new VapidAuthorizer({ keys: vapid, subject: "mailto:bench@push.example" }),
      caCerts: [service.cert],
      maxSocketsPerHost: concurrency,
    });
    let failures = 0;
    const send = async (i: number) => {
      const outcome = await sender.send({
        subscription: targets[i % targets.length],
        payload: PAYLOAD,
        ttlSeconds: 3600,
      });
      if (outcome.kind !== "delivered") failures++;
    };
    await throughput(Math.min(1000, pushes), concurrency, send); // warm-up: connections, JIT
    const before = await service.stats();
    const push = await throughput(pushes, concurrency, send);
    const after = await service.stats();
    console.log(
      `3. pushes, ${label.padEnd(16)} (encrypt + cached VAPID + HTTPS POST): ` +
        `${push.perSecond.toFixed(0)}/s with ${concurrency} in flight, ` +
        `${push.cpuUs.toFixed(1)} µs sender CPU each; ` +
        `accepted ${after.accepted - before.accepted}/${pushes}, failures ${failures}`,
    );
    sender.close();
  }

  // 4. The transport alone: one encrypted body and header set, node:https vs fetch.
  const authorization = await new VapidAuthorizer({ keys: vapid, subject: "mailto:a@b.c" })
    .authorization(fast.origin);
  const body4 = await encryptAes128gcm(PAYLOAD, fastSubscriptions[0].keys);
  const endpoint = new URL(fast.subscriptions[0].endpoint);
  const headers = {
    "TTL": "60",
    "Urgency": "normal",
    "Content-Encoding": "aes128gcm",
    "Content-Type": "application/octet-stream",
    "Authorization": authorization,
  };
  const agent = new https.Agent({ keepAlive: true, maxSockets: concurrency });
  const viaNode = () =>
    new Promise<number>((resolve, reject) => {
      const request = https.request({
        method: "POST",
        hostname: endpoint.hostname,
        port: Number(endpoint.port),
        path: endpoint.pathname,
        headers: { ...headers, "Content-Length": String(body4.byteLength) },
        agent,
        ca: [fast.cert],
        lookup: ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
          o?.all
            ? cb(null, [{ address: "127.0.0.1", family: 4 }])
            : cb(null, "127.0.0.1", 4)) as never,
      }, (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      });
      request.on("error", reject);
      request.end(body4);
    });
  const client = Deno.createHttpClient({ caCerts: [fast.cert] });
  const viaFetch = async () => {
    const response = await fetch(endpoint, {
      method: "POST",
      headers,
      body: body4,
      client,
      redirect: "manual",
    });
    await response.body?.cancel();
    return response.status;
  };
  const transports: Array<[string, () => Promise<number>]> = [
    ["node:https", viaNode],
    ["fetch", viaFetch],
  ];
  const n = Math.min(pushes, 10_000);
  for (const [name, op] of transports) {
    await throughput(1000, concurrency, op);
    const r = await throughput(n, concurrency, op);
    console.log(
      `4. transport ${name.padEnd(10)}: ${r.perSecond.toFixed(0)}/s, ` +
        `${r.cpuUs.toFixed(1)} µs sender CPU per POST`,
    );
  }

  // 5. node:crypto for the same steps, for comparison (the sender uses WebCrypto).
  console.log("5. node:crypto, for comparison (µs per call)     wall      CPU");
  const uaPublic = receiver.publicKeyBytes;
  const sender2 = createECDH("prime256v1");
  sender2.generateKeys();
  const secret = sender2.computeSecret(uaPublic);
  const nodeSteps: Array<[string, () => unknown]> = [
    ["ECDH key pair: createECDH + generateKeys", () => createECDH("prime256v1").generateKeys()],
    ["ECDH: computeSecret", () => sender2.computeSecret(uaPublic)],
    ["HKDF: hkdfSync, x3 per push", () => hkdfSync("sha256", secret, salt, info, 32)],
    ["AES-128-GCM: createCipheriv + final", () => {
      const cipher = createCipheriv("aes-128-gcm", cek, salt.subarray(0, 12));
      cipher.update(record);
      cipher.final();
      return cipher.getAuthTag();
    }],
  ];
  for (const [name, op] of nodeSteps) {
    const r = await perCall(2000, () => Promise.resolve(op()));
    console.log(`   ${name.padEnd(43)} ${fmt(r.wallUs)} ${fmt(r.cpuUs)}`);
  }

  agent.destroy();
  client.close();
  await fake.stop();
  await fast.stop();
}
