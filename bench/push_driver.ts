/**
 * Load shapes for the push scenarios: closed loop (a fixed number of publishes outstanding,
 * the next sent as soon as one is answered: "as fast as it takes them") and open loop
 * (publishes sent on a fixed schedule whatever the answers).
 *
 * @module
 */

import process from "node:process";
import type { Element } from "@xmpp/xml";
import { LatencyRecorder, type LatencySummary } from "./percentiles.ts";

/** Sends one publish and resolves with its answer. */
export type SendPublish = (iq: Element) => Promise<Element>;

/** What a run of publishes came to. */
export interface PushRun {
  /** Publishes answered with a result. */
  readonly pushed: number;
  /** Publishes answered with an error (or that failed). */
  readonly errors: number;
  /** The first error answer, for the notes. */
  readonly firstError: string | null;
  readonly seconds: number;
  /** Results per second of wall time. */
  readonly pushesPerSecond: number;
  readonly latency: LatencySummary;
  /**
   * CPU time (user + system) of this whole process per publish, in microseconds: the
   * server and the in-process load generator, not the other processes. Less sensitive to
   * other load on the machine than the rate.
   */
  readonly cpuUsPerPush: number;
}

/** CPU time of this process so far, in microseconds. */
export function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/**
 * The publishes of a run: `count` of them, the `k`th made by `make(k)` when it is sent (a
 * user's server, too, has each stanza fresh from its parser; holding them all would make
 * the garbage collector scan them over and over).
 */
export interface Publishes {
  readonly count: number;
  make(k: number): Element;
}

/**
 * Sends the publishes keeping `concurrency` outstanding; latency is from hand-over to
 * answer.
 */
export async function closedLoop(
  send: SendPublish,
  iqs: Publishes,
  concurrency: number,
): Promise<PushRun> {
  const latencies = new LatencyRecorder();
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const cpuStarted = cpuMicros();
  const lane = async () => {
    while (next < iqs.count) {
      const iq = iqs.make(next++);
      const sent = performance.now();
      try {
        const answer = await send(iq);
        latencies.add(performance.now() - sent);
        if (answer.attrs.type !== "result") {
          errors++;
          firstError ??= answer.toString();
        }
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, iqs.count) }, lane));
  const seconds = (performance.now() - started) / 1000;
  return {
    pushed: iqs.count - errors,
    errors,
    firstError,
    seconds,
    pushesPerSecond: (iqs.count - errors) / seconds,
    latency: latencies.summary(),
    cpuUsPerPush: (cpuMicros() - cpuStarted) / iqs.count,
  };
}

/** What an open-loop run came to. */
export interface OpenLoopRun extends PushRun {
  readonly offeredPerSecond: number;
  /** Publishes sent per second, as the schedule was kept. */
  readonly sentPerSecond: number;
}

/**
 * Sends `iqs` at `rate` per second on a fixed schedule (publish `i` is due at `i / rate` s),
 * never waiting for answers. Latency is from the time a publish was due to its answer, so
 * a late send counts against the server (no coordinated omission).
 */
export async function openLoop(
  send: SendPublish,
  iqs: Publishes,
  rate: number,
): Promise<OpenLoopRun> {
  const latencies = new LatencyRecorder();
  const pending = new Set<Promise<void>>();
  let errors = 0;
  let firstError: string | null = null;
  const started = performance.now();
  const cpuStarted = cpuMicros();
  const interval = 1000 / rate;
  let sent = 0;
  while (sent < iqs.count) {
    const now = performance.now();
    const due = Math.min(iqs.count, Math.floor((now - started) / interval) + 1);
    for (; sent < due; sent++) {
      const dueAt = started + sent * interval;
      const work: Promise<void> = send(iqs.make(sent)).then((answer) => {
        latencies.add(performance.now() - dueAt);
        if (answer.attrs.type !== "result") {
          errors++;
          firstError ??= answer.toString();
        }
      }, (error) => {
        errors++;
        firstError ??= String(error);
      }).finally(() => pending.delete(work));
      pending.add(work);
    }
    if (sent < iqs.count) {
      // Sleep until the next publish is due (timers fire at 1 ms granularity at best).
      const wait = started + sent * interval - performance.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
    }
  }
  const sendSeconds = (performance.now() - started) / 1000;
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  return {
    pushed: iqs.count - errors,
    errors,
    firstError,
    seconds,
    offeredPerSecond: rate,
    sentPerSecond: iqs.count / sendSeconds,
    pushesPerSecond: (iqs.count - errors) / seconds,
    latency: latencies.summary(),
    cpuUsPerPush: (cpuMicros() - cpuStarted) / iqs.count,
  };
}
