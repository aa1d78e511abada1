/**
 * push-prosody: publishes through a real Prosody. A user logged in to Prosody (in a Worker)
 * sends publish IQs to the push component's domain; Prosody routes them to the push server
 * over XEP-0114 and routes the answers back. In the same run, the same load against a null
 * component (answering each IQ with an empty result at once) gives the ceiling that Prosody
 * and the load generator allow.
 *
 * @module
 */

import { component } from "@xmpp/component";
import { startProsody } from "../tests/support/prosody.ts";
import { NS_PUBSUB } from "../adapters/xmpp/publish_parser.ts";
import { startFakeWnsProcess } from "./fake_wns.ts";
import { BENCH_DOMAIN, openBenchStorage, startBenchServer } from "./fixtures.ts";
import { processesCpuMicros } from "./machine.ts";
import { summarize } from "./percentiles.ts";
import { cpuMicros } from "./push_driver.ts";
import { STORAGES } from "./push_inproc.ts";
import type { Scenario } from "./scenario.ts";
import type { Row } from "./table.ts";
import { JobWorker } from "./worker.ts";
import type { XmppLoadJob, XmppLoadReport } from "./xmpp_load_worker.ts";

const USER = "bench";
const PASSWORD = "bench-password";

/** A component that answers every publish with an empty result at once. */
async function startNullComponent(port: number, secret: string) {
  const xmpp = component({
    service: `xmpp://127.0.0.1:${port}`,
    domain: BENCH_DOMAIN,
    password: secret,
  });
  xmpp.reconnect.stop();
  xmpp.on("error", () => {});
  xmpp.iqCallee.set(NS_PUBSUB, "pubsub", () => true);
  await xmpp.start();
  return { stop: () => xmpp.stop().catch(() => {}) };
}

function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** CPU time so far of this process, Prosody and the fake WNS process, in microseconds. */
function cpuSnapshot() {
  return {
    bench: cpuMicros(),
    prosody: processesCpuMicros(/^lua\S* \S*prosody /),
    wns: processesCpuMicros(/fake_wns_process\.ts/),
  };
}

