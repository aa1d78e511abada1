/**
 * The fake WNS in a process of its own, so that answering pushes does not take the event
 * loop of the server under test. Prints one JSON line on stdout with where it listens and
 * the credentials it expects:
 *
 * `{"url": ..., "tokenUrl": ..., "packetId": ..., "clientSecret": ...}`
 *
 * It records nothing (counters only) and accepts any channel under `/channel/.*`. Then it
 * reads commands from stdin, one per line: `stats` prints the counters as a JSON line;
 * `quit`, or the end of stdin, stops it.
 *
 * `deno run --allow-net bench/fake_wns_process.ts`
 *
 * @module
 */

import { startFakeWns } from "../adapters/push/wns/fake_wns_server.ts";

if (import.meta.main) {
  const fake = await startFakeWns({ record: false, acceptAnyChannel: true });
  const encoder = new TextEncoder();
  const say = (value: unknown) =>
    Deno.stdout.writeSync(encoder.encode(JSON.stringify(value) + "\n"));
  say({
    url: fake.url,
    tokenUrl: fake.tokenUrl,
    packetId: fake.packetId,
    clientSecret: fake.clientSecret,
  });
  let pending = "";
  readLoop: for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const command = line.trim();
      if (command === "stats") say(fake.counters);
      else if (command === "quit") break readLoop;
    }
  }
  await fake.close();
  Deno.exit(0);
}
