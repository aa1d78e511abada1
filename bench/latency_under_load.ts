/**
 * latency-under-load: the push-inproc path at fixed offered rates, open loop (publishes go
 * out on schedule whatever the answers), to see latency below saturation and the rate
 * actually achieved.
 *
 * @module
 */

import { startFakeWnsProcess } from "./fake_wns.ts";
import { openBenchStorage, startBenchServer } from "./fixtures.ts";
import { closedLoop, openLoop } from "./push_driver.ts";
import { publishes, STORAGES } from "./push_inproc.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";

export const latencyUnderLoad: Scenario = {
  name: "latency-under-load",
  summary: "push-inproc at fixed offered rates, open loop: latency and achieved rate",
  flagsHelp: "--storage=sqlite,redis --rates=100,1000,5000 (pushes/s) --seconds=5 (per rate)",
  async run({ flags, dir, logLevel, progress }) {
    const storages = flags.choices("storage", STORAGES, STORAGES);
    const rates = flags.ints("rates", [100, 1000, 5000]);
    const seconds = flags.int("seconds", 5);
    const warmup = flags.int("warmup", 5000);
    const devices = Math.max(warmup, ...rates.map((rate) => rate * seconds));
    const rows: Row[] = [];
    const notes: string[] = [];
    const wns = await startFakeWnsProcess();
    try {
      for (const kind of storages) {
        const storage = await openBenchStorage(kind, dir);
        try {
          progress(`latency-under-load ${kind}: loading ${devices} registrations`);
          await storage.loadUpTo(devices, { service: "wns", url: wns.url });
          const bench = await startBenchServer({ dir, storageUrl: storage.url, wns, logLevel });
          try {
            await closedLoop(bench.publish, publishes(0, warmup), 64);
            for (const rate of rates) {
              progress(`latency-under-load ${kind}: ${rate}/s for ${seconds} s`);
              const run = await openLoop(bench.publish, publishes(0, rate * seconds), rate);
              rows.push({
                storage: kind,
                "offered/s": rate,
                "sent/s": run.sentPerSecond,
                "achieved/s": run.pushesPerSecond,
                pushes: run.pushed,
                errors: run.errors,
                "p50 ms": run.latency.p50,
                "p90 ms": run.latency.p90,
                "p99 ms": run.latency.p99,
                "max ms": run.latency.max,
              });
              if (run.firstError) notes.push(`${kind} ${rate}/s: first error: ${run.firstError}`);
            }
          } finally {
            await bench.close();
          }
        } finally {
          await storage.close();
        }
      }
    } finally {
      await wns.close();
    }
    notes.push(
      "latency: from the time each publish was due on the schedule to its IQ answer (a late " +
        "send counts); achieved/s: answered results over the run's wall time",
    );
    return { sizes: { storages, rates, seconds, warmup, logLevel }, rows, notes };
  },
};
