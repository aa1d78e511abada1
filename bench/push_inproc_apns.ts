/**
 * push-inproc-apns: push-inproc for an APNs app. Publishes handed to the running server's
 * XMPP side in process (publish parsing, the publish use case, the shared delivery policy,
 * the APNs app's payload and headers, HTTP/2 streams on the app's one connection to the fake
 * APNs in another process, the IQ answer), as fast as the server takes them. Two paths:
 * - `stateless`: Monal's publishes (node = a device token, `pushModule` in the
 *   publish-options): fpush's dialect, no storage lookup, the blocklist and per-token rate
 *   checked;
 * - `registered`: p2-style registrations (`register-push-apns`) in SQLite, node and secret.
 * Every publish goes to its own token, with coalescing off, so every one is an APNs request.
 *
 * @module
 */

import type { Element } from "@xmpp/xml";
import { generateApnsTestKey } from "../adapters/push/apns/fake_apns_server.ts";
import { publishIq } from "../adapters/xmpp/publish_builder.ts";
import { bulkLoadAppSqlite, withAppSqlite } from "./app_sqlite.ts";
import { BENCH_APNS_TOPIC, type Engine, startFakeApnsProcess } from "./fake_apns_process.ts";
import { BENCH_DOMAIN, benchIds, benchPublish, startBenchServer, UNUSED_WNS } from "./fixtures.ts";
import type { Publishes } from "./push_driver.ts";
import { measurePushes, pushRow } from "./push_inproc.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";

const APP = "bench-ios";
const MODULE = "benchProdiOS";
const KEY_ID = "BENCHKEY01";
const TEAM_ID = "BENCHTEAM1";
const PATHS = ["stateless", "registered"] as const;
type Path = typeof PATHS[number];

/** Device token `i`: 64 lower-case hex digits. */
export function apnsBenchToken(i: number): string {
  return i.toString(16).padStart(64, "0");
}

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

/**
 * Writes APNs registrations `0` to `count - 1` (as the command door stores them: target
 * {apns, app, token}, one account) straight into the SQLite file.
 */
export function bulkLoadApnsSqlite(path: string, count: number): void {
  bulkLoadAppSqlite(path, count, "apns", APP, (i) => {
    const { node, secret } = benchIds(i);
    const hash = i.toString(16).padStart(40, "0");
    return {
      deviceId: `apns:${APP}:${hash}`,
      token: apnsBenchToken(i),
      node,
      accountId: hash,
      secret,
    };
  });
}

function publishesFor(path: Path, from: number, to: number): Publishes {
  const make = path === "stateless" ? monalBenchPublish : benchPublish;
  return { count: to - from, make: (k) => make(from + k) };
}

export const pushInprocApns: Scenario = {
  name: "push-inproc-apns",
  summary: "publishes handed to the server in process -> (stateless | SQLite) -> HTTP/2 " +
    "stream to the fake APNs",
  flagsHelp: "--path=stateless,registered --count=50000 (pushes, each to its own token) " +
    "--concurrency=64 (publishes outstanding) --warmup=5000 --inflight=1000 (streams) " +
    "--engine=node|deno (the fake: node:http2 test fake, or a lean Deno.serve responder)",
  async run({ flags, dir, logLevel, progress }) {
    const paths = flags.choices("path", PATHS, PATHS);
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
    for (const path of paths) {
      // A fake per path: Deno 2.9.6's node:http2 server may abort when a client leaves.
      const fake = await startFakeApnsProcess(
        { keyId: KEY_ID, teamId: TEAM_ID, publicKeyPem: key.publicKeyPem },
        engine,
      );
      const caFile = `${dir}/bench-apns-ca.pem`;
      await Deno.writeTextFile(caFile, fake.caCert);
      try {
        await withAppSqlite(dir, "bench-apns", async (db) => {
          if (path === "registered") {
            progress(`push-inproc-apns ${path}: loading ${count} registrations`);
            bulkLoadApnsSqlite(db, count);
          }
          const bench = await startBenchServer({
            dir,
            storageUrl: `sqlite:${db}`,
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
              label: `push-inproc-apns ${path}`,
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
              ...pushRow(run),
              "fake cpu us/push": Math.round((after.cpuUs - before.cpuUs) / count),
              "apns 200s": after.delivered - before.delivered,
              "fake connections": after.connections ?? -1,
              "jwt verifications": after.jwtVerifications,
            });
            if (run.firstError) notes.push(`${path}: first error answer: ${run.firstError}`);
          } finally {
            await bench.close();
          }
        });
      } finally {
        await fake.close();
      }
    }
    notes.push(
      "latency: from handing the publish IQ to the server to its IQ answer, which comes " +
        "after the fake APNs answered the stream",
      "cpu us/push: CPU time of the benchmark process (server and load generator) per push; " +
        "fake cpu us/push: the fake APNs's own process",
      "fake connections and jwt verifications: the fake's totals (a fake per path; -1: the " +
        "lean responder does not count connections)",
    );
    return {
      sizes: { count, concurrency, warmup, inflight, engine, logLevel },
      rows,
      notes,
    };
  },
};
