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

import { DatabaseSync } from "node:sqlite";
import { SqliteStore } from "../adapters/storage/sqlite/sqlite_store.ts";
import { startFakeFcmProcess } from "./fake_fcm_process.ts";
import { benchIds, benchPublish, startBenchServer } from "./fixtures.ts";
import { closedLoop, type Publishes } from "./push_driver.ts";
import { pushRow } from "./push_inproc.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";

const APP = "bench";
const WEEK_MS = 7 * 24 * 60 * 60 * 1000;

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
  const db = new DatabaseSync(path);
  try {
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = OFF");
    const device = db.prepare(
      `INSERT INTO devices (device_id, channel_uri, version, expires_at, push_service, push_app)
       VALUES (?, ?, 1, ?, 'fcm', ?)`,
    );
    const account = db.prepare(
      `INSERT INTO accounts (node, device_id, account_id, secret, position)
       VALUES (?, ?, ?, ?, 0)`,
    );
    const expiresAt = Date.now() + WEEK_MS;
    db.exec("BEGIN");
    for (let i = 0; i < count; i++) {
      const ids = fcmBenchIds(i);
      device.run(ids.deviceId, ids.token, expiresAt, APP);
      account.run(ids.node, ids.deviceId, ids.hash, ids.secret);
    }
    db.exec("COMMIT");
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

function publishes(from: number, to: number): Publishes {
  return { count: to - from, make: (k) => benchPublish(from + k) };
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
    const path = `${dir}/bench-fcm-${crypto.randomUUID().slice(0, 8)}.db`;
    try {
      await SqliteStore.open(path).close();
      progress(`push-inproc-fcm: loading ${count} registrations`);
      bulkLoadFcmSqlite(path, count);
      const keyFile = `${dir}/bench-fcm-service-account.json`;
      await Deno.writeTextFile(keyFile, JSON.stringify(fcm.serviceAccount));
      const bench = await startBenchServer({
        dir,
        storageUrl: `sqlite:${path}`,
        // Never asked: every registration is an FCM one.
        wns: {
          url: "http://127.0.0.1:9",
          tokenUrl: "http://127.0.0.1:9/token",
          packetId: "ms-app://s-1-15-2-bench",
          clientSecret: "unused",
        },
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
        progress(`push-inproc-fcm: warming up with ${warmup} pushes`);
        await closedLoop(bench.publish, publishes(0, warmup), concurrency);
        const before = await fcm.counters();
        progress(`push-inproc-fcm: ${count} pushes, ${concurrency} outstanding`);
        const run = await closedLoop(bench.publish, publishes(0, count), concurrency);
        const after = await fcm.counters();
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
    } finally {
      await fcm.close();
      for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
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
