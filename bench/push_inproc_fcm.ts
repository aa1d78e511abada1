/**
 * push-inproc-fcm: push-inproc for an FCM app. Publishes handed to the running server's
 * XMPP side in process (publish parsing, the publish use case, the SQLite lookup, the shared
 * delivery policy, the FCM HTTP v1 sender on the kept-alive HTTP/1.1 client, an HTTP POST
 * to the fake FCM in another process, the IQ answer), as fast as the server takes them.
 * Every publish goes to its own registration (as the command door stores them), with
 * coalescing off, so every one is an FCM request. SQLite only (registrations are loaded
 * straight into its file).
 *
 * @module
 */

import { bulkLoadAppSqlite, withAppSqlite } from "./app_sqlite.ts";
import { startFakeFcmProcess } from "./fake_fcm_process.ts";
import { benchIds, startBenchServer, UNUSED_WNS } from "./fixtures.ts";
import { measurePushes, publishes, pushRow } from "./push_inproc.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";

const APP = "bench";

/** Registration `i`'s p2 device hash (40 hex) and FCM token. */
export function fcmBenchIds(i: number) {
  const ids = benchIds(i);
  const hash = i.toString(16).padStart(40, "0");
  return {
    ...ids,
    deviceId: `fcm:${APP}:${hash}`,
    hash,
    token: `bench${i}:APA91b${"x".repeat(134)}`,
  };
}

/**
 * Writes FCM registrations `0` to `count - 1` straight into the SQLite file, in the schema of
 * `adapters/storage/sqlite/sqlite_store.ts` (the target's service and app columns set).
 */
export function bulkLoadFcmSqlite(path: string, count: number): void {
  bulkLoadAppSqlite(path, count, "fcm", APP, (i) => {
    const ids = fcmBenchIds(i);
    return { ...ids, accountId: ids.hash };
  });
}

export const pushInprocFcm: Scenario = {
  name: "push-inproc-fcm",
  summary: "publishes handed to the server in process -> SQLite -> FCM POST to the fake FCM",
  flagsHelp: "--count=50000 (pushes, each to its own registration) --concurrency=64 " +
    "(publishes outstanding) --warmup=5000 --inflight=64 (the app's maxInFlight)",
  async run({ flags, dir, logLevel, progress }) {
    const count = flags.int("count", 50_000);
    const concurrency = flags.int("concurrency", 64);
    const warmup = Math.min(count, flags.int("warmup", 5000));
    const inflight = flags.int("inflight", 64);
    const rows: Row[] = [];
    const notes: string[] = [];
    const fcm = await startFakeFcmProcess();
    try {
      await withAppSqlite(dir, "bench-fcm", async (path) => {
        progress(`push-inproc-fcm: loading ${count} registrations`);
        bulkLoadFcmSqlite(path, count);
        const keyFile = `${dir}/bench-fcm-service-account.json`;
        await Deno.writeTextFile(keyFile, JSON.stringify(fcm.serviceAccount));
        const bench = await startBenchServer({
          dir,
          storageUrl: `sqlite:${path}`,
          wns: UNUSED_WNS,
          logLevel,
          apps: {
            [APP]: {
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
            label: "push-inproc-fcm",
            publish: bench.publish,
            publishes,
            warmup,
            count,
            concurrency,
            counters: () => fcm.counters(),
            progress,
          });
          rows.push({
            storage: "sqlite",
            ...pushRow(run),
            "fcm sends": after.delivered - before.delivered,
            "token requests": after.tokenRequests,
            "fake cpu us/push": (after.cpuUs - before.cpuUs) / Math.max(1, run.pushed + run.errors),
          });
          if (run.firstError) notes.push(`first error answer: ${run.firstError}`);
        } finally {
          await bench.close();
        }
      });
    } finally {
      await fcm.close();
    }
    notes.push(
      "latency: from handing the publish IQ to the server to its IQ answer, which comes " +
        "after the fake FCM answered the POST",
      "cpu us/push: CPU time of the benchmark process (server and load generator) per push; " +
        "the fake FCM runs in its own process (fake cpu us/push: its CPU per push)",
    );
    return { sizes: { count, concurrency, warmup, inflight, logLevel }, rows, notes };
  },
};
