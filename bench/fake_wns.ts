/**
 * Starts `fake_wns_process.ts` as a child process and talks to it.
 *
 * @module
 */

import type { FakeWnsCounters } from "../adapters/push/wns/fake_wns_server.ts";

/** A fake WNS running in its own process. */
export interface FakeWnsProcess {
  readonly url: string;
  readonly tokenUrl: string;
  readonly packetId: string;
  readonly clientSecret: string;
  /** Its counters, asked for now. */
  counters(): Promise<FakeWnsCounters>;
  /** Stops the process. Idempotent. */
  close(): Promise<void>;
}

/** Spawns the fake WNS process and waits for its address. */
export async function startFakeWnsProcess(): Promise<FakeWnsProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", new URL("./fake_wns_process.ts", import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const readLine = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("the fake WNS process ended");
      buffered += value;
    }
    const end = buffered.indexOf("\n");
    const line = buffered.slice(0, end);
    buffered = buffered.slice(end + 1);
    return line;
  };
  const hello = JSON.parse(await readLine());
  let closed: Promise<void> | null = null;
  const encoder = new TextEncoder();
  return {
    url: hello.url,
    tokenUrl: hello.tokenUrl,
    packetId: hello.packetId,
    clientSecret: hello.clientSecret,
    async counters() {
      await writer.write(encoder.encode("stats\n"));
      return JSON.parse(await readLine());
    },
    close() {
      closed ??= (async () => {
        await writer.write(encoder.encode("quit\n")).catch(() => {});
        await writer.close().catch(() => {});
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await child.status;
        clearTimeout(timer);
        await lines.cancel().catch(() => {});
      })();
      return closed;
    },
  };
}
