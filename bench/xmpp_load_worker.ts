/**
 * The user's side of the push-prosody scenario, in a Worker: one XMPP client session
 * (@xmpp/client, logged in to Prosody) sending publish IQs to the push component, a fixed
 * number outstanding, timing each round trip.
 *
 * @module
 */

import { client } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { benchPublish } from "./fixtures.ts";
import { LatencyRecorder } from "./percentiles.ts";

/** What the worker is asked to do. */
export interface XmppLoadJob {
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** The component's domain. */
  readonly to: string;
  /** Registrations `first` to `first + count - 1` get one publish each. */
  readonly first: number;
  readonly count: number;
  readonly concurrency: number;
}

/** What it reports. */
export interface XmppLoadReport {
  readonly seconds: number;
  readonly errors: number;
  readonly firstError: string | null;
  /** Round trips in milliseconds. */
  readonly latencies: Float64Array;
}

/** Logs in, sends the publishes, logs out. */
export async function runXmppLoad(job: XmppLoadJob): Promise<XmppLoadReport> {
  const xmpp = client({
    service: `xmpp://127.0.0.1:${job.port}`,
    domain: "localhost",
    username: job.username,
    password: job.password,
    resource: `bench-${crypto.randomUUID().slice(0, 8)}`,
  });
  xmpp.reconnect.stop();
  xmpp.on("error", () => {});
  await xmpp.start();
  // Built before timing: the users' server has its stanzas at hand too.
  const iqs: Element[] = Array.from({ length: job.count }, (_, k) => {
    const iq = benchPublish(job.first + k, job.to);
    delete iq.attrs.from; // The user's server stamps it.
    return iq;
  });
  const latencies = new LatencyRecorder();
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const lane = async () => {
    while (next < iqs.length) {
      const iq = iqs[next++];
      const sent = performance.now();
      try {
        await xmpp.iqCaller.request(iq, 30_000);
        latencies.add(performance.now() - sent);
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, iqs.length) }, lane));
  const seconds = (performance.now() - started) / 1000;
  await xmpp.stop().catch(() => {});
  return { seconds, errors, firstError, latencies: latencies.values() };
}

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
if (typeof scope.WorkerGlobalScope !== "undefined" && scope instanceof scope.WorkerGlobalScope) {
  scope.onmessage = async (event: MessageEvent<XmppLoadJob>) => {
    const report = await runXmppLoad(event.data);
    scope.postMessage(report, [report.latencies.buffer]);
  };
}
