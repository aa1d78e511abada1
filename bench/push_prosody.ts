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
import { NS_PUBSUB } from "../adapters/xmpp/publish_stanza.ts";
import { startFakeWnsProcess } from "./fake_wns.ts";
import { BENCH_DOMAIN, openBenchStorage, startBenchServer } from "./fixtures.ts";
import { summarize } from "./percentiles.ts";
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

export const pushProsody: Scenario = {
  name: "push-prosody",
  summary: "publish IQs from a user through Prosody to the component; vs a null component",
  flagsHelp: "--storage=sqlite --count=20000 --concurrency=64 --warmup=2000",
  async run({ flags, dir, logLevel, progress }) {
    const storages = flags.choices("storage", STORAGES, ["sqlite"]);
    const count = flags.int("count", 20_000);
    const concurrency = flags.int("concurrency", 64);
    const warmup = Math.min(count, flags.int("warmup", 2000));
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
      const measure = async (label: string) => {
        await worker.run({ ...job, first: 0, count: warmup });
        progress(`push-prosody ${label}: ${count} publishes, ${concurrency} outstanding`);
        const report = await worker.run({ ...job, first: 0, count });
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
        };
      };

      progress("push-prosody: null component (the ceiling)");
      const nullComponent = await startNullComponent(prosody.componentPort, secret);
      let ceiling: Row;
      try {
        ceiling = await measure("null component");
      } finally {
        await nullComponent.stop();
      }
      rows.push({ component: "null (ceiling)", storage: null, ...ceiling, "of ceiling": 1 });

      for (const kind of storages) {
        const storage = await openBenchStorage(kind, dir);
        try {
          await storage.loadUpTo(count, wns.url);
          const bench = await startBenchServer({
            dir,
            storageUrl: storage.url,
            wns,
            logLevel,
            xmpp: { port: prosody.componentPort, secret },
          });
          try {
            await bench.server.link.whenOnline();
            const ours = await measure(`push server (${kind})`);
            rows.push({
              component: "push server",
              storage: kind,
              ...ours,
              "of ceiling": Number(ours["pushes/s"]) / Number(ceiling["pushes/s"]),
            });
          } finally {
            await bench.close();
          }
        } finally {
          await storage.close();
        }
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
    );
    return { sizes: { storages, count, concurrency, warmup, logLevel }, rows, notes };
  },
};
