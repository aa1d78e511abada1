/**
 * What the Web Push benchmarks share: the fake push service in a process of its own, and a
 * rate and CPU measurement of an operation run many times with many in flight.
 *
 * @module
 */

import type { SubscriptionJson } from "../adapters/push/webpush/subscription.ts";
import { type FakeProcess, spawnFakeProcess } from "./fake_process.ts";
import { cpuMicros } from "./push_driver.ts";

/** What the fake push service process says when it is up. */
export interface WebPushFakeHello {
  readonly origin: string;
  readonly cert: string;
  readonly subscriptions: SubscriptionJson[];
}

/**
 * Starts the fake push service (`webpush_fake_process.ts`) with `count` subscriptions bound
 * to `vapidKey`; `verify`: it decrypts and verifies everything, else checks headers only.
 */
export function startWebPushFakeProcess(
  vapidKey: string,
  count: number,
  verify: boolean,
): Promise<FakeProcess<WebPushFakeHello>> {
  return spawnFakeProcess<WebPushFakeHello>([
    "--allow-net",
    "--allow-env",
    "--allow-read",
    new URL("./webpush_fake_process.ts", import.meta.url).pathname,
    vapidKey,
    String(count),
    verify ? "verify" : "no-verify",
  ], "fake push service");
}

/** Runs `op` `total` times with `concurrency` in flight; rate and CPU µs per call. */
export async function throughput(
  total: number,
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<{ perSecond: number; cpuUs: number }> {
  let next = 0;
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) await op(next++);
  }));
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: total / seconds, cpuUs: (cpuMicros() - cpu0) / total };
}
