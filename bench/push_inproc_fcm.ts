/**
 * push-inproc-fcm: push-inproc for an FCM app. Publishes handed to the running server's
 * XMPP side in process (publish parsing, the publish use case, the store lookup, the shared
 * delivery policy, the FCM HTTP v1 sender on the kept-alive HTTP/1.1 client, an HTTP POST
 * to the fake FCM in another process, the IQ answer), as fast as the server takes them.
 * Every publish goes to its own registration (as the command door stores them, bulk-loaded
 * into SQLite or Redis in a child process), with coalescing off, so every one is an FCM
 * request.
 *
 * @module
 */

import { FCM_BENCH_APP } from "./bench_registrations.ts";
import { startFakeFcmProcess } from "./fake_fcm_process.ts";
import { openBenchStorage, startBenchServer, UNUSED_WNS } from "./fixtures.ts";
import { measurePushes, publishes, pushRow, STORAGES } from "./push_inproc.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";

export const pushInprocFcm: Scenario = {
  name: "push-inproc-fcm",
  summary: "publishes handed to the server in process -> store -> FCM POST to the fake FCM",
  flagsHelp: "--storage=sqlite,redis --count=50000 (pushes, each to its own registration) " +
    "--concurrency=64 (publishes outstanding) --warmup=5000 --inflight=64 (the app's maxInFlight)",
  async run({ flags, dir, logLevel, progress }) {
    const storages = flags.choices("storage", STORAGES, STORAGES);
    const count = flags.int("count", 50_000);
    const concurrency = flags.int("concurrency", 64);
    const warmup = Math.min(count, flags.int("warmup", 5000));
    const inflight = flags.int("inflight", 64);
    const rows: Row[] = [];
    const notes: string[] = [];
    const fcm = await startFakeFcmProcess();
    try {
      const keyFile = `${dir}/bench-fcm-service-account.json`;
      await Deno.writeTextFile(keyFile, JSON.stringify(fcm.serviceAccount));
      for (const kind of storages) {
        const storage = await openBenchStorage(kind, dir);
        try {
          progress(`push-inproc-fcm ${kind}: loading ${count} registrations`);
          const loadMs = await storage.loadUpTo(count, { service: "fcm" });
          // Each storage starts without a cached OAuth token: the server fetches its own.
          const tokensBefore = (await fcm.counters()).tokenRequests;
          const bench = await startBenchServer({
            dir,
            storageUrl: storage.url,
            wns: UNUSED_WNS,
            logLevel,
            apps: {
              [FCM_BENCH_APP]: {
                service: "fcm",
                serviceAccountFile: keyFile,
                baseUrl: fcm.url,
                coalesceMs: 0,
                maxInFlight: inflight,
              },
            },
          });
          try {
            const { run, before, after } = await measurePushes({
              label: `push-inproc-fcm ${kind}`,
              publish: bench.publish,
              publishes,
              warmup,
              count,
              concurrency,
              counters: () => fcm.counters(),
              progress,
            });
            rows.push({
              storage: kind,
              ...pushRow(run),
              "fcm sends": after.delivered - before.delivered,
              "token requests": after.tokenRequests - tokensBefore,
              "fake cpu us/push": (after.cpuUs - before.cpuUs) /
                Math.max(1, run.pushed + run.errors),
            });
            notes.push(`${kind}: ${count} registrations loaded in ${(loadMs / 1000).toFixed(1)} s`);
            if (run.firstError) notes.push(`${kind}: first error answer: ${run.firstError}`);
          } finally {
            await bench.close();
          }
        } finally {
          await storage.close();
        }
      }
    } finally {
      await fcm.close();
    }
    notes.push(
      "latency: from handing the publish IQ to the server to its IQ answer, which comes " +
        "after the fake FCM answered the POST",
      "cpu us/push: CPU time of the benchmark process (server and load generator) per push; " +
        "the fake FCM and redis-server run in their own processes (fake cpu us/push: the fake FCM's CPU per push)",
    );
    return { sizes: { storages, count, concurrency, warmup, inflight, logLevel }, rows, notes };
  },
};
