/**
 * register: devices registering over TLS as the UWPX client does (a new connection,
 * `set_channel_uri`, `set_push_accounts` with three accounts, close), many at once. The
 * device side runs in a Worker so that its TLS handshakes use the other core instead of
 * the server's event loop.
 *
 * @module
 */

import { testCertificate } from "../tests/support/tls_cert.ts";
import { openBenchStorage, startBenchServer } from "./fixtures.ts";
import { summarize } from "./percentiles.ts";
import { STORAGES } from "./push_inproc.ts";
import type { RegisterJob, RegisterReport } from "./register_worker.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";
import { JobWorker } from "./worker.ts";

/** Channel URIs point at this made-up WNS; registering never calls it. */
const WNS_URL = "http://127.0.0.1:9";

export const register: Scenario = {
  name: "register",
  summary: "devices registering over TLS (connect, set_channel_uri, 3 accounts, close)",
  flagsHelp: "--storage=sqlite,redis --count=5000 --concurrency=32 --warmup=500",
  async run({ flags, dir, logLevel, progress }) {
    const storages = flags.choices("storage", STORAGES, STORAGES);
    const count = flags.int("count", 5000);
    const concurrency = flags.int("concurrency", 32);
    const warmup = flags.int("warmup", 500);
    const rows: Row[] = [];
    const notes: string[] = [];
    const { cert } = await testCertificate();
    const wns = { url: WNS_URL, tokenUrl: `${WNS_URL}/token`, packetId: "x", clientSecret: "x" };
    for (const kind of storages) {
      const storage = await openBenchStorage(kind, dir);
      const worker = new JobWorker<RegisterJob, RegisterReport>(
        new URL("./register_worker.ts", import.meta.url),
      );
      try {
        const bench = await startBenchServer({ dir, storageUrl: storage.url, wns, logLevel });
        try {
          const port = bench.server.devices.addr.port;
          const job = { port, caCert: cert, wnsUrl: WNS_URL, concurrency };
          progress(`register ${kind}: warming up with ${warmup} registrations`);
          await worker.run({ ...job, first: 1_000_000_000, count: warmup });
          progress(`register ${kind}: ${count} registrations, ${concurrency} at once`);
          const report = await worker.run({ ...job, first: 0, count });
          const latency = summarize(report.latencies);
          rows.push({
            storage: kind,
            registrations: latency.count,
            errors: report.errors,
            "registrations/s": latency.count / report.seconds,
            "p50 ms": latency.p50,
            "p90 ms": latency.p90,
            "p99 ms": latency.p99,
            "max ms": latency.max,
          });
          if (report.firstError) notes.push(`${kind}: first error: ${report.firstError}`);
        } finally {
          await bench.close();
        }
      } finally {
        worker.terminate();
        await storage.close();
      }
    }
    notes.push(
      "load generator: a Worker thread in the benchmark process (the server keeps the main " +
        "thread); latency is per registration, from connect to close",
    );
    return { sizes: { storages, count, concurrency, warmup, logLevel }, rows, notes };
  },
};