export const pushProsody: Scenario = {
  name: "push-prosody",
  summary: "publish IQs from a user through Prosody to the component; vs a null component",
  flagsHelp:
    "--storage=sqlite --count=20000 --concurrency=128 --warmup=2000 --rounds=5 (alternating " +
    "null component and push server, each on a fresh Prosody; best and median ratios)",
  async run({ flags, dir, logLevel, progress }) {
    const storages = flags.choices("storage", STORAGES, ["sqlite"]);
    const count = flags.int("count", 20_000);
    const concurrency = flags.int("concurrency", 128);
    const warmup = Math.min(count, flags.int("warmup", 2000));
    const rounds = flags.int("rounds", 5);
    const rows: Row[] = [];
    const notes: string[] = [];
    const secret = crypto.randomUUID();
    const prosody = await startProsody({
      componentDomain: BENCH_DOMAIN,
      componentSecret: secret,
      logLevel: "warn",
    });
    const wns = await startFakeWnsProcess();
    const worker = new JobWorker<XmppLoadJob, XmppLoadReport>(
      new URL("./xmpp_load_worker.ts", import.meta.url),
    );
    try {
      await prosody.registerUser(USER, PASSWORD);
      const job = {
        port: prosody.c2sPort,
        username: USER,
        password: PASSWORD,
        to: BENCH_DOMAIN,
        concurrency,
      };
      const measure = async (label: string): Promise<Row> => {
        await worker.run({ ...job, first: 0, count: warmup });
        progress(`push-prosody ${label}: ${count} publishes, ${concurrency} outstanding`);
        const cpuBefore = cpuSnapshot();
        const report = await worker.run({ ...job, first: 0, count });
        const cpu = cpuSnapshot();
        const latency = summarize(report.latencies);
        if (report.firstError) notes.push(`${label}: first error: ${report.firstError}`);
        return {
          publishes: latency.count,
          errors: report.errors,
          "pushes/s": latency.count / report.seconds,
          "p50 ms": latency.p50,
          "p90 ms": latency.p90,
          "p99 ms": latency.p99,
          "max ms": latency.max,
          "cpu us/publish: bench": (cpu.bench - cpuBefore.bench) / count,
          "prosody": (cpu.prosody - cpuBefore.prosody) / count,
          "fake wns": (cpu.wns - cpuBefore.wns) / count,
        };
      };

      // Rounds alternate the ceiling and ours, so that other load on the machine favours
      // neither, and every measurement starts with a freshly started Prosody: a Prosody that
      // has routed a few rounds already spends noticeably more CPU per stanza (seen here:
      // 270 to 400 µs per publish for the same null component), which would favour
      // whichever runs first.
      const storagesLoaded = [];
      for (const kind of storages) {
        const storage = await openBenchStorage(kind, dir);
        storagesLoaded.push(storage);
        await storage.loadUpTo(count, { service: "wns", url: wns.url });
      }
      const best = new Map<string, Row>();
      /** The null component's rate in each round, and each storage's ratio to it. */
      const ceilings: number[] = [];
      const ratios = new Map<string, number[]>();
      const keep = (key: string, row: Row) => {
        const previous = best.get(key);
        if (!previous || Number(row["pushes/s"]) > Number(previous["pushes/s"])) {
          best.set(key, row);
        }
      };
      try {
        for (let round = 1; round <= rounds; round++) {
          progress(`push-prosody round ${round}: null component (the ceiling)`);
          await prosody.restart();
          const nullComponent = await startNullComponent(prosody.componentPort, secret);
          try {
            const row = await measure("null component");
            ceilings.push(Number(row["pushes/s"]));
            rows.push({ round, component: "null", storage: null, ...row });
            keep("null", row);
          } finally {
            await nullComponent.stop();
          }
          for (const storage of storagesLoaded) {
            await prosody.restart();
            const bench = await startBenchServer({
              dir,
              storageUrl: storage.url,
              wns,
              logLevel,
              xmpp: { port: prosody.componentPort, secret },
            });
            try {
              await bench.server.link.whenOnline();
              const row = await measure(`push server (${storage.kind})`);
              const ratio = Number(row["pushes/s"]) / ceilings[ceilings.length - 1];
              ratios.set(storage.kind, [...(ratios.get(storage.kind) ?? []), ratio]);
              rows.push({
                round,
                component: "push server",
                storage: storage.kind,
                ...row,
                "of ceiling": ratio,
              });
              keep(storage.kind, row);
            } finally {
              await bench.close();
            }
          }
        }
      } finally {
        for (const storage of storagesLoaded) await storage.close();
      }
      const ceiling = Number(best.get("null")!["pushes/s"]);
      rows.push({ round: "best", component: "null", storage: null, ...best.get("null")! });
      for (const kind of storages) {
        const row = best.get(kind)!;
        rows.push({
          round: "best",
          component: "push server",
          storage: kind,
          ...row,
          "of ceiling": Number(row["pushes/s"]) / ceiling,
        });
        rows.push({
          round: "median",
          component: "push server",
          storage: kind,
          "of ceiling": median(ratios.get(kind) ?? []),
        });
      }
    } finally {
      worker.terminate();
      await wns.close();
      await prosody.stop();
    }
    notes.push(
      "load generator: one @xmpp/client session in a Worker thread; latency is the IQ round " +
        "trip user -> Prosody -> component -> Prosody -> user",
      "Prosody logs at warn; the push server's answers wait for the fake WNS (another process)",
      "of ceiling: per round, ours over that round's null component; best: best round over " +
        "best round; median: the median of the per-round ratios",
      "every measurement starts with a freshly restarted Prosody",
      "cpu us/publish: CPU time per publish of the benchmark process (the component, null or " +
        "ours, and the load generator), of Prosody, and of the fake WNS process (10 ms ticks)",
    );
    return { sizes: { storages, count, concurrency, warmup, rounds, logLevel }, rows, notes };
  },
};
