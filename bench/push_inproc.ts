/**
 * push-inproc: publishes handed to the running server's XMPP side in process (the path the
 * component link takes after parsing: publish parsing, the publish use case, the store
 * lookup, the delivery pipeline, an HTTP POST to the fake WNS in another process, the IQ
 * answer), as fast as the server takes them. Every publish goes to its own device and
 * account, with coalescing off, so every one is a WNS request.
 *
 * @module
 */

import { startFakeWnsProcess } from "./fake_wns.ts";
import { benchPublish, openBenchStorage, startBenchServer, type StorageKind } from "./fixtures.ts";
import { closedLoop, type Publishes, type PushRun, type SendPublish } from "./push_driver.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";

export const STORAGES: readonly StorageKind[] = ["sqlite", "redis"];

/** The figures of a push run, as a table row. */
export function pushRow(run: PushRun): Row {
  return {
    pushes: run.pushed,
    errors: run.errors,
    "pushes/s": run.pushesPerSecond,
    "p50 ms": run.latency.p50,
    "p90 ms": run.latency.p90,
    "p99 ms": run.latency.p99,
    "max ms": run.latency.max,
    "cpu us/push": run.cpuUsPerPush,
  };
}

/** Publishes for registrations `from` to `to - 1`. */
export function publishes(from: number, to: number): Publishes {
  return { count: to - from, make: (k) => benchPublish(from + k) };
}

/** What {@link measurePushes} measures: a push run and the fake's counters around it. */
export interface MeasuredPushes<C> {
  readonly run: PushRun;
  readonly before: C;
  readonly after: C;
}

/**
 * A warm-up of `warmup` pushes, then `count` pushes measured with `concurrency` publishes
 * outstanding, the fake's counters read just before and after the measured run.
 */
export async function measurePushes<C>(options: {
  readonly label: string;
  readonly publish: SendPublish;
  readonly publishes: (from: number, to: number) => Publishes;
  readonly warmup: number;
  readonly count: number;
  readonly concurrency: number;
  readonly counters: () => Promise<C>;
  readonly progress: (line: string) => void;
}): Promise<MeasuredPushes<C>> {
  const { label, publish, warmup, count, concurrency, progress } = options;
  progress(`${label}: warming up with ${warmup} pushes`);
  await closedLoop(publish, options.publishes(0, warmup), concurrency);
  const iqs = options.publishes(0, count);
  const before = await options.counters();
  progress(`${label}: ${count} pushes, ${concurrency} outstanding`);
  const run = await closedLoop(publish, iqs, concurrency);
  const after = await options.counters();
  return { run, before, after };
}

export const pushInproc: Scenario = {
  name: "push-inproc",
  summary: "publishes handed to the server in process -> store -> WNS POST to the fake WNS",
  flagsHelp:
    "--storage=sqlite,redis --count=50000 (pushes, each to its own device) --concurrency=64 " +
    "(publishes outstanding) --warmup=5000",
  async run({ flags, dir, logLevel, progress }) {
    const storages = flags.choices("storage", STORAGES, STORAGES);
    const count = flags.int("count", 50_000);
    const concurrency = flags.int("concurrency", 64);
    const warmup = Math.min(count, flags.int("warmup", 5000));
    const rows: Row[] = [];
    const notes: string[] = [];
    const wns = await startFakeWnsProcess();
    try {
      for (const kind of storages) {
        const storage = await openBenchStorage(kind, dir);
        try {
          progress(`push-inproc ${kind}: loading ${count} registrations`);
          await storage.loadUpTo(count, { service: "wns", url: wns.url });
          const bench = await startBenchServer({ dir, storageUrl: storage.url, wns, logLevel });
          try {
            const { run, before, after } = await measurePushes({
              label: `push-inproc ${kind}`,
              publish: bench.publish,
              publishes,
              warmup,
              count,
              concurrency,
              counters: () => wns.counters(),
              progress,
            });
            rows.push({
              storage: kind,
              ...pushRow(run),
              "wns posts": after.pushes - before.pushes,
              "fake cpu us/push": (after.cpuUs - before.cpuUs) /
                Math.max(1, run.pushed + run.errors),
            });
            if (run.firstError) notes.push(`${kind}: first error answer: ${run.firstError}`);
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
      "latency: from handing the publish IQ to the server to its IQ answer, which comes " +
        "after the fake WNS answered the POST",
      "cpu us/push: CPU time of the benchmark process (server and load generator) per push; " +
        "the fake WNS and redis-server run in their own processes (fake cpu us/push: the fake WNS's CPU per push)",
    );
    return { sizes: { storages, count, concurrency, warmup, logLevel }, rows, notes };
  },
};
