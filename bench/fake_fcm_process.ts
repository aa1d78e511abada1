/**
 * The fake FCM (token endpoint and send endpoint, counters only) in a process of its own, so
 * that its CPU does not count as the sender's: `deno run bench/fake_fcm_process.ts` is the
 * child; {@link startFakeFcmProcess} the parent's half.
 *
 * @module
 */

import { startFakeFcm } from "../adapters/push/fcm/fake_fcm_server.ts";
import type { ServiceAccountJson } from "../adapters/push/fcm/throwaway_service_account.ts";
import { type FakeProcessCpu, serveOverStdio, spawnFakeProcess } from "./fake_process.ts";

/** What the child announces: its base URL and a key file whose `token_uri` points at it. */
export interface FakeFcmHello {
  readonly url: string;
  readonly serviceAccount: ServiceAccountJson;
}

/** The fake's counters. */
export interface FakeFcmProcessCounters extends FakeProcessCpu {
  readonly sends: number;
  readonly delivered: number;
  readonly tokenRequests: number;
  readonly tokensIssued: number;
}

/** A running fake FCM process. */
export interface FakeFcmProcess extends FakeFcmHello {
  counters(): Promise<FakeFcmProcessCounters>;
  close(): Promise<void>;
}

/** Starts the fake FCM in a child process, serving project `projectId`. */
export async function startFakeFcmProcess(projectId = "bench-project"): Promise<FakeFcmProcess> {
  const child = await spawnFakeProcess<FakeFcmHello>(
    ["--allow-net", import.meta.filename!, projectId],
    "fake FCM",
  );
  return {
    ...child.hello,
    counters: () => child.stats<FakeFcmProcessCounters>(),
    close: () => child.close(),
  };
}

if (import.meta.main) {
  const fake = await startFakeFcm({ record: false, projectId: Deno.args[0] ?? "bench-project" });
  await serveOverStdio(
    { url: fake.url, serviceAccount: fake.serviceAccount },
    () => fake.counters,
    () => fake.close(),
  );
}
