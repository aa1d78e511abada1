/**
 * scale: push-inproc with 10k, 100k and 1M registered devices (SQLite and Redis, loaded in
 * bulk), to see whether per-push cost, memory or start-up grow with the registrations.
 * Pushes go to devices spread over the whole set. Start-up is the time to start the server
 * (open the store, purge expired registrations, listen) and answer the first push.
 *
 * @module
 */

import { startFakeWnsProcess } from "./fake_wns.ts";
import { benchPublish, openBenchStorage, startBenchServer } from "./fixtures.ts";
import { closedLoop } from "./push_driver.ts";
import { pushRow, STORAGES } from "./push_inproc.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";

/** `count` distinct registration numbers below `size`, spread over it (not sequential). */
export function spread(count: number, size: number): number[] {
  // Multiplying by a number coprime with size permutes 0..size-1.
  let step = 1_000_003;
  while (gcd(step, size) !== 1) step += 2;
  return Array.from({ length: Math.min(count, size) }, (_, k) => (k * step) % size);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

const MIB = 1024 * 1024;

export const scale: Scenario = {
  name: "scale",
  summary: "push-inproc at 10k, 100k, 1M registered devices: pushes/s, latency, RSS, start-up",
  flagsHelp: "--storage=sqlite,redis --sizes=10000,100000,1000000 --count=10000 --concurrency=64 " +
    "--warmup=20000 --repeats=3 (the median run is reported)",
  async run({ flags, dir, logLevel, progress }) {
    const storages = flags.choices("storage", STORAGES, STORAGES);
    const sizes = flags.ints("sizes", [10_000, 100_000, 1_000_000]).sort((a, b) => a - b);
    const count = Math.min(flags.int("count", 10_000), sizes[0]);
    const concurrency = flags.int("concurrency", 64);
    const warmup = flags.int("warmup", 20_000);
    const repeats = flags.int("repeats", 3);
    const rows: Row[] = [];
    const notes: string[] = [];
    const wns = await startFakeWnsProcess();
    try {
      for (const kind of storages) {
        const storage = await openBenchStorage(kind, dir);
        try {
          for (const size of sizes) {
            progress(`scale ${kind}: loading up to ${size} registrations`);
            const loadStarted = performance.now();
            const before = storage.loaded;
            await storage.loadUpTo(size, { service: "wns", url: wns.url });
            const loadSeconds = (performance.now() - loadStarted) / 1000;
            const started = performance.now();
            const bench = await startBenchServer({ dir, storageUrl: storage.url, wns, logLevel });
            try {
              const first = await bench.publish(benchPublish(size - 1));
              const startupMs = performance.now() - started;
              if (first.attrs.type !== "result") notes.push(`${kind} ${size}: first push failed`);
              const targets = spread(count, size);
              const iqs = { count: targets.length, make: (k: number) => benchPublish(targets[k]) };
              // The same warm-up at every size (JIT, caches, connections), then the median of
              // a few runs: one run of 10,000 pushes lasts under a second here.
              await closedLoop(
                bench.publish,
                { count: warmup, make: (k) => benchPublish(targets[k % targets.length]) },
                concurrency,
              );
              progress(`scale ${kind} ${size}: ${repeats} x ${iqs.count} pushes`);
              const runs = [];
              for (let r = 0; r < repeats; r++) {
                runs.push(await closedLoop(bench.publish, iqs, concurrency));
              }
              runs.sort((a, b) => a.pushesPerSecond - b.pushesPerSecond);
              const run = runs[Math.floor(runs.length / 2)];
              rows.push({
                storage: kind,
                devices: size,
                "load/s": (size - before) / loadSeconds,
                "startup ms": startupMs,
                ...pushRow(run),
                "rss MiB": Deno.memoryUsage().rss / MIB,
              });
              if (run.firstError) notes.push(`${kind} ${size}: first error: ${run.firstError}`);
            } finally {
              await bench.close();
            }
          }
        } finally {
          await storage.close();
        }
      }
    } finally {
      await wns.close();
    }
    notes.push(
      "rss: the whole benchmark process (server and load generator) after the run; Redis " +
        "data lives in redis-server, not here",
      "startup: startPushServer (open the store, purge, listen) plus the first push answered",
      "load/s: registrations written per second by the bulk loader (not the server)",
    );
    notes.push(`pushes/s, latency, cpu: the median of ${repeats} runs by pushes/s`);
    return {
      sizes: { storages, sizes, count, concurrency, warmup, repeats, logLevel },
      rows,
      notes,
    };
  },
};
