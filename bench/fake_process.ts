/**
 * A fake push service in a process of its own, so that its CPU does not count as the
 * sender's. Both halves of the conversation: the child announces itself with one JSON line
 * on stdout, then answers `stats` with a JSON line and stops at `quit` or the end of stdin.
 *
 * @module
 */

import process from "node:process";

/** What every fake adds to its counters: its process's CPU time so far (user + system). */
export interface FakeProcessCpu {
  readonly cpuUs: number;
}

/**
 * The child's half: prints `hello`, answers `stats` with `stats()` and {@link FakeProcessCpu},
 * and on `quit` or the end of stdin calls `close` and exits.
 */
export async function serveOverStdio(
  hello: unknown,
  stats: () => unknown,
  close: () => Promise<void>,
): Promise<never> {
  const encoder = new TextEncoder();
  const say = (value: unknown) =>
    Deno.stdout.writeSync(encoder.encode(JSON.stringify(value) + "\n"));
  say(hello);
  for await (const command of lines(Deno.stdin.readable)) {
    if (command.trim() === "stats") {
      const { user, system } = process.cpuUsage();
      say({ ...stats() as object, cpuUs: user + system });
    } else if (command.trim() === "quit") break;
  }
  await close();
  Deno.exit(0);
}

/** The parent's half: a running fake process. */
export interface FakeProcess<H> {
  /** What the child announced (where it listens, what it expects). */
  readonly hello: H;
  /** The child's counters, asked for now. */
  stats<C = Record<string, number>>(): Promise<C>;
  /** Stops the child (killed if it has not ended 5 s after `quit`). Idempotent. */
  close(): Promise<void>;
}

/**
 * Runs `deno run <args>` and waits for its announcement. `name` says which fake it is in
 * errors.
 */
export async function spawnFakeProcess<H>(
  args: readonly string[],
  name: string,
): Promise<FakeProcess<H>> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const output = lines(child.stdout);
  const readJson = async <T>(): Promise<T> => {
    const line = await output.next();
    if (line.done) throw new Error(`the ${name} process ended`);
    return JSON.parse(line.value);
  };
  const encoder = new TextEncoder();
  const hello = await readJson<H>();
  let closed: Promise<void> | null = null;
  return {
    hello,
    async stats<C>() {
      await writer.write(encoder.encode("stats\n"));
      return await readJson<C>();
    },
    close() {
      closed ??= (async () => {
        // Either may fail when the child is already gone (Deno 2.9.6's node:http2 server
        // can abort when a client disconnects).
        await writer.write(encoder.encode("quit\n")).catch(() => {});
        await writer.close().catch(() => {});
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await child.status;
        clearTimeout(timer);
        await output.return(undefined);
      })();
      return closed;
    },
  };
}

/** The lines of a byte stream, without their line ends. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    yield* parts;
  }
}
