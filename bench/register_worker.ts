/**
 * The device side of the register scenario, in a Worker (a thread of its own, so that the
 * client's TLS handshakes do not take the server's event loop): `count` registrations,
 * `concurrency` at a time, each a new TLS connection, `set_channel_uri`,
 * `set_push_accounts` with three accounts, close.
 *
 * @module
 */

import { DeviceClient } from "../adapters/device/device_client.ts";
import { LatencyRecorder } from "./percentiles.ts";

/** What the worker is asked to do. */
export interface RegisterJob {
  readonly port: number;
  readonly caCert: string;
  readonly wnsUrl: string;
  /** Device numbers `first` to `first + count - 1`. */
  readonly first: number;
  readonly count: number;
  readonly concurrency: number;
}

/** What it reports. */
export interface RegisterReport {
  readonly seconds: number;
  readonly errors: number;
  readonly firstError: string | null;
  /** Milliseconds per registration, connection to close. */
  readonly latencies: Float64Array;
}

/** Registers devices as the job says. */
export async function runRegistrations(job: RegisterJob): Promise<RegisterReport> {
  const latencies = new LatencyRecorder();
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const registerOne = async (n: number) => {
    const deviceId = (0x10000000 + n).toString(16).padStart(64, "0");
    const client = await DeviceClient.connect({
      hostname: "127.0.0.1",
      port: job.port,
      caCerts: [job.caCert],
    });
    try {
      const channel = await client.request({
        version: 2,
        action: "set_channel_uri",
        device_id: deviceId,
        channel_uri: `${job.wnsUrl}/channel/r${n}?token=%2bregister${n}`,
      });
      if (channel.status !== 1) throw new Error(`set_channel_uri: ${JSON.stringify(channel)}`);
      const accounts = await client.request({
        version: 2,
        action: "set_push_accounts",
        device_id: deviceId,
        accounts: [0, 1, 2].map((k) => ({ account_id: `account-${n}-${k}` })),
      });
      if (accounts.status !== 1) throw new Error(`set_push_accounts: ${JSON.stringify(accounts)}`);
    } finally {
      client.close();
    }
  };
  const started = performance.now();
  const lane = async () => {
    while (next < job.count) {
      const n = job.first + next++;
      const t = performance.now();
      try {
        await registerOne(n);
        latencies.add(performance.now() - t);
      } catch (error) {
        errors++;
        firstError ??= String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(job.concurrency, job.count) }, lane));
  return {
    seconds: (performance.now() - started) / 1000,
    errors,
    firstError,
    latencies: latencies.values(),
  };
}

// As a Worker: one job per message, one report back.
// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
if (typeof scope.WorkerGlobalScope !== "undefined" && scope instanceof scope.WorkerGlobalScope) {
  scope.onmessage = async (event: MessageEvent<RegisterJob>) => {
    const report = await runRegistrations(event.data);
    scope.postMessage(report, [report.latencies.buffer]);
  };
}
