/**
 * push-inproc for Web Push (issue 16): pushes per second and CPU per push through the whole
 * app as the server wires it (`createWebPushApp`: the shared delivery policy, the target
 * address parsed and its keys cached, the JSON payload, the per-account topic, RFC 8291
 * encryption, the cached VAPID JWT, the endpoint policy and an HTTPS POST on kept-alive
 * connections), against the fake push service in a process of its own (its jose and http_ece
 * work is not counted), once verifying everything and once checking headers only (so the
 * sender is what limits the rate). Then the CPU of one encryption alone, for where it goes.
 *
 * CPU is this process's user + system time (all its threads), divided by the pushes.
 *
 * `deno run --allow-all bench/webpush_app.ts [--pushes N] [--concurrency C] [--workers 0,1,2]
 *  [--subscriptions S] [--ecdh webcrypto|openssl]` (openssl: also `--allow-ffi`, which
 *  --allow-all includes)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { WebPushAppSchema } from "../app/config/webpush_app.ts";
import { createWebPushApp } from "../app/wiring/webpush_wiring.ts";
import { encryptAes128gcm } from "../adapters/push/webpush/aes128gcm.ts";
import { loadSubscription } from "../adapters/push/webpush/subscription.ts";
import { VapidKeys } from "../adapters/push/webpush/vapid_keys.ts";
import { formatWebPushAddress } from "../adapters/push/webpush/webpush_address.ts";
import { MemoryStore } from "../adapters/storage/memory/memory_store.ts";
import { NO_METRICS } from "../domain/ports/metrics.ts";
import type { Notification } from "../domain/ports/push_delivery.ts";
import type { PushTarget } from "../domain/push_target.ts";
import { webPushPayload } from "../domain/payloads/webpush_payload.ts";
import { startWebPushFakeProcess, throughput } from "./webpush_bench_kit.ts";

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

/** One run: pushes/s and CPU µs per push through the app's delivery. */
export async function benchWebPushApp(
  options: {
    pushes: number;
    concurrency: number;
    subscriptions: number;
    verify: boolean;
    /** Encryption workers (`encryptionWorkers`); 0: in the sending thread. */
    workers?: number;
    /** `ecdh`: whose P-256 makes the ephemeral pair and ECDH. */
    ecdh?: "webcrypto" | "openssl";
  },
) {
  const vapid = await VapidKeys.generate();
  const fake = await startWebPushFakeProcess(
    vapid.publicKey,
    options.subscriptions,
    options.verify,
  );
  const config = WebPushAppSchema.parse({
    service: "webpush",
    vapid: { subject: "mailto:bench@push.example", keys: vapid.serialize() },
    allowPrivateAddresses: true,
    maxInFlight: options.concurrency,
    maxInFlightPerHost: options.concurrency,
    maxQueued: options.pushes,
    encryptionWorkers: options.workers ?? 0,
    ecdh: options.ecdh ?? "webcrypto",
  });
  const app = await createWebPushApp("bench", config, {
    store: new MemoryStore(),
    clock: { now: () => Date.now() },
    logger: SILENT,
    metrics: NO_METRICS,
  }, {
    resolve: () => Promise.resolve([{ address: "127.0.0.1", family: 4 }]),
    caCerts: [fake.hello.cert],
  });
  const targets: PushTarget[] = fake.hello.subscriptions.map((s) => ({
    service: "webpush",
    app: "bench",
    address: formatWebPushAddress({ endpoint: s.endpoint, ...s.keys }),
  }));
  const notifications: Notification[] = targets.map((_, i) => ({
    kind: "push",
    accountId: i.toString(16).padStart(64, "0"),
    counts: { messageCount: 3, pendingSubscriptionCount: 0 },
  }));
  let failures = 0;
  const push = async (i: number) => {
    const k = i % targets.length;
    const outcome = await app.delivery.deliver(targets[k], notifications[k], {
      ttlSeconds: 86_400,
    });
    if (outcome.kind !== "delivered") failures++;
  };
  try {
    await throughput(Math.min(1000, options.pushes), options.concurrency, push); // warm-up
    failures = 0;
    const before = await fake.stats<{ accepted: number }>();
    const result = await throughput(options.pushes, options.concurrency, push);
    const after = await fake.stats<{ accepted: number }>();
    return { ...result, failures, accepted: after.accepted - before.accepted };
  } finally {
    await app.close();
    await fake.close();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      pushes: { type: "string", default: "10000" },
      concurrency: { type: "string", default: "64" },
      subscriptions: { type: "string", default: "200" },
      workers: { type: "string", default: "0,1,2" },
      ecdh: { type: "string", default: "webcrypto" },
    },
  });
  if (values.ecdh !== "webcrypto" && values.ecdh !== "openssl") {
    throw new Error("--ecdh is webcrypto or openssl");
  }
  const ecdh = values.ecdh;
  const pushes = Number(values.pushes);
  const concurrency = Number(values.concurrency);
  const subscriptions = Number(values.subscriptions);
  const runs = [
    { verify: true, workers: 0 },
    ...values.workers.split(",").map((w) => ({
      verify: false,
      workers: Number(w),
    })),
  ];
  for (const { verify, workers } of runs) {
    const r = await benchWebPushApp({
      pushes,
      concurrency,
      subscriptions,
      verify,
      workers,
      ecdh,
    });
    console.log(
      `push-inproc webpush, ${verify ? "verifying fake  " : "header-only fake"}, ` +
        `${workers} encryption workers, ecdh ${ecdh}: ` +
        `${r.perSecond.toFixed(0)} pushes/s with ${concurrency} in flight, ` +
        `${r.cpuUs.toFixed(0)} µs sender CPU per push; accepted ${r.accepted}/${pushes}, ` +
        `failures ${r.failures}`,
    );
  }
  // Where it goes: one encryption alone (two P-256 scalar multiplications: the ephemeral
  // public key and the ECDH; HKDF and AES-GCM are a few µs).
  const vapid = await VapidKeys.generate();
  const fake = await startWebPushFakeProcess(vapid.publicKey, 1, false);
  const subscription = await loadSubscription(fake.hello.subscriptions[0]);
  await fake.close();
  const payload = new TextEncoder().encode(
    webPushPayload({
      kind: "push",
      accountId: "0".repeat(64),
      counts: { messageCount: 3, pendingSubscriptionCount: 0 },
    }),
  );
  const enc = await throughput(
    Math.min(pushes, 5000),
    concurrency,
    () => encryptAes128gcm(payload, subscription.keys),
  );
  console.log(
    `encryption alone: ${enc.perSecond.toFixed(0)}/s, ${enc.cpuUs.toFixed(0)} µs CPU each`,
  );
  if (ecdh === "openssl") {
    const { OpenSslP256 } = await import("../adapters/push/webpush/openssl_p256.ts");
    const p256 = OpenSslP256.open();
    const agree = (point: Uint8Array) => p256.agree(point);
    const ossl = await throughput(
      Math.min(pushes, 5000),
      concurrency,
      () => encryptAes128gcm(payload, subscription.keys, { agree }),
    );
    console.log(
      `encryption alone, OpenSSL ECDH: ${ossl.perSecond.toFixed(0)}/s, ` +
        `${ossl.cpuUs.toFixed(0)} µs CPU each`,
    );
    const pair = await throughput(
      Math.min(pushes, 5000),
      concurrency,
      () => Promise.resolve(agree(subscription.keys.publicKeyBytes)),
    );
    console.log(`  OpenSSL key pair + ECDH: ${pair.cpuUs.toFixed(0)} µs CPU each`);
    p256.close();
  }
  // The same with the ephemeral pair made as before (ECDH pair, public point exported).
  const before = await throughput(Math.min(pushes, 5000), concurrency, async () => {
    const made = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, [
      "deriveBits",
    ]) as CryptoKeyPair;
    const publicKeyBytes = new Uint8Array(await crypto.subtle.exportKey("raw", made.publicKey));
    return encryptAes128gcm(payload, subscription.keys, {
      ephemeralKey: { privateKey: made.privateKey, publicKeyBytes },
    });
  });
  console.log(
    `encryption alone, ephemeral pair made as before: ${before.perSecond.toFixed(0)}/s, ` +
      `${before.cpuUs.toFixed(0)} µs CPU each`,
  );
  // And its parts, one at a time (WebCrypto, as aes128gcm.ts calls them), beside the way it
  // was made before (an ECDH pair whose public point is exported: one more multiplication).
  const ecdhAlgorithm = { name: "ECDH", namedCurve: "P-256" };
  const ecdsaAlgorithm = { name: "ECDSA", namedCurve: "P-256" };
  const pair = await crypto.subtle.generateKey(ecdhAlgorithm, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const signing = await crypto.subtle.generateKey(ecdsaAlgorithm, true, ["sign"]) as CryptoKeyPair;
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", signing.privateKey);
  const parts: [string, () => Promise<unknown>][] = [
    [
      "generateKey ECDSA (ephemeral pair)",
      () => crypto.subtle.generateKey(ecdsaAlgorithm, true, ["sign"]),
    ],
    [
      "exportKey pkcs8 (scalar and point)",
      () => crypto.subtle.exportKey("pkcs8", signing.privateKey),
    ],
    [
      "importKey pkcs8 as ECDH",
      () => crypto.subtle.importKey("pkcs8", pkcs8, ecdhAlgorithm, false, ["deriveBits"]),
    ],
    ["deriveBits (ECDH)", () =>
      crypto.subtle.deriveBits(
        { name: "ECDH", public: subscription.keys.publicKey },
        pair.privateKey,
        256,
      )],
    [
      "before: generateKey ECDH",
      () => crypto.subtle.generateKey(ecdhAlgorithm, true, ["deriveBits"]),
    ],
    [
      "before: exportKey raw of its public key",
      () => crypto.subtle.exportKey("raw", pair.publicKey),
    ],
  ];
  for (const [name, op] of parts) {
    const r = await throughput(Math.min(pushes, 3000), concurrency, op);
    console.log(`  ${name}: ${r.cpuUs.toFixed(0)} µs CPU each`);
  }
}
