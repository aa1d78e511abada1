/**
 * Starts `fake_wns_process.ts` as a child process and talks to it.
 *
 * @module
 */

import type { FakeWnsCounters } from "../adapters/push/wns/fake_wns_server.ts";
import { type FakeProcessCpu, spawnFakeProcess } from "./fake_process.ts";

/** A fake WNS running in its own process. */
export interface FakeWnsProcess {
  readonly url: string;
  readonly tokenUrl: string;
  readonly packetId: string;
  readonly clientSecret: string;
  /** Its counters, asked for now. */
  counters(): Promise<FakeWnsCounters & FakeProcessCpu>;
  /** Stops the process. Idempotent. */
  close(): Promise<void>;
}

/** Spawns the fake WNS process and waits for its address. */
export async function startFakeWnsProcess(): Promise<FakeWnsProcess> {
  const fake = await spawnFakeProcess<
    Pick<FakeWnsProcess, "url" | "tokenUrl" | "packetId" | "clientSecret">
  >(["--allow-net", new URL("./fake_wns_process.ts", import.meta.url).pathname], "fake WNS");
  return {
    ...fake.hello,
    counters: () => fake.stats<FakeWnsCounters & FakeProcessCpu>(),
    close: () => fake.close(),
  };
}
