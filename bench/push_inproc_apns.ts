/**
 * push-inproc-apns: push-inproc for an APNs app. Publishes handed to the running server's
 * XMPP side in process (publish parsing, the publish use case, the shared delivery policy,
 * the APNs app's payload and headers, HTTP/2 streams on the app's one connection to the fake
 * APNs in another process, the IQ answer), as fast as the server takes them. Two paths:
 * - `stateless`: Monal's publishes (node = a device token, `pushModule` in the
 *   publish-options): fpush's dialect, no storage lookup, the blocklist and per-token rate
 *   checked;
 * - `registered`: p2-style registrations (`register-push-apns`), node and secret, bulk-loaded
 *   as the command door stores them into SQLite or Redis (`--storage`) in a child process.
 * Every publish goes to its own token, with coalescing off, so every one is an APNs request.
 * The stateless path reads no registration: it runs once, on an empty SQLite file.
 *
 * @module
 */

import type { Element } from "@xmpp/xml";
import { generateApnsTestKey } from "../adapters/push/apns/fake_apns_server.ts";
import { publishIq } from "../adapters/xmpp/publish_builder.ts";
import { APNS_BENCH_APP, apnsBenchToken } from "./bench_registrations.ts";
import { BENCH_APNS_TOPIC, type Engine, startFakeApnsProcess } from "./fake_apns_process.ts";
import {
  BENCH_DOMAIN,
  benchPublish,
  openBenchStorage,
  startBenchServer,
  type StorageKind,
  UNUSED_WNS,
} from "./fixtures.ts";
import type { Publishes } from "./push_driver.ts";
import { measurePushes, pushRow, STORAGES } from "./push_inproc.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";

const APP = APNS_BENCH_APP;
const MODULE = "benchProdiOS";
const KEY_ID = "BENCHKEY01";
const TEAM_ID = "BENCHTEAM1";
const PATHS = ["stateless", "registered"] as const;
type Path = typeof PATHS[number];

/** Monal's publish for token `i`, as Prosody sends it: `pushModule` in the publish-options. */
export function monalBenchPublish(i: number): Element {
  const iq = publishIq({
    node: apnsBenchToken(i),
    secret: MODULE,
    to: BENCH_DOMAIN,
    summary: { "message-count": "1" },
  });
  // The form p2's clients fill with `secret`, Monal fills with `pushModule`.
  const field = iq.getChild("pubsub")!.getChild("publish-options")!.getChild("x")!
    .getChildren("field").find((f: Element) => f.attrs.var === "secret")!;
  field.attrs.var = "pushModule";
  return iq;
}

function publishesFor(path: Path, from: number, to: number): Publishes {
  const make = path === "stateless" ? monalBenchPublish : benchPublish;
  return { count: to - from, make: (k) => make(from + k) };
}

export const pushInprocApns: Scenario = {
  name: "push-inproc-apns",
  summary: "publishes handed to the server in process -> (stateless | store) -> HTTP/2 " +
    "stream to the fake APNs",
  flagsHelp: "--path=stateless,registered --storage=sqlite,redis (registered path; stateless " +
    "runs once) --count=50000 (pushes, each to its own token) --concurrency=64 (publishes " +
    "outstanding) --warmup=5000 --inflight=1000 (streams) --engine=node|deno (the fake: " +
    "node:http2 test fake, or a lean Deno.serve responder)",
  async run({ flags, dir, logLevel, progress }) {
    const paths = flags.choices("path", PATHS, PATHS);
    const storages = flags.choices("storage", STORAGES, STORAGES);
    const count = flags.int("count", 50_000);
    const concurrency = flags.int("concurrency", 64);
    const warmup = Math.min(count, flags.int("warmup", 5000));
    const inflight = flags.int("inflight", 1000);
    const [engine] = flags.choices<Engine>("engine", ["node", "deno"], ["deno"]);
    const rows: Row[] = [];
    const notes: string[] = [];
    const key = await generateApnsTestKey();
    const keyFile = `${dir}/AuthKey_${KEY_ID}.p8`;
    await Deno.writeTextFile(keyFile, key.p8);
    // The stateless path looks nothing up: one run, on an empty SQLite file.
    const runs = paths.flatMap((path): { path: Path; kind: StorageKind }[] =>
      path === "stateless" ? [{ path, kind: "sqlite" }] : storages.map((kind) => ({ path, kind }))
    );
    for (const { path, kind } of runs) {
      const label = path === "stateless"
        ? `push-inproc-apns ${path}`
        : `push-inproc-apns ${path} ${kind}`;
      // A fake per run: Deno 2.9.6's node:http2 server may abort when a client leaves.
      const fake = await startFakeApnsProcess(
        { keyId: KEY_ID, teamId: TEAM_ID, publicKeyPem: key.publicKeyPem },
        engine,
      );
      const caFile = `${dir}/bench-apns-ca.pem`;
      await Deno.writeTextFile(caFile, fake.caCert);
      try {
        const storage = await openBenchStorage(kind, dir);
        try {
          if (path === "registered") {
            progress(`${label}: loading ${count} registrations`);
            const loadMs = await storage.loadUpTo(count, { service: "apns" });
            const seconds = (loadMs / 1000).toFixed(1);
            notes.push(`${kind}: ${count} registrations loaded in ${seconds} s`);
          }
          const bench = await startBenchServer({
            dir,
            storageUrl: storage.url,
            wns: UNUSED_WNS,
            logLevel,
            apps: {
              [APP]: {
                service: "apns",
                keyFile,
                keyId: KEY_ID,
                teamId: TEAM_ID,
                topic: BENCH_APNS_TOPIC,
                url: fake.url,
                caFile,
                pushModules: [MODULE],
                coalesceMs: 0,
                maxInFlight: inflight,
                maxQueued: concurrency,
                maxQueueWaitSeconds: 60,
                // Each token is pushed twice (warm-up, run): within any rate.
                tokenRateLimit: { maxTokens: 2 * count },
              },
            },
          });
          try {
            const { run, before, after } = await measurePushes({
              label,
              publish: bench.publish,
              publishes: (from, to) => publishesFor(path, from, to),
              warmup,
              count,
              concurrency,
              counters: () => fake.stats(),
              progress,
            });
            rows.push({
              path,
              storage: path === "stateless" ? "none" : kind,
              ...pushRow(run),
              "fake cpu us/push": Math.round((after.cpuUs - before.cpuUs) / count),
              "apns 200s": after.delivered - before.delivered,
              "fake connections": after.connections ?? -1,
              "jwt verifications": after.jwtVerifications,
            });
            if (run.firstError) notes.push(`${label}: first error answer: ${run.firstError}`);
          } finally {
            await bench.close();
          }
        } finally {
          await storage.close();
        }
      } finally {
        await fake.close();
      }
    }
    notes.push(
      "latency: from handing the publish IQ to the server to its IQ answer, which comes " +
        "after the fake APNs answered the stream",
      "cpu us/push: CPU time of the benchmark process (server and load generator) per push; " +
        "fake cpu us/push: the fake APNs's own process; redis-server runs in its own too",
      "storage none: the stateless path reads no registration (the server runs on an empty " +
        "SQLite file)",
      "fake connections and jwt verifications: the fake's totals (a fake per row; -1: the " +
        "lean responder does not count connections)",
    );
    return {
      sizes: { paths, storages, count, concurrency, warmup, inflight, engine, logLevel },
      rows,
      notes,
    };
  },
};
